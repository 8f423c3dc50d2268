package pci

import (
	"sync"
	"testing"

	"github.com/govmm/govmm/devices/irq"
)

// TestConcurrentAccess runs configuration reads and writes from several
// "vCPU" goroutines, BAR accesses, and MSI/MSI-X triggers from "device"
// goroutines at once (run it with -race), then checks the segment is
// consistent once they stop. Every loop runs a fixed number of
// iterations; nothing depends on timing.
func TestConcurrentAccess(t *testing.T) {
	r := newFuzzRig(t)
	a, b := r.full[fuzzDevA], r.full[fuzzDevB]
	var hookMu sync.Mutex
	hookCalls := 0
	a.msix.SetVectorHook(func(int, irq.MSI, bool) { hookMu.Lock(); hookCalls++; hookMu.Unlock() })
	r.write(fuzzDevA, a.msix.Offset()+MSIXControl, 2, MSIXEnable)
	r.write(fuzzDevA, a.msi.Offset()+MSIControl, 2, MSIEnable)
	const iters = 400
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	report := func(s string) {
		select {
		case errs <- s:
		default:
		}
	}
	run := func(fn func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range iters {
				fn(i)
			}
		}()
	}
	barA0 := a.BARAddress(0)
	barB0 := b.BARAddress(0)
	// vCPU 0: toggles device A's decode and bus mastering, reads IDs.
	run(func(i int) {
		r.write(fuzzDevA, RegCommand, 2, uint32([]uint16{0, CmdMemorySpace | CmdBusMaster, CmdIOSpace | CmdMemorySpace, CmdBusMaster}[i%4]))
		if v := r.read(fuzzDevA, RegVendorID, 4); v != 0x0005_1b36 {
			report("torn vendor/device ID read")
		}
	})
	// vCPU 1: moves device B's BAR 0 back and forth with decode on.
	run(func(i int) {
		r.write(fuzzDevB, RegCommand, 2, CmdMemorySpace)
		r.write(fuzzDevB, RegBAR0, 4, uint32(barB0)+uint32(i%2)*0x10_0000)
		_ = r.read(fuzzDevB, RegBAR0, 4)
	})
	// vCPU 2: programs and masks MSI-X entries through device A's BAR.
	run(func(i int) {
		v := uint64(i % 8)
		a.msix.WriteBAR(0, v*16, leBytes(0xfee0_0000, 4))
		a.msix.WriteBAR(0, v*16+8, leBytes(uint32(i), 4))
		a.msix.WriteBAR(0, v*16+12, leBytes(uint32(i/8%2), 4))
		r.mmio.Read(barA0+v*16, make([]byte, 4))
	})
	// vCPU 3: CF8/CFC reads (the only user of the shared latch).
	run(func(i int) {
		if v := r.cf8Read(fuzzDevB, RegVendorID, 2); v != 0x1b36 {
			report("CF8/CFC vendor ID read wrong")
		}
		r.cf8Write(fuzzDevA, a.msi.Offset()+MSIMask, 1, uint32(i%2))
	})
	// Devices: trigger MSI and MSI-X vectors.
	run(func(i int) { _ = a.msix.Trigger(i % 8); _ = a.msi.Trigger(0) })
	run(func(i int) { _ = a.msix.Trigger(7 - i%8); _ = b.msix.Trigger(i % 8) })
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	// Quiesce: a final Command write per device settles the BAR model.
	for _, bdf := range []BDF{fuzzDevA, fuzzDevB, fuzzFn} {
		r.write(bdf, RegCommand, 2, CmdMemorySpace|CmdIOSpace|CmdBusMaster)
	}
	r.check(t)
	// Nothing deliverable may remain pending.
	for v := range 8 {
		if _, masked := a.msix.Message(v); !masked && a.msix.Pending(v) {
			t.Errorf("MSI-X vector %d unmasked but pending", v)
		}
	}
	hookMu.Lock()
	defer hookMu.Unlock()
	if hookCalls == 0 {
		t.Error("vector hook never called")
	}
}
