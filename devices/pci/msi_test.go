package pci

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/govmm/govmm/devices/irq"
)

// op is one step of an interrupt scenario: a guest configuration write
// (to the capability or to Command), a BAR write (MSI-X table), or a
// device Trigger, with what must come out of it.
type op struct {
	kind    byte // 'w' capability register, 'c' Command, 'b' BAR 0 (MSI-X table/PBA), 't' trigger
	reg     int  // capability-relative register, or BAR offset
	size    int
	val     uint32
	vec     int
	err     error // for 't': want errors.Is(err, this); errAny for any error
	msgs    []irq.MSI
	pending []int // vectors whose pending bit must be set afterwards
}

var errAny = errors.New("any error")

const testRID = 5 << 3 // 00:05.0

func msiMsg(addr uint64, data uint32) irq.MSI {
	return irq.MSI{Addr: addr, Data: data, DevID: testRID}
}

// runOps plays ops against d (placed at 00:05.0 of r) and checks every
// step.
func runOps(t *testing.T, r *rig, d *testDev, capOff int, trigger func(int) error, pending func(int) bool, nvec int, ops []op) {
	t.Helper()
	b := BDF{Device: 5}
	for n, o := range ops {
		var err error
		switch o.kind {
		case 'w':
			r.write(b, capOff+o.reg, o.size, o.val)
		case 'c':
			r.write(b, RegCommand, 2, o.val)
		case 'b':
			r.mmio.Write(d.BARAddress(0)+uint64(o.reg), leBytes(o.val, o.size))
		case 't':
			err = trigger(o.vec)
		}
		switch {
		case o.err == nil && err != nil:
			t.Errorf("op %d (%c): unexpected error %v", n, o.kind, err)
		case o.err == errAny && err == nil:
			t.Errorf("op %d (%c): no error", n, o.kind)
		case o.err != nil && o.err != errAny && !errors.Is(err, o.err):
			t.Errorf("op %d (%c): error %v, want %v", n, o.kind, err, o.err)
		}
		if diff := cmp.Diff(o.msgs, r.sender.take()); diff != "" {
			t.Errorf("op %d (%c): messages (-want +got):\n%s", n, o.kind, diff)
		}
		for v := range nvec {
			want := false
			for _, p := range o.pending {
				want = want || p == v
			}
			if got := pending(v); got != want {
				t.Errorf("op %d (%c): vector %d pending = %v, want %v", n, o.kind, v, got, want)
			}
		}
	}
}

