package vtd

import (
	"errors"
	"fmt"
	"testing"

	"github.com/govmm/govmm/dma"
)

// translationEnv builds an enabled unit with one device (00:03.0) in
// domain 5 using a levels-level table, and returns the env, root and pgd.
func translationEnv(t *testing.T, cfg Config, levels int) (*testEnv, uint64, uint64) {
	t.Helper()
	e := newEnv(t, cfg, 64<<20)
	root := e.setRoot()
	pgd := e.page()
	e.setContext(root, sid(0, 3, 0), ctxLo(pgd, ttMultiLevel, false), ctxHi(uint8(levels-2), 5))
	e.gcmd(gcmdTE, true)
	return e, root, pgd
}

func TestTranslateDisabledIsIdentity(t *testing.T) {
	e := newEnv(t, DefaultConfig(), 1<<20)
	as := e.u.AddressSpace(sid(0, 3, 0))
	tests := []struct {
		iova, n  uint64
		wantLen  uint64
		wantFail bool
	}{
		{0x1234, 10, 10, false},
		{0xfffffffffffffff0, 0x100, 0x10, false},
		{0xfedffff0, 0x100, 0x10, false},    // stops short of the interrupt range
		{0xfee00000, 4, 0, true},            // the interrupt range itself
		{0xfef00000, 0x1000, 0x1000, false}, // above it
	}
	for _, tc := range tests {
		gpa, l, err := as.Translate(tc.iova, tc.n, dma.Write)
		if tc.wantFail {
			var f *dma.Fault
			if !errors.As(err, &f) {
				t.Errorf("Translate(%#x) = %v, want a *dma.Fault", tc.iova, err)
			}
			continue
		}
		if err != nil || gpa != tc.iova || l != tc.wantLen {
			t.Errorf("Translate(%#x, %#x) = %#x, %#x, %v; want %#x, %#x", tc.iova, tc.n, gpa, l, err, tc.iova, tc.wantLen)
		}
	}
	if e.r32(RegFSTS) != 0 {
		t.Errorf("FSTS = %#x with translation disabled", e.r32(RegFSTS))
	}
}

func TestTranslatePages(t *testing.T) {
	for _, levels := range []int{3, 4} {
		e, _, pgd := translationEnv(t, DefaultConfig(), levels)
		as := e.u.AddressSpace(sid(0, 3, 0))
		e.mapPage(pgd, levels, 0x1000, 0x200000, 4096, slR|slW)
		e.mapPage(pgd, levels, 0x40000000, 0x400000, 2<<20, slR)       // 2 MiB, read-only
		e.mapPage(pgd, levels, 0x80000000, 0x80000000, 1<<30, slR|slW) // 1 GiB
		e.mapPage(pgd, levels, 0x3000, 0x300000, 4096, slW)            // write-only
		tests := []struct {
			iova, n uint64
			acc     dma.Access
			gpa, l  uint64
			fault   FaultReason
		}{
			{0x1000, 0x2000, dma.Read, 0x200000, 0x1000, 0},
			{0x1ff8, 0x100, dma.Write, 0x200ff8, 8, 0},
			{0x40001234, 0x10, dma.Read, 0x401234, 0x10, 0},
			{0x40001234, 0x10, dma.Write, 0, 0, FaultWrite},
			{0x401ff000, 0x10000, dma.Read, 0x5ff000, 0x1000, 0},
			{0x80000000 + 0x12345678, 1 << 30, dma.ReadWrite, 0x92345678, 0x2dcba988, 0},
			{0x3000, 4, dma.Read, 0, 0, FaultRead},
			{0x3000, 4, dma.Write, 0x300000, 4, 0},
			{0x2000, 4, dma.Read, 0, 0, FaultRead},   // not present
			{0x2000, 4, dma.Write, 0, 0, FaultWrite}, // not present
		}
		for _, tc := range tests {
			gpa, l, err := as.Translate(tc.iova, tc.n, tc.acc)
			if tc.fault != 0 {
				var f *dma.Fault
				if !errors.As(err, &f) {
					t.Errorf("levels %d: Translate(%#x, %v) = %#x, %v; want fault %v", levels, tc.iova, tc.acc, gpa, err, tc.fault)
				}
				continue
			}
			if err != nil || gpa != tc.gpa || l != tc.l {
				t.Errorf("levels %d: Translate(%#x, %#x, %v) = %#x, %#x, %v; want %#x, %#x", levels, tc.iova, tc.n, tc.acc, gpa, l, err, tc.gpa, tc.l)
			}
		}
	}
}

