package vtd

import (
	"errors"
	"testing"

	"github.com/govmm/govmm/devices/irq"
	"github.com/govmm/govmm/dma"
)

// faultingEnv returns an enabled unit whose device 00:03.0 has an empty
// page table, so every DMA faults with FaultRead or FaultWrite.
func faultingEnv(t *testing.T, fpd bool) (*testEnv, *AddressSpace) {
	t.Helper()
	e := newEnv(t, DefaultConfig(), 4<<20)
	root := e.setRoot()
	e.setContext(root, sid(0, 3, 0), ctxLo(e.page(), ttMultiLevel, fpd), ctxHi(2, 5))
	e.gcmd(gcmdTE, true)
	return e, e.u.AddressSpace(sid(0, 3, 0))
}

func TestFaultRecordLayout(t *testing.T) {
	e, as := faultingEnv(t, false)
	var hooked []FaultRecord
	e.u.SetFaultHook(func(r FaultRecord) { hooked = append(hooked, r) })
	if _, _, err := as.Translate(0x12345678, 4, dma.Write); err == nil {
		t.Fatal("no fault")
	}
	if _, _, err := as.Translate(0x9abc0, 4, dma.Read); err == nil {
		t.Fatal("no fault")
	}
	tests := []struct {
		rec        int
		lo, hi     uint64
		fri        uint32
		reasonName string
	}{
		{0, 0x12345000, 1<<63 | uint64(FaultWrite)<<32 | uint64(sid(0, 3, 0)), 0, "write not permitted"},
		{1, 0x9a000, 1<<63 | 1<<62 | uint64(FaultRead)<<32 | uint64(sid(0, 3, 0)), 0, "read not permitted"},
	}
	for _, tc := range tests {
		off := uint64(RegFRCD + tc.rec*16)
		if lo, hi := e.r64(off), e.r64(off+8); lo != tc.lo || hi != tc.hi {
			t.Errorf("FRCD%d = %#x %#x, want %#x %#x", tc.rec, hi, lo, tc.hi, tc.lo)
		}
		if got := FaultReason(tc.hi >> 32 & 0xff).String(); got != tc.reasonName {
			t.Errorf("reason name %q, want %q", got, tc.reasonName)
		}
	}
	if got := e.r32(RegFSTS); got != fstsPPF {
		t.Errorf("FSTS = %#x, want PPF with FRI 0", got)
	}
	if len(hooked) != 2 || !hooked[0].Logged || hooked[0].Reason != FaultWrite || hooked[1].Access != dma.Read {
		t.Errorf("fault hook got %+v", hooked)
	}
	if s := hooked[0].String(); s != "DMAR write [00:03.0] fault addr 0x12345678 reason 0x05 (write not permitted)" {
		t.Errorf("FaultRecord.String() = %q", s)
	}
}

// TestFaultRingOverflow fills the 8 records, overflows (PFO), clears the
// records the way Linux's dmar_fault does, and checks recording resumes.
func TestFaultRingOverflow(t *testing.T) {
	e, as := faultingEnv(t, false)
	for i := 0; i < NumFaultRecords+3; i++ {
		as.Translate(uint64(i)<<12, 1, dma.Read)
	}
	fsts := e.r32(RegFSTS)
	if fsts&(fstsPFO|fstsPPF) != fstsPFO|fstsPPF || fsts>>8&0xff != 0 {
		t.Fatalf("FSTS = %#x, want PFO, PPF, FRI 0", fsts)
	}
	for i := 0; i < NumFaultRecords; i++ {
		if lo := e.r64(uint64(RegFRCD + i*16)); lo != uint64(i)<<12 {
			t.Errorf("FRCD%d address %#x, want %#x (overflowing faults must not overwrite)", i, lo, i<<12)
		}
	}
	// Clear records 0-2 only: PFO still drops faults.
	for i := 0; i < 3; i++ {
		e.w32(uint64(RegFRCD+i*16+12), 1<<31)
	}
	as.Translate(0x100000, 1, dma.Read)
	if e.r64(RegFRCD) != 0 || e.r64(RegFRCD+8)&frcdF != 0 {
		t.Errorf("a fault was logged while PFO was set")
	}
	// Clear the rest and PFO, as Linux does; recording resumes at the
	// ring position after the last record written.
	for i := 3; i < NumFaultRecords; i++ {
		e.w32(uint64(RegFRCD+i*16+12), 1<<31)
	}
	e.w32(RegFSTS, fstsPFO|fstsPPF)
	if got := e.r32(RegFSTS); got&(fstsPFO|fstsPPF) != 0 {
		t.Fatalf("FSTS = %#x after clearing", got)
	}
	as.Translate(0x200000, 1, dma.Read)
	fsts = e.r32(RegFSTS)
	fri := uint64(fsts >> 8 & 0xff)
	if fsts&fstsPPF == 0 || e.r64(RegFRCD+fri*16) != 0x200000 {
		t.Errorf("after clearing: FSTS %#x, FRCD%d %#x", fsts, fri, e.r64(RegFRCD+fri*16))
	}
	// Writing 0 to F, or to read-only fields, changes nothing.
	e.w64(RegFRCD+fri*16, 0)
	e.w32(uint64(RegFRCD)+fri*16+12, 0)
	if e.r64(RegFRCD+fri*16) != 0x200000 || e.r64(RegFRCD+fri*16+8)&frcdF == 0 {
		t.Errorf("read-only FRCD fields or F changed")
	}
}

