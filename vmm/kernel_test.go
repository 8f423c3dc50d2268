package vmm

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// fakeBzImage returns a minimal image with a valid boot-protocol header:
// setupSects setup sectors, a protected-mode part of payload bytes.
func fakeBzImage(setupSects uint8, version uint16, xload uint16, payload int) []byte {
	setup := (int(setupSects) + 1) * 512
	b := make([]byte, setup+payload)
	b[hdrOffset] = setupSects
	binary.LittleEndian.PutUint32(b[0x1F4:], uint32(payload/16)) // syssize
	binary.LittleEndian.PutUint16(b[0x1FE:], 0xAA55)
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x206:], version)
	binary.LittleEndian.PutUint32(b[0x22C:], 0x7FFFFFFF) // initrd_addr_max
	binary.LittleEndian.PutUint16(b[0x236:], xload)
	binary.LittleEndian.PutUint32(b[0x238:], 2048) // cmdline_size
	binary.LittleEndian.PutUint32(b[0x260:], 16*MiB)
	return b
}

func TestParseKernel(t *testing.T) {
	good := fakeBzImage(4, 0x020F, xlfKernel64, 4096)
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"bzImage", good, ""},
		{"empty", nil, "too short"},
		{"truncated", good[:len(good)-100], "truncated bzImage"},
		{"not a kernel", make([]byte, 8192), "not a Linux bzImage"},
		{"old protocol", fakeBzImage(4, 0x0206, xlfKernel64, 4096), "older than 2.12"},
		{"32-bit only", fakeBzImage(4, 0x020F, 0, 4096), "no 64-bit entry"},
		{"bad ELF", []byte("\x7fELF\x02\x01\x01garbage"), "bad ELF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKernel(tt.data)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseKernel: %v", err)
				}
				if k.Format != BzImage {
					t.Fatalf("format %v", k.Format)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrBadKernel) {
				t.Fatalf("err = %v, want ErrBadKernel containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestInitrdPlacement(t *testing.T) {
	k, err := ParseKernel(fakeBzImage(4, 0x020F, xlfKernel64, 4096))
	if err != nil {
		t.Fatal(err)
	}
	l, _ := NewLayout(256 * MiB)
	tests := []struct {
		size    uint64
		wantErr bool
	}{
		{4 * KiB, false},
		{100 * MiB, false},
		{250 * MiB, true}, // collides with the kernel's 16 MiB footprint
		{1 << 40, true},
	}
	for _, tt := range tests {
		a, err := k.initrdPlacement(l, tt.size)
		if (err != nil) != tt.wantErr {
			t.Errorf("size %d: err = %v, wantErr %v", tt.size, err, tt.wantErr)
			continue
		}
		if err == nil && (a%(4*KiB) != 0 || a+tt.size > l.LowRAM || a < k.end) {
			t.Errorf("size %d: placed at %#x, outside [%#x, %#x)", tt.size, a, k.end, l.LowRAM)
		}
	}
}

func TestLayout(t *testing.T) {
	tests := []struct {
		mem           uint64
		low, high     uint64
		mmio64AtLeast uint64
	}{
		{512 * MiB, 512 * MiB, 0, mmio64Floor},
		{3 * GiB, 3 * GiB, 0, mmio64Floor},
		{8 * GiB, 3 * GiB, 5 * GiB, mmio64Floor},
		{100 * GiB, 3 * GiB, 97 * GiB, 101 * GiB},
	}
	for _, tt := range tests {
		l, err := NewLayout(tt.mem)
		if err != nil {
			t.Fatal(err)
		}
		if l.LowRAM != tt.low || l.HighRAM != tt.high || l.MMIO64 < tt.mmio64AtLeast || l.MMIO64%GiB != 0 {
			t.Errorf("NewLayout(%d) = %+v", tt.mem, l)
		}
		if l.MMIO64 < highRAMBase+l.HighRAM {
			t.Errorf("64-bit window %#x overlaps high RAM", l.MMIO64)
		}
		// RAM entries in the E820 map add up to the memory size and do not
		// overlap the 32-bit hole.
		var ram uint64
		for _, e := range l.E820() {
			if e.Type == e820RAM {
				ram += e.Size
				if e.Addr < 4*GiB && e.Addr+e.Size > LowRAMEnd {
					t.Errorf("RAM entry %+v overlaps the 32-bit hole", e)
				}
			}
		}
		if want := tt.mem - (kernelAddr - ebdaStart); ram != want {
			t.Errorf("mem %d: E820 RAM %d, want %d", tt.mem, ram, want)
		}
	}
	if _, err := NewLayout(4097); err == nil {
		t.Error("unaligned size accepted")
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"1G", GiB, true}, {"512M", 512 * MiB, true}, {"1536MiB", 1536 * MiB, true},
		{"4096", 4096, true}, {"2g", 2 * GiB, true}, {"", 0, false}, {"0", 0, false},
		{"-1G", 0, false}, {"1T", 0, false}, {"99999999999999999999G", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v", tt.in, got, err)
		}
	}
}

func FuzzParseKernel(f *testing.F) {
	f.Add(fakeBzImage(4, 0x020F, xlfKernel64, 4096))
	f.Add([]byte("\x7fELF\x02\x01\x01\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKernel(data)
		if err != nil {
			return
		}
		l, _ := NewLayout(256 * MiB)
		_, _ = k.initrdPlacement(l, 4096)
		if k.Format == BzImage && k.setupSize > len(data) {
			t.Fatal("setup beyond the image")
		}
	})
}