// faultOf translates and returns the fault reason logged in FRCD 0 (0 when
// the translation succeeded), clearing the record and FSTS afterwards.
func faultOf(t *testing.T, e *testEnv, as *AddressSpace, iova uint64, acc dma.Access) FaultReason {
	t.Helper()
	_, _, err := as.Translate(iova, 1, acc)
	if err == nil {
		return 0
	}
	var f *dma.Fault
	if !errors.As(err, &f) {
		t.Fatalf("Translate(%#x): %v is not a *dma.Fault", iova, err)
	}
	fri := uint64(e.r32(RegFSTS) >> 8 & 0xff)
	hi := e.r64(RegFRCD + fri*16 + 8)
	if hi&frcdF == 0 {
		return 0xff // a fault that was not logged
	}
	e.w32(RegFRCD+fri*16+12, 1<<31)
	e.w32(RegFSTS, fstsPFO|fstsPPF)
	return FaultReason(hi >> 32)
}

// TestTranslationFaults checks the fault reason of each malformed
// translation structure (VT-d spec 7.1.3).
func TestTranslationFaults(t *testing.T) {
	dev := sid(0, 3, 0)
	type setup struct {
		e    *testEnv
		root uint64
		pgd  uint64
	}
	tests := []struct {
		name   string
		cfg    string
		levels int
		iova   uint64
		acc    dma.Access
		prep   func(s setup)
		want   FaultReason
	}{
		{"mapped page", "", 4, 0x5000, dma.Read, nil, 0},
		{"root not present", "", 4, 0x5000, dma.Read, func(s setup) { s.e.store(s.root, 0) }, FaultRootNotPresent},
		{"root reserved bit 1", "", 4, 0x5000, dma.Read, func(s setup) { s.e.store(s.root, s.e.load(s.root)|2) }, FaultRootReserved},
		{"root reserved upper qword", "", 4, 0x5000, dma.Read, func(s setup) { s.e.store(s.root+8, 1) }, FaultRootReserved},
		{"root above HAW", "aw-bits=39", 4, 0x5000, dma.Read, func(s setup) { s.e.store(s.root, s.e.load(s.root)|1<<39) }, FaultRootReserved},
		{"root table outside RAM", "", 4, 0x5000, dma.Read, func(s setup) {
			s.e.w64(RegRTADDR, 1<<40)
			s.e.gcmd(gcmdSRTP, true)
		}, FaultRootTableAccess},
		{"context table outside RAM", "", 4, 0x5000, dma.Read, func(s setup) { s.e.store(s.root, 1<<40|rootP) }, FaultContextTableAccess},
		{"context not present", "", 4, 0x5000, dma.Read, func(s setup) {
			s.e.setContext(s.root, dev, 0, 0)
		}, FaultContextNotPresent},
		{"context reserved lo", "", 4, 0x5000, dma.Read, func(s setup) {
			s.e.setContext(s.root, dev, ctxLo(s.pgd, 0, false)|1<<4, ctxHi(2, 5))
		}, FaultContextReserved},
		{"context reserved hi bit 7", "", 4, 0x5000, dma.Read, func(s setup) {
			s.e.setContext(s.root, dev, ctxLo(s.pgd, 0, false), ctxHi(2, 5)|1<<7)
		}, FaultContextReserved},
		{"context reserved hi bit 24", "", 4, 0x5000, dma.Read, func(s setup) {
			s.e.setContext(s.root, dev, ctxLo(s.pgd, 0, false), ctxHi(2, 5)|1<<24)
		}, FaultContextReserved},
		{"context table pointer above HAW", "aw-bits=39", 3, 0x5000, dma.Read, func(s setup) {
			s.e.setContext(s.root, dev, ctxLo(s.pgd, 0, false)|1<<40, ctxHi(1, 5))
		}, FaultContextReserved},
		{"AW 48 on a 39-bit unit", "aw-bits=39", 3, 0x5000, dma.Read, func(s setup) {
			s.e.setContext(s.root, dev, ctxLo(s.pgd, 0, false), ctxHi(2, 5))
		}, FaultContextInvalid},
		{"AW 57", "", 4, 0x5000, dma.Read, func(s setup) {
			s.e.setContext(s.root, dev, ctxLo(s.pgd, 0, false), ctxHi(3, 5))
		}, FaultContextInvalid},
		{"TT=01 without DT", "", 4, 0x5000, dma.Read, func(s setup) {
			s.e.setContext(s.root, dev, ctxLo(s.pgd, ttDeviceTLB, false), ctxHi(2, 5))
		}, FaultContextInvalid},
		{"TT=01 with DT", "device-iotlb=on", 4, 0x5000, dma.Read, func(s setup) {
			s.e.setContext(s.root, dev, ctxLo(s.pgd, ttDeviceTLB, false), ctxHi(2, 5))
		}, 0},
		{"TT=10 without PT", "pt=off", 4, 0x5000, dma.Read, func(s setup) {
			s.e.setContext(s.root, dev, ctxLo(0, ttPassThrough, false), ctxHi(2, 5))
		}, FaultContextInvalid},
		{"TT=11", "", 4, 0x5000, dma.Read, func(s setup) {
			s.e.setContext(s.root, dev, ctxLo(s.pgd, 3, false), ctxHi(2, 5))
		}, FaultContextInvalid},
		{"IOVA beyond 39-bit AGAW", "", 3, 1 << 39, dma.Read, nil, FaultAddressBeyondAW},
		{"IOVA beyond 48-bit AGAW", "", 4, 1 << 48, dma.Read, nil, FaultAddressBeyondAW},
		{"top of 48-bit AGAW, not mapped", "", 4, 1<<48 - 1, dma.Write, nil, FaultWrite},
		{"interrupt range IOVA", "", 4, 0xfee00000, dma.Write, nil, FaultInterruptAddress},
		{"leaf maps the interrupt range", "", 4, 0x7000, dma.Read, func(s setup) {
			s.e.mapPage(s.pgd, 4, 0x7000, 0xfee00000, 4096, slR|slW)
		}, FaultInterruptAddress},
		{"table outside RAM", "", 4, 0x5000, dma.Read, func(s setup) {
			s.e.store(s.pgd, 1<<40|slR|slW)
		}, FaultPagingEntryAccess},
		{"write to read-only table entry", "", 4, 0x5000, dma.Write, func(s setup) {
			s.e.store(s.pgd, s.e.load(s.pgd)&^slW)
		}, FaultWrite},
		{"read through write-only table entry", "", 4, 0x5000, dma.Read, func(s setup) {
			s.e.store(s.pgd, s.e.load(s.pgd)&^slR)
		}, FaultRead},
		{"read/write of a read-only page", "", 4, 0x9000, dma.ReadWrite, func(s setup) {
			s.e.mapPage(s.pgd, 4, 0x9000, 0x9000, 4096, slR)
		}, FaultWrite},
	}
	// Reserved bits at each level, in present entries.
	for _, rb := range []struct {
		levels, level int
		bit           uint
		leaf          bool
		cfg           string
	}{
		{4, 4, 7, false, ""}, // PS at level 4
		{4, 4, 11, false, ""},
		{4, 3, 11, false, ""},
		{4, 3, 62, false, ""},
		{4, 2, 11, false, ""},
		{4, 1, 11, true, ""},
		{4, 1, 62, true, ""}, // TM needs ECAP.DT
		{4, 3, 12, true, ""}, // 1 GiB leaf address bits 29:12
		{4, 3, 29, true, ""},
		{4, 2, 12, true, ""}, // 2 MiB leaf address bits 20:12
		{4, 2, 20, true, ""},
		{4, 4, 48, false, ""}, // above the 48-bit host address width
		{4, 1, 51, true, ""},
		{3, 3, 39, false, "aw-bits=39"}, // above the 39-bit host address width
		{3, 2, 45, false, "aw-bits=39"},
		{3, 1, 40, true, "aw-bits=39"},
	} {
		rb := rb
		iova := uint64(0x5000)
		if rb.leaf && rb.level > 1 {
			iova = 1 << 37 // a separate 1 GiB / 2 MiB leaf, set up below
		}
		tests = append(tests, struct {
			name   string
			cfg    string
			levels int
			iova   uint64
			acc    dma.Access
			prep   func(s setup)
			want   FaultReason
		}{fmt.Sprintf("reserved bit %d at level %d of %d", rb.bit, rb.level, rb.levels), rb.cfg, rb.levels, iova, dma.Read, func(s setup) {
			if rb.leaf && rb.level > 1 {
				s.e.mapPage(s.pgd, rb.levels, iova, 0, 1<<slShift(rb.level), slR|slW)
			}
			a := s.e.entryAddr(s.pgd, rb.levels, iova, rb.level)
			s.e.store(a, s.e.load(a)|1<<rb.bit)
		}, FaultPagingEntryReserved})
	}
	// TM (bit 62) is allowed in leaves with ECAP.DT.
	tests = append(tests, struct {
		name   string
		cfg    string
		levels int
		iova   uint64
		acc    dma.Access
		prep   func(s setup)
		want   FaultReason
	}{"TM in a leaf with DT", "device-iotlb=on", 4, 0x5000, dma.Read, func(s setup) {
		a := s.e.entryAddr(s.pgd, 4, 0x5000, 1)
		s.e.store(a, s.e.load(a)|slTM)
	}, 0})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			e, root, pgd := translationEnv(t, cfg, tc.levels)
			e.mapPage(pgd, tc.levels, 0x5000, 0x5000, 4096, slR|slW)
			if tc.prep != nil {
				tc.prep(setup{e, root, pgd})
			}
			as := e.u.AddressSpace(dev)
			if got := faultOf(t, e, as, tc.iova, tc.acc); got != tc.want {
				t.Errorf("fault %v (%#x), want %v (%#x)", got, uint8(got), tc.want, uint8(tc.want))
			}
		})
	}
}

