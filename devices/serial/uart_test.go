package serial

import (
	"bytes"
	"testing"
)

type fakeLine struct{ levels []bool }

func (f *fakeLine) SetLevel(high bool) error { f.levels = append(f.levels, high); return nil }

func rd(u *UART, off uint64) uint8 {
	b := []byte{0}
	u.Read(off, b)
	return b[0]
}

func wr(u *UART, off uint64, v uint8) { u.Write(off, []byte{v}) }

func TestTransmit(t *testing.T) {
	var out bytes.Buffer
	u := New(&out, nil)
	for _, c := range []byte("hello\n") {
		if rd(u, 5)&lsrTHRE == 0 {
			t.Fatal("THR not empty before write")
		}
		wr(u, 0, c)
	}
	if out.String() != "hello\n" {
		t.Fatalf("out = %q", out.String())
	}
}

func TestInterrupts(t *testing.T) {
	tests := []struct {
		name    string
		ops     func(u *UART)
		wantIIR uint8
		wantLvl bool
	}{
		{"none", func(u *UART) {}, iirNone, false},
		{"thre on enable", func(u *UART) { wr(u, 4, mcrOUT2); wr(u, 1, ierTHRE) }, iirTHRE, true},
		{"thre needs OUT2", func(u *UART) { wr(u, 1, ierTHRE) }, iirTHRE, false},
		{"rda beats thre", func(u *UART) {
			wr(u, 4, mcrOUT2)
			wr(u, 1, ierTHRE|ierRDA)
			u.Receive([]byte("x"))
		}, iirRDA, true},
		{"rda cleared by read", func(u *UART) {
			wr(u, 4, mcrOUT2)
			wr(u, 1, ierRDA)
			u.Receive([]byte("x"))
			if got := rd(u, 0); got != 'x' {
				panic("bad byte")
			}
		}, iirNone, false},
		{"loopback", func(u *UART) {
			wr(u, 4, mcrLoop|mcrOUT2)
			wr(u, 1, ierRDA)
			wr(u, 0, 'z')
		}, iirRDA, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &fakeLine{}
			u := New(nil, l)
			tt.ops(u)
			lvl := len(l.levels) > 0 && l.levels[len(l.levels)-1]
			if lvl != tt.wantLvl {
				t.Errorf("line level = %v, want %v (history %v)", lvl, tt.wantLvl, l.levels)
			}
			if got := rd(u, 2) &^ iirFIFO; got != tt.wantIIR {
				t.Errorf("IIR = %#x, want %#x", got, tt.wantIIR)
			}
		})
	}
}

func TestTHREClearedByIIRRead(t *testing.T) {
	l := &fakeLine{}
	u := New(nil, l)
	wr(u, 4, mcrOUT2)
	wr(u, 1, ierTHRE)
	if rd(u, 2) != iirTHRE {
		t.Fatal("want THRE pending")
	}
	if rd(u, 2) != iirNone {
		t.Fatal("IIR read did not clear THRE")
	}
	if l.levels[len(l.levels)-1] {
		t.Fatal("line still high")
	}
	wr(u, 0, 'a')
	if rd(u, 2) != iirTHRE {
		t.Fatal("THR write did not raise THRE again")
	}
}

func TestDivisorLatchAndScratch(t *testing.T) {
	u := New(nil, nil)
	wr(u, 3, lcrDLAB)
	wr(u, 0, 0x01)
	wr(u, 1, 0x02)
	if rd(u, 0) != 1 || rd(u, 1) != 2 {
		t.Fatal("divisor latch not kept")
	}
	wr(u, 3, 0x03)
	if rd(u, 1) != 0 {
		t.Fatal("IER clobbered by DLM write")
	}
	wr(u, 7, 0x5a)
	if rd(u, 7) != 0x5a {
		t.Fatal("scratch")
	}
}

func TestOverrunAndBounds(t *testing.T) {
	u := New(nil, nil)
	u.Receive(make([]byte, rxLimit+10))
	if rd(u, 5)&lsrOE == 0 {
		t.Fatal("no overrun reported")
	}
	if rd(u, 5)&lsrOE != 0 {
		t.Fatal("overrun not cleared on LSR read")
	}
	// Out-of-range offsets and empty accesses are ignored.
	u.Read(99, make([]byte, 4))
	u.Write(99, []byte{1})
	u.Read(0, nil)
	u.Write(0, nil)
}

func FuzzUART(f *testing.F) {
	f.Add([]byte{0x04, 0x08, 0x01, 0x02, 0x00, 'a', 0x12, 0x00})
	f.Fuzz(func(t *testing.T, ops []byte) {
		u := New(nil, &fakeLine{})
		for i := 0; i+1 < len(ops); i += 2 {
			off := uint64(ops[i] & 0x0F)
			if ops[i]&0x10 != 0 {
				wr(u, off, ops[i+1])
			} else {
				rd(u, off)
			}
			if ops[i]&0x20 != 0 {
				u.Receive(ops[i+1 : i+2])
			}
		}
		if u.lsr&lsrTHRE == 0 {
			t.Fatal("THR never empty")
		}
	})
}