// TestFaultFPD checks that FPD suppresses qualified faults only.
func TestFaultFPD(t *testing.T) {
	tests := []struct {
		name   string
		reason FaultReason
		logged bool
	}{
		{"write (qualified)", FaultWrite, false},
		{"root not present (not qualified)", FaultRootNotPresent, true},
	}
	for _, tc := range tests {
		e, as := faultingEnv(t, true)
		if tc.reason == FaultRootNotPresent {
			// A fresh root table: FPD lives in a context entry it cannot reach.
			e.setRoot()
		}
		var rec FaultRecord
		e.u.SetFaultHook(func(r FaultRecord) { rec = r })
		_, _, err := as.Translate(0x1000, 1, dma.Write)
		var f *dma.Fault
		if !errors.As(err, &f) {
			t.Fatalf("%s: %v, want a *dma.Fault", tc.name, err)
		}
		logged := e.r32(RegFSTS)&fstsPPF != 0
		if logged != tc.logged || rec.Logged != tc.logged || rec.Suppressed == tc.logged || rec.Reason != tc.reason {
			t.Errorf("%s: logged %v, hook %+v", tc.name, logged, rec)
		}
	}
}

// TestFaultEventMSI checks the fault event: sent unless FECTL.IM, IP
// pending while masked and sent on unmask, one event per interrupt
// condition, IP cleared when software clears the condition.
func TestFaultEventMSI(t *testing.T) {
	e, as := faultingEnv(t, false)
	e.w32(RegFEDATA, 0x4041)
	e.w32(RegFEADDR, 0xfee01000)
	e.w32(RegFEUADDR, 0)
	// Masked at reset.
	as.Translate(0x1000, 1, dma.Read)
	if e.msi.count() != 0 || e.r32(RegFECTL) != fectlIM|fectlIP {
		t.Fatalf("masked: %d MSIs, FECTL %#x", e.msi.count(), e.r32(RegFECTL))
	}
	e.w32(RegFECTL, 0) // unmask: the pending event is sent
	if e.msi.count() != 1 || e.r32(RegFECTL) != 0 {
		t.Fatalf("unmask: %d MSIs, FECTL %#x", e.msi.count(), e.r32(RegFECTL))
	}
	if m := e.msi.last(); m != (irq.MSI{Addr: 0xfee01000, Data: 0x4041}) {
		t.Errorf("fault MSI %+v", m)
	}
	as.Translate(0x2000, 1, dma.Read) // PPF already set: no new event
	if e.msi.count() != 1 {
		t.Errorf("%d MSIs for a second pending fault", e.msi.count())
	}
	for i := 0; i < 2; i++ {
		e.w32(uint64(RegFRCD+i*16+12), 1<<31)
	}
	e.w32(RegFSTS, fstsPPF|fstsPFO)
	as.Translate(0x3000, 1, dma.Read) // a new condition: a new event
	if e.msi.count() != 2 {
		t.Errorf("%d MSIs after clearing and faulting again", e.msi.count())
	}
	// Masked with IP set, then software clears the condition: IP clears and
	// unmasking sends nothing.
	e.w32(RegFECTL, fectlIM)
	e.w32(uint64(RegFRCD+2*16+12), 1<<31)
	as.Translate(0x4000, 1, dma.Read)
	if e.r32(RegFECTL) != fectlIM|fectlIP {
		t.Fatalf("FECTL %#x", e.r32(RegFECTL))
	}
	fri := uint64(e.r32(RegFSTS) >> 8 & 0xff)
	e.w32(uint64(RegFRCD)+fri*16+12, 1<<31)
	if e.r32(RegFECTL) != fectlIM {
		t.Errorf("FECTL %#x after the condition was cleared", e.r32(RegFECTL))
	}
	e.w32(RegFECTL, 0)
	if e.msi.count() != 2 {
		t.Errorf("%d MSIs: an event for a serviced condition", e.msi.count())
	}
}

// TestFaultMSIError checks that a failing MSI sender is reported through
// the error hook and nothing else breaks.
func TestFaultMSIError(t *testing.T) {
	e, as := faultingEnv(t, false)
	e.w32(RegFECTL, 0)
	e.msi.err = errors.New("kvm said no")
	var got error
	e.u.SetErrorHook(func(err error) { got = err })
	as.Translate(0x1000, 1, dma.Read)
	if got == nil || !errors.Is(got, e.msi.err) {
		t.Errorf("error hook got %v", got)
	}
	e.u.SetErrorHook(nil)
	e.u.SetFaultHook(nil)
	as.Translate(0x1000, 1, dma.Read)
}
