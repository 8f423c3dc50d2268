package pci

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/govmm/govmm/devices/irq"
)

// entry returns the BAR-0 offset of MSI-X table entry v's field f.
func entry(v, f int) int { return v*MSIXEntrySize + f }

func TestMSIX(t *testing.T) {
	const (
		en  = MSIXEnable
		fm  = MSIXFunctionMask
		cmd = CmdBusMaster | CmdMemorySpace
	)
	program := func(v int, addr uint32, data uint32) []op {
		return []op{
			{kind: 'b', reg: entry(v, MSIXEntryAddrLo), size: 4, val: addr},
			{kind: 'b', reg: entry(v, MSIXEntryAddrHi), size: 4, val: 0},
			{kind: 'b', reg: entry(v, MSIXEntryData), size: 4, val: data},
		}
	}
	ops := func(parts ...[]op) []op {
		var all []op
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	base := ops(
		[]op{{kind: 'c', val: CmdMemorySpace}}, // map BAR 0 so the table is reachable
		program(0, 0xfee0_0000, 0x30),
		program(5, 0xfee0_1000, 0x35),
	)
	tests := []struct {
		name string
		ops  []op
	}{
		{"disabled", []op{{kind: 't', vec: 0, err: ErrDisabled}}},
		{"out of range", []op{{kind: 't', vec: 8, err: errAny}, {kind: 't', vec: -1, err: errAny}}},
		{"vectors start masked: trigger pends, unmask delivers", []op{
			{kind: 'c', val: cmd},
			{kind: 'w', reg: MSIXControl, size: 2, val: en},
			{kind: 't', vec: 5, pending: []int{5}},
			{kind: 'b', reg: entry(5, MSIXEntryCtrl), size: 4, val: 0, msgs: []irq.MSI{msiMsg(0xfee0_1000, 0x35)}},
			{kind: 't', vec: 5, msgs: []irq.MSI{msiMsg(0xfee0_1000, 0x35)}},
		}},
		{"bus mastering off drops unmasked vectors", []op{
			{kind: 'w', reg: MSIXControl, size: 2, val: en},
			{kind: 'b', reg: entry(0, MSIXEntryCtrl), size: 4, val: 0},
			{kind: 't', vec: 0, err: ErrBusMaster},
		}},
		{"function mask pends every vector, clearing it delivers", []op{
			{kind: 'c', val: cmd},
			{kind: 'w', reg: MSIXControl, size: 2, val: en | fm},
			{kind: 'b', reg: entry(0, MSIXEntryCtrl), size: 4, val: 0},
			{kind: 'b', reg: entry(5, MSIXEntryCtrl), size: 4, val: 0},
			{kind: 't', vec: 5, pending: []int{5}},
			{kind: 't', vec: 0, pending: []int{0, 5}},
			{kind: 'w', reg: MSIXControl, size: 2, val: en, msgs: []irq.MSI{msiMsg(0xfee0_0000, 0x30), msiMsg(0xfee0_1000, 0x35)}},
		}},
		{"pending survives disable; delivered on re-enable", []op{
			{kind: 'c', val: cmd},
			{kind: 'w', reg: MSIXControl, size: 2, val: en},
			{kind: 't', vec: 0, pending: []int{0}},
			{kind: 'w', reg: MSIXControl, size: 2, val: 0, pending: []int{0}},
			{kind: 'b', reg: entry(0, MSIXEntryCtrl), size: 4, val: 0, pending: []int{0}},
			{kind: 'w', reg: MSIXControl, size: 2, val: en, msgs: []irq.MSI{msiMsg(0xfee0_0000, 0x30)}},
		}},
		{"pending held until bus mastering is on", []op{
			{kind: 'w', reg: MSIXControl, size: 2, val: en},
			{kind: 't', vec: 5, pending: []int{5}},
			{kind: 'b', reg: entry(5, MSIXEntryCtrl), size: 4, val: 0, pending: []int{5}},
			{kind: 'c', val: cmd, msgs: []irq.MSI{msiMsg(0xfee0_1000, 0x35)}},
		}},
		{"PBA is read-only", []op{
			{kind: 'c', val: cmd},
			{kind: 'w', reg: MSIXControl, size: 2, val: en},
			{kind: 't', vec: 5, pending: []int{5}},
			{kind: 'b', reg: 0x800, size: 4, val: 0, pending: []int{5}},
		}},
		{"message changed while masked is used on unmask", []op{
			{kind: 'c', val: cmd},
			{kind: 'w', reg: MSIXControl, size: 2, val: en},
			{kind: 't', vec: 0, pending: []int{0}},
			{kind: 'b', reg: entry(0, MSIXEntryData), size: 4, val: 0x99, pending: []int{0}},
			{kind: 'b', reg: entry(0, MSIXEntryCtrl), size: 1, val: 0xfe, msgs: []irq.MSI{msiMsg(0xfee0_0000, 0x99)}},
		}},
		{"control writes outside the writable bits", []op{
			{kind: 'c', val: cmd},
			{kind: 'w', reg: MSIXControl, size: 2, val: 0x3fff},
			{kind: 't', vec: 0, err: ErrDisabled},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 0, 0)
			d := newTestDev(t, r.sender)
			if err := r.seg.Add(BDF{Device: 5}, d); err != nil {
				t.Fatal(err)
			}
			runOps(t, r, d, d.msix.Offset(), d.msix.Trigger, d.msix.Pending, 8, ops(base, tc.ops))
		})
	}
}