// TestPassThrough checks TT=10: identity, with the interrupt range refused.
func TestPassThrough(t *testing.T) {
	e, root, _ := translationEnv(t, DefaultConfig(), 4)
	dev := sid(0, 3, 0)
	e.setContext(root, dev, ctxLo(0, ttPassThrough, false), ctxHi(2, 9))
	as := e.u.AddressSpace(dev)
	if gpa, l, err := as.Translate(0x123456789, 0x100, dma.Write); err != nil || gpa != 0x123456789 || l != 0x100 {
		t.Errorf("pass-through Translate = %#x, %#x, %v", gpa, l, err)
	}
	if gpa, l, err := as.Translate(0xfedff000, 0x10000, dma.Read); err != nil || gpa != 0xfedff000 || l != 0x1000 {
		t.Errorf("pass-through below the interrupt range = %#x, %#x, %v", gpa, l, err)
	}
	if got := faultOf(t, e, as, 0xfee01000, dma.Write); got != FaultInterruptAddress {
		t.Errorf("pass-through into the interrupt range: fault %v", got)
	}
}

// TestTranslateBadArguments checks the argument errors.
func TestTranslateBadArguments(t *testing.T) {
	e, _, _ := translationEnv(t, DefaultConfig(), 4)
	as := e.u.AddressSpace(sid(0, 3, 0))
	if _, _, err := as.Translate(0, 0, dma.Read); !errors.Is(err, dma.ErrZeroLength) {
		t.Errorf("n=0: %v", err)
	}
	for _, acc := range []dma.Access{0, 4, 7} {
		if _, _, err := as.Translate(0, 1, acc); !errors.Is(err, ErrAccess) {
			t.Errorf("access %v: %v", acc, err)
		}
	}
	if e.r32(RegFSTS) != 0 {
		t.Errorf("argument errors logged faults: FSTS %#x", e.r32(RegFSTS))
	}
}

