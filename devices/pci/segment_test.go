package pci

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNewSegmentErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  SegmentConfig
	}{
		{"empty bus range", SegmentConfig{BusStart: 2, BusEnd: 1}},
		{"unaligned ECAM", SegmentConfig{ECAMBase: 0xe000_1000}},
		{"wrapping window", SegmentConfig{MMIO64: Window{Base: 3 << 62, Size: 1 << 63}}},
		{"wrapping window 2", SegmentConfig{MMIO64: Window{Base: ^uint64(0), Size: 2}}},
		{"overlapping windows", SegmentConfig{MMIO32: Window{0xc000_0000, 0x1000_0000}, MMIO64: Window{0xc800_0000, 0x1000_0000}}},
		{"MMIO32 above 4 GiB", SegmentConfig{MMIO32: Window{0xf000_0000, 0x2000_0000}}},
		{"I/O window above 64 KiB", SegmentConfig{IOPorts: Window{0xf000, 0x2000}}},
		{"MMIO32 over ECAM", SegmentConfig{ECAMBase: 0xe000_0000, BusEnd: 3, MMIO32: Window{0xe030_0000, 0x1000}}},
		{"ECAM wraps", SegmentConfig{ECAMBase: 0xffff_ffff_fff0_0000, BusEnd: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewSegment(tc.cfg); err == nil {
				t.Errorf("NewSegment(%+v) succeeded", tc.cfg)
			}
		})
	}
}

// TestAddAssignsBARs checks the initial BAR assignment: every BAR inside
// its window, naturally aligned (memory BARs to at least 4 KiB), no two
// overlapping, and programmed in the registers.
func TestAddAssignsBARs(t *testing.T) {
	r := newRig(t, 0, 0)
	var devs []*testDev
	for dev := uint8(1); dev <= 4; dev++ {
		d := newTestDev(t, r.sender)
		if err := r.seg.Add(BDF{Device: dev}, d); err != nil {
			t.Fatal(err)
		}
		devs = append(devs, d)
	}
	type rng struct{ base, size uint64 }
	var mem, io []rng
	for n, d := range devs {
		for _, b := range testBARs {
			base := d.BARAddress(b.index)
			var w Window
			switch b.bar.Type {
			case BARIO:
				w = testIO
				io = append(io, rng{base, b.bar.Size})
			case BARMem32:
				w = testMMIO32
				mem = append(mem, rng{base, b.bar.Size})
			case BARMem64:
				w = testMMIO64
				mem = append(mem, rng{base, b.bar.Size})
			}
			align := max(b.bar.Size, 4096)
			if b.bar.Type == BARIO {
				align = b.bar.Size
			}
			if base < w.Base || base+b.bar.Size > w.End() || base%align != 0 {
				t.Errorf("device %d BAR %d at %#x (size %#x) is not aligned inside %v", n, b.index, base, b.bar.Size, w)
			}
		}
	}
	for _, set := range [][]rng{mem, io} {
		for i := range set {
			for j := range i {
				a, b := set[i], set[j]
				if a.base < b.base+b.size && b.base < a.base+a.size {
					t.Errorf("BARs [%#x,+%#x) and [%#x,+%#x) overlap", a.base, a.size, b.base, b.size)
				}
			}
		}
	}
	if got := devs[0].BARAddress(0); got != testMMIO32.Base {
		t.Errorf("first 32-bit BAR at %#x, want the window base %#x", got, testMMIO32.Base)
	}
	if got := devs[0].BARAddress(1); got != testIO.Base {
		t.Errorf("first I/O BAR at %#x, want the window base %#x", got, testIO.Base)
	}
	if seg, bdf, ok := devs[2].Location(); !ok || seg != 0 || bdf != (BDF{Device: 3}) {
		t.Errorf("Location = %d, %v, %v; want 0, 00:03.0, true", seg, bdf, ok)
	}
	if got := devs[2].RequesterID(); got != 3<<3 {
		t.Errorf("RequesterID = %#x, want 0x18", got)
	}
}