// TestMSIXTableAccess checks table and PBA reads through the BAR: what
// was written reads back, read-only bits read zero, QWORD accesses work,
// and pending bits show in the PBA.
func TestMSIXTableAccess(t *testing.T) {
	r := newRig(t, 0, 0)
	d := newTestDev(t, r.sender)
	b := BDF{Device: 5}
	if err := r.seg.Add(b, d); err != nil {
		t.Fatal(err)
	}
	r.write(b, RegCommand, 2, CmdMemorySpace|CmdBusMaster)
	r.write(b, d.msix.Offset()+MSIXControl, 2, MSIXEnable|MSIXFunctionMask)
	bar := d.BARAddress(0)
	read := func(off uint64, n int) uint64 {
		data := make([]byte, n)
		r.mmio.Read(bar+off, data)
		var v uint64
		for i := n - 1; i >= 0; i-- {
			v = v<<8 | uint64(data[i])
		}
		return v
	}
	write := func(off uint64, v uint64, n int) {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(v >> (8 * i))
		}
		r.mmio.Write(bar+off, data)
	}
	write(0x70, 0x0000_0001_fee0_3003, 8) // entry 7 address, QWORD
	write(0x78, 0xffff_ffff_0000_0047, 8) // data 0x47, vector control all ones
	for _, v := range []int{1, 7} {
		if err := d.msix.Trigger(v); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		off  uint64
		n    int
		want uint64
	}{
		{"entry 7 address, bits 1:0 zero", 0x70, 8, 0x0000_0001_fee0_3000},
		{"entry 7 data", 0x78, 4, 0x47},
		{"entry 7 vector control: only the mask bit", 0x7c, 4, 1},
		{"entry 6 after reset", 0x60, 8, 0},
		{"entry 6 masked at reset", 0x6c, 4, 1},
		{"PBA QWORD", 0x800, 8, 1<<1 | 1<<7},
		{"PBA byte", 0x800, 1, 1<<1 | 1<<7},
		{"past the PBA (device register space)", 0x808, 4, 0},
		{"past the table", 0x80, 4, 0},
	}
	for _, tc := range tests {
		if got := read(tc.off, tc.n); got != tc.want {
			t.Errorf("%s: read %d at %#x = %#x, want %#x", tc.name, tc.n, tc.off, got, tc.want)
		}
	}
	if ok := d.msix.ReadBAR(1, 0, make([]byte, 4)); ok {
		t.Error("ReadBAR served a BAR that holds no table")
	}
	if ok := d.msix.WriteBAR(0, 0x900, make([]byte, 4)); ok {
		t.Error("WriteBAR served an offset outside table and PBA")
	}
	msg, masked := d.msix.Message(7)
	if want := (irq.MSI{Addr: 0x1_fee0_3000, Data: 0x47, DevID: testRID}); msg != want || !masked {
		t.Errorf("Message(7) = %+v, %v; want %+v, true", msg, masked, want)
	}
}

