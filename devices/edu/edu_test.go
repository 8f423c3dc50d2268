package edu

import (
	"encoding/binary"
	"testing"

	"github.com/govmm/govmm/devices/irq"
	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/memory"
)

func w64(r regs, off, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	r.Write(off, b[:])
}

func r64(r regs, off uint64) uint64 {
	var b [8]byte
	r.Read(off, b[:])
	return binary.LittleEndian.Uint64(b[:])
}

type msiLog struct{ n int }

func (m *msiLog) SendMSI(irq.MSI) error { m.n++; return nil }

// offsetAS translates every IOVA to IOVA+off and faults above limit.
type offsetAS struct{ off, limit uint64 }

func (a offsetAS) Translate(iova, n uint64, acc dma.Access) (uint64, uint64, error) {
	if iova >= a.limit {
		return 0, 0, &dma.Fault{IOVA: iova, Access: acc, Reason: "not mapped"}
	}
	return iova + a.off, min(n, a.limit-iova), nil
}

func TestDMA(t *testing.T) {
	ram := make([]byte, 1<<20)
	mem, _ := memory.New(memory.Region{GPA: 0, Data: ram})
	tests := []struct {
		name    string
		as      dma.AddressSpace
		src     uint64
		wantErr uint64
		wantAt  uint64 // GPA where the data must land, when no error
	}{
		{"identity", dma.Identity{}, 0x1000, 0, 0x3000},
		{"translated", offsetAS{off: 0x8000, limit: 0x10000}, 0x1000, 0, 0xB000},
		{"fault", offsetAS{off: 0, limit: 0x800}, 0x1000, 1, 0},
		{"outside RAM", dma.Identity{}, 1 << 30, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clear(ram)
			d, err := New(mem, tt.as, &msiLog{})
			if err != nil {
				t.Fatal(err)
			}
			r := regs{d}
			if r64(r, 0)&0xFFFFFFFF != ident {
				t.Fatal("identification")
			}
			gsrc, _, err := tt.as.Translate(tt.src, 1, dma.Read)
			if err == nil && gsrc+8 <= uint64(len(ram)) {
				copy(ram[gsrc:], "edu-dma!")
			}
			// guest -> buffer, then buffer -> guest at src+0x2000
			w64(r, 0x80, tt.src)
			w64(r, 0x88, bufBase)
			w64(r, 0x90, 8)
			w64(r, 0x98, cmdStart)
			if got := r64(r, 0xA0); got != tt.wantErr {
				t.Fatalf("DMA error = %d, want %d", got, tt.wantErr)
			}
			if tt.wantErr != 0 {
				return
			}
			w64(r, 0x80, bufBase)
			w64(r, 0x88, tt.src+0x2000)
			w64(r, 0x98, cmdStart|cmdToGuest)
			if r64(r, 0xA0) != 0 || string(ram[tt.wantAt:tt.wantAt+8]) != "edu-dma!" {
				t.Fatalf("data not at %#x: %q", tt.wantAt, ram[tt.wantAt:tt.wantAt+8])
			}
			if r64(r, 0x98)&cmdStart != 0 {
				t.Fatal("start bit still set")
			}
		})
	}
}

func TestRegisters(t *testing.T) {
	mem, _ := memory.New(memory.Region{GPA: 0, Data: make([]byte, 4096)})
	d, _ := New(mem, dma.Identity{}, &msiLog{})
	r := regs{d}
	w64(r, 0x04, 0x12345678)
	if got := uint32(r64(r, 0x04)); got != ^uint32(0x12345678) {
		t.Fatalf("liveness = %#x", got)
	}
	w64(r, 0x60, 0x5)
	w64(r, 0x64, 0x1)
	if got := r64(r, 0x24); got != 0x4 {
		t.Fatalf("interrupt status = %#x", got)
	}
	// Bad count and device-side addresses outside the buffer fail cleanly.
	for _, c := range []struct{ src, dst, n uint64 }{{0, bufBase, 0}, {0, bufBase, bufSize + 1}, {0, 0x10, 8}, {0, bufBase + bufSize - 4, 8}} {
		w64(r, 0x80, c.src)
		w64(r, 0x88, c.dst)
		w64(r, 0x90, c.n)
		w64(r, 0x98, cmdStart)
		if r64(r, 0xA0) != 1 {
			t.Errorf("transfer %+v did not fail", c)
		}
	}
	r.Read(0xFFFFF, make([]byte, 8)) // unknown register
	r.Write(0xFFFFF, []byte{1})
}

func FuzzRegisters(f *testing.F) {
	f.Add(uint64(0x98), uint64(1), uint64(0x80), uint64(0x40000))
	f.Fuzz(func(t *testing.T, o1, v1, o2, v2 uint64) {
		mem, _ := memory.New(memory.Region{GPA: 0, Data: make([]byte, 8192)})
		d, _ := New(mem, dma.Identity{}, &msiLog{})
		r := regs{d}
		for _, o := range []struct{ off, v uint64 }{{o1 % barSize, v1}, {o2 % barSize, v2}, {0x90, v1 % 5000}, {0x98, 1}} {
			w64(r, o.off, o.v)
			r64(r, o.off)
		}
	})
}