func TestAddErrors(t *testing.T) {
	r := newRig(t, 0, 0)
	placed := newTestDev(t, r.sender)
	if err := r.seg.Add(BDF{Device: 1}, placed); err != nil {
		t.Fatal(err)
	}
	huge, _ := NewConfigSpace(Header{VendorID: 1})
	if err := huge.AddBAR(0, BAR{Type: BARMem32, Size: 1 << 31, Handler: &barHandler{}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		bdf  BDF
		dev  Device
		want error
	}{
		{"BDF taken", BDF{Device: 1}, newTestDev(t, r.sender), ErrExists},
		{"device already placed", BDF{Device: 2}, placed, ErrExists},
		{"window too small", BDF{Device: 3}, huge, ErrNoWindow},
		{"invalid device number", BDF{Device: 32}, newTestDev(t, r.sender), nil},
		{"bus outside the segment", BDF{Bus: 1}, newTestDev(t, r.sender), nil},
		{"nil device", BDF{Device: 4}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := r.seg.Add(tc.bdf, tc.dev)
			if err == nil {
				t.Fatalf("Add(%v) succeeded", tc.bdf)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Add(%v) = %v, want %v", tc.bdf, err, tc.want)
			}
		})
	}
	// A failed Add changes nothing: the device is not placed, its BARs
	// are unassigned, and the window space is still free.
	if _, _, ok := huge.Location(); ok {
		t.Error("device placed after a failed Add")
	}
	if huge.BARAddress(0) != 0 {
		t.Errorf("BAR programmed to %#x after a failed Add", huge.BARAddress(0))
	}
	d := newTestDev(t, r.sender)
	if err := r.seg.Add(BDF{Device: 3}, d); err != nil {
		t.Fatalf("Add after failures: %v", err)
	}
}

// TestBARSizing runs the sizing protocol through ECAM on every BAR type:
// write all ones, read back, decode the size as Linux does, restore.
func TestBARSizing(t *testing.T) {
	r := newRig(t, 0, 0)
	cs, err := NewConfigSpace(Header{VendorID: 0x1234})
	if err != nil {
		t.Fatal(err)
	}
	decls := []struct {
		index int
		bar   BAR
	}{
		{0, BAR{Type: BARIO, Size: 4}},
		{1, BAR{Type: BARIO, Size: 256}},
		{2, BAR{Type: BARMem32, Size: 16}},
		{3, BAR{Type: BARMem32, Size: 1 << 20, Prefetchable: true}},
		{4, BAR{Type: BARMem64, Size: 1 << 34, Prefetchable: true}},
	}
	for _, d := range decls {
		d.bar.Handler = &barHandler{}
		if err := cs.AddBAR(d.index, d.bar); err != nil {
			t.Fatal(err)
		}
	}
	b := BDF{Device: 5}
	if err := r.seg.Add(b, cs); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		reg      int
		readback uint32 // after writing all ones
		mask     uint64 // address bits for Linux's decode
		size     uint64
	}{
		{"I/O 4 bytes", 0x10, 0x0000_fffd, 0xffff_fffc, 4},
		{"I/O 256 bytes", 0x14, 0x0000_ff01, 0xffff_fffc, 256},
		{"mem32 16 bytes", 0x18, 0xffff_fff0, 0xffff_fff0, 16},
		{"mem32 prefetchable 1 MiB", 0x1c, 0xfff0_0008, 0xffff_fff0, 1 << 20},
		{"mem64 prefetchable 16 GiB, low", 0x20, 0x0000_000c, 0xffff_fff0, 0},
		{"mem64 prefetchable 16 GiB, high", 0x24, 0xffff_fffc, 0xffff_ffff, 1 << 2},
		{"upper half of nothing: 0x28 CardBus CIS", 0x28, 0, 0xffff_ffff, 0},
		{"expansion ROM not implemented", 0x30, 0, 0xffff_f800, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := r.read(b, tc.reg, 4)
			r.write(b, tc.reg, 4, 0xffff_ffff)
			got := r.read(b, tc.reg, 4)
			r.write(b, tc.reg, 4, orig)
			if got != tc.readback {
				t.Errorf("BAR register %#x after writing all ones reads %#08x, want %#08x", tc.reg, got, tc.readback)
			}
			if size := linuxBARSize(uint64(got), tc.mask); size != tc.size {
				t.Errorf("decoded size %#x, want %#x", size, tc.size)
			}
			if back := r.read(b, tc.reg, 4); back != orig {
				t.Errorf("restored register reads %#x, want %#x", back, orig)
			}
		})
	}
	// The full 64-bit decode, as Linux does it for a 64-bit BAR.
	r.write(b, 0x20, 4, 0xffff_ffff)
	r.write(b, 0x24, 4, 0xffff_ffff)
	v := uint64(r.read(b, 0x20, 4)) | uint64(r.read(b, 0x24, 4))<<32
	if size := linuxBARSize(v, ^uint64(0xf)); size != 1<<34 {
		t.Errorf("64-bit BAR decodes to size %#x, want %#x", size, uint64(1)<<34)
	}
}