func TestMSIXVectorHook(t *testing.T) {
	r := newRig(t, 0, 0)
	d := newTestDev(t, r.sender)
	b := BDF{Device: 5}
	if err := r.seg.Add(b, d); err != nil {
		t.Fatal(err)
	}
	r.write(b, RegCommand, 2, CmdMemorySpace|CmdBusMaster)
	type ev struct {
		V      int
		Msg    irq.MSI
		Masked bool
	}
	var got []ev
	hook := func(v int, m irq.MSI, masked bool) { got = append(got, ev{v, m, masked}) }
	bar := d.BARAddress(0)
	zero := msiMsg(0, 0)
	var initial []ev
	for v := range 8 {
		initial = append(initial, ev{v, zero, true})
	}
	ctl := d.msix.Offset() + MSIXControl
	steps := []struct {
		name string
		do   func()
		want []ev
	}{
		{"initial", func() { d.msix.SetVectorHook(hook) }, initial},
		{"program entry 2 while disabled", func() {
			r.mmio.Write(bar+0x20, leBytes(0xfee0_0000, 4))
			r.mmio.Write(bar+0x28, leBytes(0x22, 4))
		}, []ev{{2, msiMsg(0xfee0_0000, 0), true}, {2, msiMsg(0xfee0_0000, 0x22), true}}},
		{"unmask entry 2 while disabled", func() { r.mmio.Write(bar+0x2c, leBytes(0, 4)) }, nil},
		{"enable: entry 2 becomes live", func() { r.write(b, ctl, 2, MSIXEnable) }, []ev{{2, msiMsg(0xfee0_0000, 0x22), false}}},
		{"function mask", func() { r.write(b, ctl, 2, MSIXEnable|MSIXFunctionMask) }, []ev{{2, msiMsg(0xfee0_0000, 0x22), true}}},
		{"function unmask", func() { r.write(b, ctl, 2, MSIXEnable) }, []ev{{2, msiMsg(0xfee0_0000, 0x22), false}}},
		{"rewrite same data", func() { r.mmio.Write(bar+0x28, leBytes(0x22, 4)) }, nil},
		{"mask entry 2", func() { r.mmio.Write(bar+0x2c, leBytes(1, 4)) }, []ev{{2, msiMsg(0xfee0_0000, 0x22), true}}},
		{"remove the hook", func() { d.msix.SetVectorHook(nil); r.mmio.Write(bar+0x2c, leBytes(0, 4)) }, nil},
	}
	for _, s := range steps {
		got = nil
		s.do()
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("%s: hook calls (-want +got):\n%s", s.name, diff)
		}
	}
}