// TestTranslateClipsAtInterruptRange checks a large page that spans the
// interrupt range on the IOVA or the GPA side.
func TestTranslateClipsAtInterruptRange(t *testing.T) {
	e, _, pgd := translationEnv(t, DefaultConfig(), 4)
	as := e.u.AddressSpace(sid(0, 3, 0))
	e.mapPage(pgd, 4, 0xc0000000, 0x1_0000_0000, 1<<30, slR|slW) // IOVA side spans it
	e.mapPage(pgd, 4, 0x2_0000_0000, 0xc0000000, 1<<30, slR|slW) // GPA side spans it
	tests := []struct {
		iova, gpa, l uint64
		fault        bool
	}{
		{0xfe000000, 0x13e000000, 0xe00000, false},
		{0xfee00000, 0, 0, true},
		{0xfef00000, 0x13ef00000, 0x1100000, false},
		{0x2_3e00_0000, 0xfe000000, 0xe00000, false},
		{0x2_3ee0_0000, 0, 0, true},
	}
	for _, tc := range tests {
		for i := 0; i < 2; i++ { // a walk, then the IOTLB
			gpa, l, err := as.Translate(tc.iova, 1<<30, dma.Read)
			if tc.fault {
				if err == nil {
					t.Errorf("Translate(%#x) = %#x, %#x; want a fault", tc.iova, gpa, l)
				}
				continue
			}
			if err != nil || gpa != tc.gpa || l != tc.l {
				t.Errorf("Translate(%#x) = %#x, %#x, %v; want %#x, %#x", tc.iova, gpa, l, err, tc.gpa, tc.l)
			}
		}
	}
}