// expectMapped checks whether testDev's BAR i is decoded on its bus at the
// address in its registers, and that the segment agrees.
func (r *rig) expectMapped(t *testing.T, d *testDev, bdf BDF, i int, want bool) {
	t.Helper()
	decl, _ := d.BAR(i)
	bs := r.mmio
	if decl.Type == BARIO {
		bs = r.io
	}
	base := d.BARAddress(i)
	h, off := lookupHandler(bs, base)
	hEnd, offEnd := lookupHandler(bs, base+decl.Size-1)
	mapped := h == d.handlers[i] && off == 0 && hEnd == d.handlers[i] && offEnd == decl.Size-1
	if mapped != want {
		t.Errorf("BAR %d (%v at %#x): mapped=%v, want %v", i, decl.Type, base, mapped, want)
	}
	if !want && h == d.handlers[i] {
		t.Errorf("BAR %d still reachable at %#x", i, base)
	}
	mb, ok := r.seg.BARMapping(bdf, i)
	if ok != want || (ok && mb != base) {
		t.Errorf("BARMapping(%d) = %#x, %v; want %#x, %v", i, mb, ok, base, want)
	}
	if want {
		if h, _ := lookupHandler(bs, base+decl.Size); h == d.handlers[i] {
			t.Errorf("BAR %d reachable past its end", i)
		}
	}
}

// TestDecodeEnable checks that the Command decode bits map and unmap the
// BARs on the right bus, and that observers are told.
func TestDecodeEnable(t *testing.T) {
	r := newRig(t, 0, 0)
	d := newTestDev(t, r.sender)
	b := BDF{Device: 2}
	if err := r.seg.Add(b, d); err != nil {
		t.Fatal(err)
	}
	bar := func(i int) uint64 { return d.BARAddress(i) }
	tests := []struct {
		name   string
		cmd    uint16
		io     bool
		mem    bool
		events []string
	}{
		{"reset: nothing decoded", 0, false, false, nil},
		{"I/O only", CmdIOSpace, true, false, []string{
			"bar1 map " + hex(bar(1)), "cmd 0x0->0x1"}},
		{"I/O and memory", CmdIOSpace | CmdMemorySpace, true, true, []string{
			"bar0 map " + hex(bar(0)), "bar2 map " + hex(bar(2)), "bar4 map " + hex(bar(4)), "cmd 0x1->0x3"}},
		{"bus master does not change decode", CmdIOSpace | CmdMemorySpace | CmdBusMaster, true, true, []string{
			"cmd 0x3->0x7"}},
		{"memory only", CmdMemorySpace, false, true, []string{
			"bar1 unmap " + hex(bar(1)), "cmd 0x7->0x2"}},
		{"none", 0, false, false, []string{
			"bar0 unmap " + hex(bar(0)), "bar2 unmap " + hex(bar(2)), "bar4 unmap " + hex(bar(4)), "cmd 0x2->0x0"}},
		{"INTx disable alone", CmdINTxDisable, false, false, []string{"cmd 0x0->0x400"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r.write(b, RegCommand, 2, uint32(tc.cmd))
			r.expectMapped(t, d, b, 1, tc.io)
			for _, i := range []int{0, 2, 4} {
				r.expectMapped(t, d, b, i, tc.mem)
			}
			if diff := cmp.Diff(tc.events, d.takeEvents()); diff != "" {
				t.Errorf("observer events (-want +got):\n%s", diff)
			}
		})
	}
	if len(r.mapErrs) != 0 {
		t.Errorf("unexpected map errors: %v", r.mapErrs)
	}
}

func hex(v uint64) string { return "0x" + uitoa16(v) }

func uitoa16(v uint64) string {
	const digits = "0123456789abcdef"
	if v == 0 {
		return "0"
	}
	var b []byte
	for ; v > 0; v >>= 4 {
		b = append(b, digits[v&0xf])
	}
	slices.Reverse(b)
	return string(b)
}

