package pci

import "testing"

// TestConfigIODecode checks configuration mechanism #1 address decoding:
// the Enable bit, bus/device/function/register fields, and byte and word
// accesses at 0xCFD–0xCFF. Addresses are written as raw CONFIG_ADDRESS
// values so the decoding is checked independently of ConfigAddress.
func TestConfigIODecode(t *testing.T) {
	r := newRig(t, 0, 0)
	if err := r.seg.Add(BDF{}, NewHostBridge()); err != nil {
		t.Fatal(err)
	}
	d := newTestDev(t, r.sender)
	if err := r.seg.Add(BDF{Device: 3}, d); err != nil {
		t.Fatal(err)
	}
	d.PutUint8(RegInterruptLine, 0x5a) // device view, to read back at 0x3c

	tests := []struct {
		name string
		addr uint32 // CONFIG_ADDRESS
		port uint64 // 0xCFC + k
		size int
		want uint32
	}{
		{"host bridge IDs", 0x8000_0000, 0xcfc, 4, 0x29c0_8086},
		{"device 3 IDs", 0x8000_1800, 0xcfc, 4, 0x0005_1b36},
		{"enable clear", 0x0000_1800, 0xcfc, 4, 0xffff_ffff},
		{"byte at CFD", 0x8000_1800, 0xcfd, 1, 0x1b},
		{"byte at CFF", 0x8000_1800, 0xcff, 1, 0x00},
		{"word at CFE", 0x8000_1800, 0xcfe, 2, 0x0005},
		{"word at CFD", 0x8000_1800, 0xcfd, 2, 0x051b},
		{"word at CFF crosses the DWORD", 0x8000_1800, 0xcff, 2, 0xffff},
		{"register 0x08 class/revision", 0x8000_1808, 0xcfc, 4, 0xff00_0000},
		{"register bits 1:0 ignored", 0x8000_180b, 0xcfc, 4, 0xff00_0000},
		{"reserved bits 30:24 ignored", 0xff00_1800, 0xcfc, 4, 0x0005_1b36},
		{"interrupt line/pin byte", 0x8000_183c, 0xcfc, 2, 0x015a},
		{"host bridge class", 0x8000_0008, 0xcfc, 4, 0x0600_0000},
		{"absent device 31", 0x8000_f800, 0xcfc, 4, 0xffff_ffff},
		{"absent function 3.1", 0x8000_1900, 0xcfc, 4, 0xffff_ffff},
		{"bus 1 outside the segment", 0x8001_1800, 0xcfc, 4, 0xffff_ffff},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r.io.Write(0xcf8, leBytes(tc.addr, 4))
			data := make([]byte, tc.size)
			r.io.Read(tc.port, data)
			if got := le(data); got != tc.want {
				t.Errorf("IN %#x size %d after CF8=%#08x: got %#x, want %#x", tc.port, tc.size, tc.addr, got, tc.want)
			}
			if got := r.cio.ConfigAddressRegister(); got != tc.addr {
				t.Errorf("CONFIG_ADDRESS latched %#x, want %#x", got, tc.addr)
			}
		})
	}
}

// TestConfigIOWrites checks CFC writes of each width land in the right
// bytes, and that writes with Enable clear do nothing.
func TestConfigIOWrites(t *testing.T) {
	r := newRig(t, 0, 0)
	d := newTestDev(t, r.sender)
	b := BDF{Device: 3}
	if err := r.seg.Add(b, d); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		addr uint32
		port uint64
		val  uint32
		size int
		line uint8 // Interrupt Line afterwards
		cls  uint8 // Cache Line Size afterwards
	}{
		{"byte at CFC to 0x3C", 0x8000_183c, 0xcfc, 0x11, 1, 0x11, 0},
		{"dword at 0x3C: pin is read-only", 0x8000_183c, 0xcfc, 0xffff_ff22, 4, 0x22, 0},
		{"byte at CFC to 0x0C", 0x8000_180c, 0xcfc, 0x10, 1, 0x22, 0x10},
		{"word at CFE to 0x0C: latency/header type read-only", 0x8000_180c, 0xcfe, 0xffff, 2, 0x22, 0x10},
		{"enable clear ignored", 0x0000_183c, 0xcfc, 0x99, 1, 0x22, 0x10},
		{"absent function ignored", 0x8000_193c, 0xcfc, 0x99, 1, 0x22, 0x10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r.io.Write(0xcf8, leBytes(tc.addr, 4))
			r.io.Write(tc.port, leBytes(tc.val, tc.size))
			if got := d.Uint8(RegInterruptLine); got != tc.line {
				t.Errorf("Interrupt Line = %#x, want %#x", got, tc.line)
			}
			if got := d.Uint8(RegCacheLineSize); got != tc.cls {
				t.Errorf("Cache Line Size = %#x, want %#x", got, tc.cls)
			}
			if got := d.Uint8(RegInterruptPin); got != 1 {
				t.Errorf("Interrupt Pin changed to %#x", got)
			}
			if got := d.Uint8(RegHeaderType); got != 0 {
				t.Errorf("Header Type changed to %#x", got)
			}
		})
	}
}

// TestConfigIOAddressPort checks the CONFIG_ADDRESS port itself: only a
// DWORD write latches it, partial reads return its bytes, and 0xCF9 is the
// reset control register.
func TestConfigIOAddressPort(t *testing.T) {
	r := newRig(t, 0, 0)
	r.io.Write(0xcf8, leBytes(0x8000_1234, 4))
	tests := []struct {
		name  string
		write func()
		port  uint64
		size  int
		want  uint32
	}{
		{"dword read", nil, 0xcf8, 4, 0x8000_1234},
		{"byte read at CF8", nil, 0xcf8, 1, 0x34},
		{"word read at CFA", nil, 0xcfa, 2, 0x8000},
		{"byte write at CF8 ignored", func() { r.io.Write(0xcf8, []byte{0xff}) }, 0xcf8, 4, 0x8000_1234},
		{"word write at CFA ignored", func() { r.io.Write(0xcfa, []byte{0xff, 0xff}) }, 0xcf8, 4, 0x8000_1234},
		{"reset control byte write", func() { r.io.Write(0xcf9, []byte{0x06}) }, 0xcf9, 1, 0x06},
		{"reset control does not touch the latch", nil, 0xcf8, 4, 0x8000_1234},
		{"word read at CFB crosses into data port", nil, 0xcfb, 2, 0xffff},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.write != nil {
				tc.write()
			}
			data := make([]byte, tc.size)
			r.io.Read(tc.port, data)
			if got := le(data); got != tc.want {
				t.Errorf("IN %#x size %d = %#x, want %#x", tc.port, tc.size, got, tc.want)
			}
		})
	}
	if len(r.resets) != 1 || r.resets[0] != 0x06 {
		t.Errorf("reset control callback got %#x, want [0x6]", r.resets)
	}
}
