package pci

import "testing"

func TestAddBARValidation(t *testing.T) {
	h := &barHandler{}
	tests := []struct {
		name  string
		index int
		bar   BAR
		ok    bool
	}{
		{"io 4", 0, BAR{Type: BARIO, Size: 4, Handler: h}, true},
		{"io 2 too small", 0, BAR{Type: BARIO, Size: 2, Handler: h}, false},
		{"io 512 too large", 0, BAR{Type: BARIO, Size: 512, Handler: h}, false},
		{"io prefetchable", 0, BAR{Type: BARIO, Size: 16, Prefetchable: true, Handler: h}, false},
		{"mem32 16", 5, BAR{Type: BARMem32, Size: 16, Handler: h}, true},
		{"mem32 8 too small", 0, BAR{Type: BARMem32, Size: 8, Handler: h}, false},
		{"mem32 2 GiB", 0, BAR{Type: BARMem32, Size: 1 << 31, Handler: h}, true},
		{"mem32 4 GiB", 0, BAR{Type: BARMem32, Size: 1 << 32, Handler: h}, false},
		{"mem32 not a power of two", 0, BAR{Type: BARMem32, Size: 0x3000, Handler: h}, false},
		{"mem64 at 4", 4, BAR{Type: BARMem64, Size: 1 << 40, Handler: h}, true},
		{"mem64 at 5", 5, BAR{Type: BARMem64, Size: 4096, Handler: h}, false},
		{"mem64 2^63", 0, BAR{Type: BARMem64, Size: 1 << 63, Handler: h}, true},
		{"no handler", 0, BAR{Type: BARMem32, Size: 4096}, false},
		{"no type", 0, BAR{Size: 4096, Handler: h}, false},
		{"bad type", 0, BAR{Type: 9, Size: 4096, Handler: h}, false},
		{"negative index", -1, BAR{Type: BARMem32, Size: 4096, Handler: h}, false},
		{"index 6", 6, BAR{Type: BARMem32, Size: 4096, Handler: h}, false},
		{"size 0", 0, BAR{Type: BARMem32, Handler: h}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs, _ := NewConfigSpace(Header{VendorID: 1})
			err := cs.AddBAR(tc.index, tc.bar)
			if (err == nil) != tc.ok {
				t.Fatalf("AddBAR(%d, %+v) = %v, want ok=%v", tc.index, tc.bar, err, tc.ok)
			}
			if _, ok := cs.BAR(tc.index); ok != tc.ok {
				t.Errorf("BAR(%d) declared = %v", tc.index, ok)
			}
		})
	}
}

func TestAddBAROverlap(t *testing.T) {
	h := &barHandler{}
	cs, _ := NewConfigSpace(Header{VendorID: 1})
	if err := cs.AddBAR(2, BAR{Type: BARMem64, Size: 4096, Handler: h}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		index int
		bar   BAR
	}{
		{2, BAR{Type: BARMem32, Size: 4096, Handler: h}},
		{3, BAR{Type: BARMem32, Size: 4096, Handler: h}}, // upper half of BAR 2
		{1, BAR{Type: BARMem64, Size: 4096, Handler: h}}, // would take 2
	} {
		if err := cs.AddBAR(tc.index, tc.bar); err == nil {
			t.Errorf("AddBAR(%d) over BAR 2/3 succeeded", tc.index)
		}
	}
	if _, ok := cs.BAR(3); ok {
		t.Error("upper half reported as a BAR")
	}
}

func TestSetBARAddress(t *testing.T) {
	h := &barHandler{}
	cs, _ := NewConfigSpace(Header{VendorID: 1})
	for _, d := range []struct {
		i int
		b BAR
	}{
		{0, BAR{Type: BARIO, Size: 16, Handler: h}},
		{1, BAR{Type: BARMem32, Size: 4096, Prefetchable: true, Handler: h}},
		{2, BAR{Type: BARMem64, Size: 1 << 20, Handler: h}},
	} {
		if err := cs.AddBAR(d.i, d.b); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		index  int
		addr   uint64
		ok     bool
		reg    int
		regVal uint32
	}{
		{"io", 0, 0x1230, true, 0x10, 0x1231},
		{"io unaligned", 0, 0x1238, false, 0x10, 0x1231},
		{"io past 64 KiB", 0, 0x10000, false, 0x10, 0x1231},
		{"mem32 keeps type bits", 1, 0xfeb0_0000, true, 0x14, 0xfeb0_0008},
		{"mem32 above 4 GiB", 1, 0x1_0000_0000, false, 0x14, 0xfeb0_0008},
		{"mem64 low", 2, 0x12_3450_0000, true, 0x18, 0x3450_0004},
		{"mem64 high", 2, 0x12_3450_0000, true, 0x1c, 0x12},
		{"undeclared", 4, 0x1000, false, 0x20, 0},
		{"mem64 wrapping", 2, 0xffff_ffff_fff0_0000, true, 0x1c, 0xffff_ffff},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := cs.SetBARAddress(tc.index, tc.addr)
			if (err == nil) != tc.ok {
				t.Errorf("SetBARAddress(%d, %#x) = %v, want ok=%v", tc.index, tc.addr, err, tc.ok)
			}
			if got := cs.Uint32(tc.reg); got != tc.regVal {
				t.Errorf("register %#x = %#x, want %#x", tc.reg, got, tc.regVal)
			}
			if tc.ok && cs.BARAddress(tc.index) != tc.addr {
				t.Errorf("BARAddress(%d) = %#x, want %#x", tc.index, cs.BARAddress(tc.index), tc.addr)
			}
		})
	}
}

func TestUsableBAR(t *testing.T) {
	tests := []struct {
		t          BARType
		base, size uint64
		ok         bool
	}{
		{BARIO, 0, 16, false},
		{BARIO, 0x1000, 16, true},
		{BARIO, 0xfff0, 16, false}, // all-ones sizing pattern
		{BARIO, 0xffe0, 16, true},
		{BARMem32, 0xffff_f000, 0x1000, false},
		{BARMem32, 0xfebf_f000, 0x1000, true},
		{BARMem64, 0xffff_ffff_ffff_f000, 0x1000, false},
		{BARMem64, 0xffff_ffff_0000_0000, 0x1000, true},
		{BARMem64, 0x1_0000_0000, 0x1_0000_0000, true},
	}
	for _, tc := range tests {
		if got := usableBAR(tc.t, tc.base, tc.size); got != tc.ok {
			t.Errorf("usableBAR(%v, %#x, %#x) = %v, want %v", tc.t, tc.base, tc.size, got, tc.ok)
		}
	}
}