func TestMSI(t *testing.T) {
	const (
		ctlEnable = MSIEnable
		ctlMME4   = 2 << MSIMMEShift
		cmdBM     = CmdBusMaster | CmdMemorySpace
	)
	program := []op{
		{kind: 'w', reg: MSIAddressLo, size: 4, val: 0xfee0_1000},
		{kind: 'w', reg: MSIAddressHi, size: 4, val: 0},
		{kind: 'w', reg: MSIData, size: 2, val: 0x4041},
	}
	tests := []struct {
		name string
		ops  []op
	}{
		{"disabled", []op{{kind: 't', vec: 0, err: ErrDisabled}}},
		{"enabled without bus mastering", []op{
			{kind: 'w', reg: MSIControl, size: 2, val: ctlEnable},
			{kind: 't', vec: 0, err: ErrBusMaster},
		}},
		{"enabled", []op{
			{kind: 'c', val: cmdBM},
			{kind: 'w', reg: MSIControl, size: 2, val: ctlEnable},
			{kind: 't', vec: 0, msgs: []irq.MSI{msiMsg(0xfee0_1000, 0x4041)}},
		}},
		{"four vectors: the low data bits carry the vector", []op{
			{kind: 'c', val: cmdBM},
			{kind: 'w', reg: MSIControl, size: 2, val: ctlEnable | ctlMME4},
			{kind: 't', vec: 2, msgs: []irq.MSI{msiMsg(0xfee0_1000, 0x4042)}},
			{kind: 't', vec: 3, msgs: []irq.MSI{msiMsg(0xfee0_1000, 0x4043)}},
			{kind: 't', vec: 0, msgs: []irq.MSI{msiMsg(0xfee0_1000, 0x4040)}},
		}},
		{"MME above MMC is clamped", []op{
			{kind: 'c', val: cmdBM},
			{kind: 'w', reg: MSIControl, size: 2, val: ctlEnable | 7<<MSIMMEShift},
			{kind: 't', vec: 3, msgs: []irq.MSI{msiMsg(0xfee0_1000, 0x4043)}},
		}},
		{"vector not allocated", []op{
			{kind: 'c', val: cmdBM},
			{kind: 'w', reg: MSIControl, size: 2, val: ctlEnable},
			{kind: 't', vec: 1, err: ErrDisabled},
		}},
		{"vector out of range", []op{
			{kind: 'c', val: cmdBM},
			{kind: 'w', reg: MSIControl, size: 2, val: ctlEnable | ctlMME4},
			{kind: 't', vec: 4, err: errAny},
			{kind: 't', vec: -1, err: errAny},
		}},
		{"64-bit address, bits 1:0 read-only", []op{
			{kind: 'c', val: cmdBM},
			{kind: 'w', reg: MSIAddressLo, size: 4, val: 0xfee0_2003},
			{kind: 'w', reg: MSIAddressHi, size: 4, val: 0x1},
			{kind: 'w', reg: MSIControl, size: 2, val: ctlEnable},
			{kind: 't', vec: 0, msgs: []irq.MSI{msiMsg(0x1_fee0_2000, 0x4041)}},
		}},
		{"masked vector pends, unmask delivers", []op{
			{kind: 'c', val: cmdBM},
			{kind: 'w', reg: MSIControl, size: 2, val: ctlEnable | ctlMME4},
			{kind: 'w', reg: MSIMask, size: 4, val: 0b0110},
			{kind: 't', vec: 1, pending: []int{1}},
			{kind: 't', vec: 2, pending: []int{1, 2}},
			{kind: 't', vec: 0, msgs: []irq.MSI{msiMsg(0xfee0_1000, 0x4040)}, pending: []int{1, 2}},
			{kind: 'w', reg: MSIMask, size: 4, val: 0b0100, msgs: []irq.MSI{msiMsg(0xfee0_1000, 0x4041)}, pending: []int{2}},
			{kind: 'w', reg: MSIPending, size: 4, val: 0, pending: []int{2}}, // read-only
			{kind: 'w', reg: MSIMask, size: 1, val: 0, msgs: []irq.MSI{msiMsg(0xfee0_1000, 0x4042)}},
		}},
		{"pending kept while disabled, delivered on enable", []op{
			{kind: 'c', val: cmdBM},
			{kind: 'w', reg: MSIControl, size: 2, val: ctlEnable},
			{kind: 'w', reg: MSIMask, size: 4, val: 1},
			{kind: 't', vec: 0, pending: []int{0}},
			{kind: 'w', reg: MSIControl, size: 2, val: 0, pending: []int{0}},
			{kind: 'w', reg: MSIMask, size: 4, val: 0, pending: []int{0}},
			{kind: 'w', reg: MSIControl, size: 2, val: ctlEnable, msgs: []irq.MSI{msiMsg(0xfee0_1000, 0x4041)}},
		}},
		{"pending kept while bus mastering is off", []op{
			{kind: 'w', reg: MSIControl, size: 2, val: ctlEnable},
			{kind: 'w', reg: MSIMask, size: 4, val: 1},
			{kind: 't', vec: 0, pending: []int{0}},
			{kind: 'w', reg: MSIMask, size: 4, val: 0, pending: []int{0}},
			{kind: 'c', val: cmdBM, msgs: []irq.MSI{msiMsg(0xfee0_1000, 0x4041)}},
		}},
		{"mask bits of unrequested vectors are read-only", []op{
			{kind: 'w', reg: MSIMask, size: 4, val: 0xffff_fff0},
			{kind: 'c', val: cmdBM},
			{kind: 'w', reg: MSIControl, size: 2, val: ctlEnable},
			{kind: 't', vec: 0, msgs: []irq.MSI{msiMsg(0xfee0_1000, 0x4041)}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 0, 0)
			d := newTestDev(t, r.sender)
			if err := r.seg.Add(BDF{Device: 5}, d); err != nil {
				t.Fatal(err)
			}
			runOps(t, r, d, d.msi.Offset(), d.msi.Trigger, d.msi.Pending, 4, append(append([]op(nil), program...), tc.ops...))
		})
	}
}