func TestAddMSIXErrors(t *testing.T) {
	newCS := func() *ConfigSpace {
		cs, _ := NewConfigSpace(Header{VendorID: 1})
		_ = cs.AddBAR(0, BAR{Type: BARMem32, Size: 0x1000, Handler: &barHandler{}})
		_ = cs.AddBAR(1, BAR{Type: BARIO, Size: 0x10, Handler: &barHandler{}})
		_ = cs.AddBAR(2, BAR{Type: BARMem64, Size: 0x8000, Handler: &barHandler{}})
		return cs
	}
	tests := []struct {
		name string
		cfg  MSIXConfig
		ok   bool
	}{
		{"fits", MSIXConfig{Vectors: 64, TableBAR: 0, PBABAR: 0, PBAOffset: 0x400}, true},
		{"separate BARs", MSIXConfig{Vectors: 2048, TableBAR: 2, PBABAR: 0, PBAOffset: 0xf00}, true},
		{"zero vectors", MSIXConfig{Vectors: 0, PBAOffset: 0x800}, false},
		{"2049 vectors", MSIXConfig{Vectors: 2049, TableBAR: 2, PBABAR: 0}, false},
		{"I/O BAR", MSIXConfig{Vectors: 1, TableBAR: 1, PBABAR: 0, PBAOffset: 0x800}, false},
		{"undeclared BAR", MSIXConfig{Vectors: 1, TableBAR: 4, PBABAR: 0, PBAOffset: 0x800}, false},
		{"upper half of a 64-bit BAR", MSIXConfig{Vectors: 1, TableBAR: 3, PBABAR: 0, PBAOffset: 0x800}, false},
		{"unaligned table", MSIXConfig{Vectors: 1, TableOffset: 4, PBAOffset: 0x800}, false},
		{"unaligned PBA", MSIXConfig{Vectors: 1, PBAOffset: 0x804}, false},
		{"table past the BAR", MSIXConfig{Vectors: 257, PBABAR: 2}, false},
		{"PBA past the BAR", MSIXConfig{Vectors: 1, PBAOffset: 0xffc}, false},
		{"overlap", MSIXConfig{Vectors: 8, PBAOffset: 0x78}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := newCS()
			m, err := AddMSIX(cs, tc.cfg, &recSender{})
			if (err == nil) != tc.ok {
				t.Fatalf("AddMSIX(%+v) = %v, want ok=%v", tc.cfg, err, tc.ok)
			}
			if !tc.ok {
				if _, found := cs.FindCapability(CapIDMSIX); found {
					t.Error("capability added despite the error")
				}
				return
			}
			off := m.Offset()
			if got := cs.Uint16(off + MSIXControl); got != uint16(tc.cfg.Vectors-1) {
				t.Errorf("Message Control = %#x, want table size %#x", got, tc.cfg.Vectors-1)
			}
			if got := cs.Uint32(off + MSIXTable); got != tc.cfg.TableOffset|uint32(tc.cfg.TableBAR) {
				t.Errorf("Table Offset/BIR = %#x", got)
			}
			if got := cs.Uint32(off + MSIXPBA); got != tc.cfg.PBAOffset|uint32(tc.cfg.PBABAR) {
				t.Errorf("PBA Offset/BIR = %#x", got)
			}
			if m.Layout() != tc.cfg {
				t.Errorf("Layout = %+v", m.Layout())
			}
		})
	}
	if _, err := AddMSIX(newCS(), MSIXConfig{Vectors: 1, PBAOffset: 0x800}, nil); err == nil {
		t.Error("AddMSIX without a sender succeeded")
	}
}

func TestMSIXSendError(t *testing.T) {
	s := &recSender{err: errSend}
	cs, _ := NewConfigSpace(Header{VendorID: 1})
	_ = cs.AddBAR(0, BAR{Type: BARMem32, Size: 0x1000, Handler: &barHandler{}})
	m, err := AddMSIX(cs, MSIXConfig{Vectors: 1, PBAOffset: 0x800}, s)
	if err != nil {
		t.Fatal(err)
	}
	cs.WriteConfig(RegCommand, []byte{CmdBusMaster, 0})
	cs.WriteConfig(m.Offset()+MSIXControl, []byte{0, 0x80})
	m.WriteBAR(0, MSIXEntryCtrl, []byte{0, 0, 0, 0})
	if err := m.Trigger(0); !errors.Is(err, errSend) {
		t.Errorf("Trigger = %v, want the sender's error", err)
	}
}