// TestBARRelocation moves BARs with decode enabled, including 64-bit BARs
// written half at a time in either order, and checks the bus after every
// step.
func TestBARRelocation(t *testing.T) {
	type step struct {
		reg  int
		size int
		val  uint32
		// expected mapping of BAR 2 (mem64) afterwards: 0 = unmapped
		want2 uint64
	}
	orig2 := testMMIO64.Base // where Add puts BAR 2 (first in the window)
	tests := []struct {
		name  string
		steps []step
	}{
		{"low then high", []step{
			{0x18, 4, 0x0030_0000, 0},
			{0x1c, 4, 0x0000_0200, 0x200_0030_0000},
		}},
		{"high then low", []step{
			{0x1c, 4, 0x0000_0300, 0x300_0000_0000},
			{0x18, 4, 0x0010_0000, 0},
			{0x1c, 4, 0x0000_0300, 0x300_0010_0000},
		}},
		{"only the high half", []step{
			{0x1c, 4, 0x0000_0400, 0x400_0000_0000},
		}},
		{"low half then Command rewrite maps", []step{
			{0x18, 4, 0x0050_0000, 0},
			{RegCommand, 2, CmdMemorySpace, orig2 + 0x0050_0000},
		}},
		{"byte write to the low half", []step{
			{0x1a, 1, 0x70, 0},
			{0x1c, 4, 0x100, orig2 + 0x0070_0000},
		}},
		{"sizing with decode on, then restore", []step{
			{0x18, 4, 0xffff_ffff, 0},
			{0x18, 4, uint32(orig2), 0},
			{0x1c, 4, 0xffff_ffff, 0xffff_ffff_0000_0000},
			{0x1c, 4, uint32(orig2 >> 32), orig2},
		}},
		{"high half all ones and low all ones: sizing pattern not decoded", []step{
			{0x1c, 4, 0xffff_ffff, 0xffff_ffff_0000_0000},
			{0x18, 4, 0xffff_ffff, 0},
			{RegCommand, 2, CmdMemorySpace, 0},
		}},
		{"address 0 is not decoded", []step{
			{0x18, 4, 0, 0},
			{0x1c, 4, 0, 0},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 0, 0)
			d := newTestDev(t, r.sender)
			b := BDF{Device: 1}
			if err := r.seg.Add(b, d); err != nil {
				t.Fatal(err)
			}
			r.write(b, RegCommand, 2, CmdMemorySpace)
			if base, ok := r.seg.BARMapping(b, 2); !ok || base != orig2 {
				t.Fatalf("BAR 2 initially at %#x, %v; want %#x", base, ok, orig2)
			}
			prev := orig2
			for n, s := range tc.steps {
				r.write(b, s.reg, s.size, s.val)
				base, ok := r.seg.BARMapping(b, 2)
				if s.want2 == 0 {
					if ok {
						t.Errorf("step %d: BAR 2 mapped at %#x, want unmapped", n, base)
					}
				} else {
					if !ok || base != s.want2 {
						t.Errorf("step %d: BAR 2 at %#x (mapped %v), want %#x", n, base, ok, s.want2)
					}
					r.expectMapped(t, d, b, 2, true)
				}
				if prev != s.want2 {
					if h, _ := lookupHandler(r.mmio, prev); h == d.handlers[2] {
						t.Errorf("step %d: BAR 2 still reachable at its old address %#x", n, prev)
					}
				}
				if s.want2 != 0 {
					prev = s.want2
				}
			}
		})
	}
}

// TestBARConflict moves one function's BAR onto another's: the second is
// refused (and reported), then mapped once the first moves away.
func TestBARConflict(t *testing.T) {
	r := newRig(t, 0, 0)
	a, c := newTestDev(t, r.sender), newTestDev(t, r.sender)
	ba, bc := BDF{Device: 1}, BDF{Device: 2}
	for _, x := range []struct {
		b BDF
		d *testDev
	}{{ba, a}, {bc, c}} {
		if err := r.seg.Add(x.b, x.d); err != nil {
			t.Fatal(err)
		}
		r.write(x.b, RegCommand, 2, CmdMemorySpace|CmdIOSpace)
	}
	aBase := a.BARAddress(0)
	r.write(bc, RegBAR0, 4, uint32(aBase))
	r.expectMapped(t, a, ba, 0, true)
	if _, ok := r.seg.BARMapping(bc, 0); ok {
		t.Error("conflicting BAR mapped")
	}
	var me *MapError
	if len(r.mapErrs) != 1 || !errors.As(r.mapErrs[0], &me) || me.BDF != bc || me.BAR != 0 || me.Base != aBase {
		t.Fatalf("map errors = %v, want one for %v BAR 0 at %#x", r.mapErrs, bc, aBase)
	}
	// Move a away: c's BAR 0 gets the range.
	r.write(ba, RegBAR0, 4, uint32(aBase+0x10_0000))
	r.expectMapped(t, a, ba, 0, true)
	r.expectMapped(t, c, bc, 0, true)
	// Disabling c's decode frees it; removing a frees a's.
	r.write(bc, RegCommand, 2, 0)
	r.expectMapped(t, c, bc, 0, false)
	if !r.seg.Remove(ba) {
		t.Fatal("Remove reported nothing removed")
	}
	if h, _ := lookupHandler(r.mmio, a.BARAddress(0)); h != nil {
		t.Error("removed function's BAR still mapped")
	}
	if r.seg.Remove(ba) {
		t.Error("second Remove reported a removal")
	}
	if got := r.read(ba, 0, 4); got != 0xffff_ffff {
		t.Errorf("removed function reads %#x, want all ones", got)
	}
	if _, _, ok := a.Location(); ok {
		t.Error("removed function still placed")
	}
}