func TestMSISendError(t *testing.T) {
	s := &recSender{err: errSend}
	cs, _ := NewConfigSpace(Header{VendorID: 1})
	m, err := AddMSI(cs, MSIConfig{}, s)
	if err != nil {
		t.Fatal(err)
	}
	cs.WriteConfig(RegCommand, []byte{CmdBusMaster, 0})
	cs.WriteConfig(m.Offset()+MSIControl, []byte{MSIEnable, 0})
	if err := m.Trigger(0); !errors.Is(err, errSend) {
		t.Errorf("Trigger = %v, want the sender's error", err)
	}
	if m.Pending(0) {
		t.Error("no Pending register, yet pending")
	}
}

func TestAddMSIErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg    MSIConfig
		sender irq.MSISender
	}{
		{MSIConfig{Vectors: 3}, &recSender{}},
		{MSIConfig{Vectors: 64}, &recSender{}},
		{MSIConfig{Vectors: -1}, &recSender{}},
		{MSIConfig{Vectors: 1}, nil},
	} {
		cs, _ := NewConfigSpace(Header{VendorID: 1})
		if _, err := AddMSI(cs, tc.cfg, tc.sender); err == nil {
			t.Errorf("AddMSI(%+v) succeeded", tc.cfg)
		}
	}
	// The capability's read-only layout.
	cs, _ := NewConfigSpace(Header{VendorID: 1})
	m, err := AddMSI(cs, MSIConfig{Vectors: 32, PerVectorMask: true}, &recSender{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cs.Uint16(m.Offset() + MSIControl); got != 5<<MSIMMCShift|MSI64Bit|MSIPerVectorMsk {
		t.Errorf("Message Control = %#x", got)
	}
	if m.Vectors() != 32 {
		t.Errorf("Vectors = %d", m.Vectors())
	}
	cs.WriteConfig(m.Offset()+MSIMask, []byte{0xff, 0xff, 0xff, 0xff})
	if got := cs.Uint32(m.Offset() + MSIMask); got != 0xffff_ffff {
		t.Errorf("Mask Bits for 32 vectors = %#x", got)
	}
}

// TestMSIVectorHook checks that the hook is told the initial state of
// every vector and each later change, and nothing when nothing changes.
func TestMSIVectorHook(t *testing.T) {
	r := newRig(t, 0, 0)
	d := newTestDev(t, r.sender)
	b := BDF{Device: 5}
	if err := r.seg.Add(b, d); err != nil {
		t.Fatal(err)
	}
	type ev struct {
		v      int
		msg    irq.MSI
		masked bool
	}
	var got []ev
	hook := func(v int, m irq.MSI, masked bool) { got = append(got, ev{v, m, masked}) }
	off := d.msi.Offset()
	zero := msiMsg(0, 0)
	steps := []struct {
		name  string
		write func()
		want  []ev
	}{
		{"initial state", func() { d.msi.SetVectorHook(hook) }, []ev{{0, zero, true}, {1, msiMsg(0, 1), true}, {2, msiMsg(0, 2), true}, {3, msiMsg(0, 3), true}}},
		{"address", func() { r.write(b, off+MSIAddressLo, 4, 0xfee0_0000) }, []ev{
			{0, msiMsg(0xfee0_0000, 0), true}, {1, msiMsg(0xfee0_0000, 1), true}, {2, msiMsg(0xfee0_0000, 2), true}, {3, msiMsg(0xfee0_0000, 3), true}}},
		{"enable one vector", func() { r.write(b, off+MSIControl, 2, MSIEnable) }, []ev{
			{0, msiMsg(0xfee0_0000, 0), false}}},
		{"same value again", func() { r.write(b, off+MSIControl, 2, MSIEnable) }, nil},
		{"unrelated register", func() { r.write(b, RegInterruptLine, 1, 9) }, nil},
		{"mask vector 0", func() { r.write(b, off+MSIMask, 4, 1) }, []ev{{0, msiMsg(0xfee0_0000, 0), true}}},
	}
	for _, s := range steps {
		got = nil
		s.write()
		if diff := cmp.Diff(s.want, got, cmp.AllowUnexported(ev{})); diff != "" {
			t.Errorf("%s: hook calls (-want +got):\n%s", s.name, diff)
		}
	}
	msg, masked := d.msi.Message(0)
	if msg != msiMsg(0xfee0_0000, 0) || !masked {
		t.Errorf("Message(0) = %+v, %v", msg, masked)
	}
	if _, masked := d.msi.Message(9); !masked {
		t.Error("out-of-range vector reported unmasked")
	}
}
