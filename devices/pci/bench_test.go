package pci

import (
	"testing"

	"github.com/govmm/govmm/devices/irq"
)

type nopSender struct{}

func (nopSender) SendMSI(irq.MSI) error { return nil }

func benchRig(b *testing.B) (*rig, *testDev) {
	r := newRig(b, 0, 0)
	d := newTestDev(b, nopSender{})
	if err := r.seg.Add(BDF{Device: 5}, d); err != nil {
		b.Fatal(err)
	}
	return r, d
}

// BenchmarkECAMRead is a guest DWORD read of a header register through
// the ECAM handler (the common case during enumeration).
func BenchmarkECAMRead(b *testing.B) {
	r, _ := benchRig(b)
	h := r.seg.ECAM()
	off := ECAMOffset(BDF{Device: 5}, RegVendorID)
	data := make([]byte, 4)
	b.ReportAllocs()
	for b.Loop() {
		h.Read(off, data)
	}
}

// BenchmarkECAMReadParallel is the same read from all vCPUs at once.
func BenchmarkECAMReadParallel(b *testing.B) {
	r, _ := benchRig(b)
	h := r.seg.ECAM()
	off := ECAMOffset(BDF{Device: 5}, RegVendorID)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		data := make([]byte, 4)
		for pb.Next() {
			h.Read(off, data)
		}
	})
}

// BenchmarkECAMReadAbsent is a read of an empty slot (bus scans).
func BenchmarkECAMReadAbsent(b *testing.B) {
	r, _ := benchRig(b)
	h := r.seg.ECAM()
	off := ECAMOffset(BDF{Device: 17}, RegVendorID)
	data := make([]byte, 4)
	b.ReportAllocs()
	for b.Loop() {
		h.Read(off, data)
	}
}

// BenchmarkConfigIORead is a CF8 write plus a CFC read.
func BenchmarkConfigIORead(b *testing.B) {
	r, _ := benchRig(b)
	addr := leBytes(ConfigAddress(BDF{Device: 5}, RegVendorID), 4)
	data := make([]byte, 4)
	b.ReportAllocs()
	for b.Loop() {
		r.cio.Write(0, addr)
		r.cio.Read(4, data)
	}
}

// BenchmarkCommandWrite is a guest Command write that keeps the BARs
// where they are (reconciliation with nothing to change).
func BenchmarkCommandWrite(b *testing.B) {
	r, _ := benchRig(b)
	h := r.seg.ECAM()
	off := ECAMOffset(BDF{Device: 5}, RegCommand)
	data := []byte{CmdMemorySpace | CmdIOSpace | CmdBusMaster, 0}
	b.ReportAllocs()
	for b.Loop() {
		h.Write(off, data)
	}
}

// BenchmarkMSIXTrigger is an unmasked MSI-X vector firing.
func BenchmarkMSIXTrigger(b *testing.B) {
	r, d := benchRig(b)
	bdf := BDF{Device: 5}
	r.write(bdf, RegCommand, 2, CmdMemorySpace|CmdBusMaster)
	r.write(bdf, d.msix.Offset()+MSIXControl, 2, MSIXEnable)
	d.msix.WriteBAR(0, 3*16, leBytes(0xfee0_0000, 4))
	d.msix.WriteBAR(0, 3*16+12, leBytes(0, 4))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.msix.Trigger(3); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMSIXTriggerParallel fires different vectors from several
// device goroutines.
func BenchmarkMSIXTriggerParallel(b *testing.B) {
	r, d := benchRig(b)
	bdf := BDF{Device: 5}
	r.write(bdf, RegCommand, 2, CmdMemorySpace|CmdBusMaster)
	r.write(bdf, d.msix.Offset()+MSIXControl, 2, MSIXEnable)
	for v := range 8 {
		d.msix.WriteBAR(0, uint64(v)*16+12, leBytes(0, 4))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		v := 0
		for pb.Next() {
			_ = d.msix.Trigger(v % 8)
			v++
		}
	})
}

// BenchmarkMSITrigger is an unmasked MSI vector firing.
func BenchmarkMSITrigger(b *testing.B) {
	r, d := benchRig(b)
	bdf := BDF{Device: 5}
	r.write(bdf, RegCommand, 2, CmdBusMaster)
	r.write(bdf, d.msi.Offset()+MSIControl, 2, MSIEnable)
	b.ReportAllocs()
	for b.Loop() {
		if err := d.msi.Trigger(0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMSIXTableWrite is a guest DWORD write to a table entry's data.
func BenchmarkMSIXTableWrite(b *testing.B) {
	_, d := benchRig(b)
	data := leBytes(0x41, 4)
	b.ReportAllocs()
	for b.Loop() {
		d.msix.WriteBAR(0, 2*16+8, data)
	}
}