// TestMultiFunction checks the Header Type multi-function bit is set on
// function 0 whichever order the functions are added in.
func TestMultiFunction(t *testing.T) {
	tests := []struct {
		name  string
		order []uint8 // functions of device 4, in order of Add
		multi bool
	}{
		{"function 0 alone", []uint8{0}, false},
		{"0 then 1", []uint8{0, 1}, true},
		{"2 then 0", []uint8{2, 0}, true},
		{"7 alone", []uint8{7}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 0, 0)
			for _, fn := range tc.order {
				cs, _ := NewConfigSpace(Header{VendorID: 0x1234, DeviceID: uint16(fn)})
				if err := r.seg.Add(BDF{Device: 4, Function: fn}, cs); err != nil {
					t.Fatal(err)
				}
			}
			ht := r.read(BDF{Device: 4}, RegHeaderType, 1)
			if !slices.Contains(tc.order, 0) {
				if ht != 0xff {
					t.Errorf("absent function 0 Header Type = %#x, want 0xff", ht)
				}
			} else if (ht&HeaderTypeMultiFunc != 0) != tc.multi {
				t.Errorf("function 0 Header Type = %#x, want multi-function %v", ht, tc.multi)
			}
			for _, fn := range tc.order {
				if fn != 0 {
					if ht := r.read(BDF{Device: 4, Function: fn}, RegHeaderType, 1); ht != 0 {
						t.Errorf("function %d Header Type = %#x, want 0", fn, ht)
					}
				}
			}
		})
	}
}

// interceptDev serves its own configuration reads of the device ID.
type interceptDev struct {
	*ConfigSpace
	writes int
}

func (d *interceptDev) ReadConfig(off int, data []byte) {
	d.ConfigSpace.ReadConfig(off, data)
	if off == RegDeviceID && len(data) == 2 {
		data[0], data[1] = 0xcd, 0xab
	}
}

func (d *interceptDev) WriteConfig(off int, data []byte) {
	d.writes++
	d.ConfigSpace.WriteConfig(off, data)
}

func TestConfigInterceptor(t *testing.T) {
	r := newRig(t, 0, 0)
	cs, _ := NewConfigSpace(Header{VendorID: 0x10de, DeviceID: 0x1111})
	if err := cs.AddBAR(0, BAR{Type: BARMem32, Size: 0x4000, Handler: &barHandler{}}); err != nil {
		t.Fatal(err)
	}
	d := &interceptDev{ConfigSpace: cs}
	b := BDF{Device: 9}
	if err := r.seg.Add(b, d); err != nil {
		t.Fatal(err)
	}
	if got := r.read(b, RegDeviceID, 2); got != 0xabcd {
		t.Errorf("intercepted device ID = %#x, want 0xabcd", got)
	}
	r.write(b, RegCommand, 2, CmdMemorySpace)
	if d.writes != 1 {
		t.Errorf("interceptor saw %d writes, want 1", d.writes)
	}
	if base, ok := r.seg.BARMapping(b, 0); !ok || base != cs.BARAddress(0) {
		t.Errorf("BAR 0 mapping = %#x, %v; want %#x, true", base, ok, cs.BARAddress(0))
	}
	if dev, ok := r.seg.Device(b); !ok || dev != Device(d) {
		t.Errorf("Device(%v) = %v, %v", b, dev, ok)
	}
}
