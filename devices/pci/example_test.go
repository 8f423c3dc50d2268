package pci_test

import (
	"encoding/binary"
	"fmt"

	"github.com/govmm/govmm/devices/bus"
	"github.com/govmm/govmm/devices/irq"
	"github.com/govmm/govmm/devices/pci"
)

// printSender stands in for the VMM's KVM-backed irq.MSISender.
type printSender struct{}

func (printSender) SendMSI(m irq.MSI) error {
	fmt.Printf("MSI addr=%#x data=%#x from %v\n", m.Addr, m.Data, pci.BDFFromRequesterID(uint16(m.DevID)))
	return nil
}

// regs is a device's register BAR: the MSI-X table and PBA, and one
// scratch register at 0x100.
type regs struct {
	msix    *pci.MSIX
	scratch uint32
}

func (r *regs) Read(off uint64, data []byte) {
	if r.msix.ReadBAR(0, off, data) {
		return
	}
	clear(data)
	if off == 0x100 && len(data) == 4 {
		binary.LittleEndian.PutUint32(data, r.scratch)
	}
}

func (r *regs) Write(off uint64, data []byte) {
	if !r.msix.WriteBAR(0, off, data) && off == 0x100 && len(data) == 4 {
		r.scratch = binary.LittleEndian.Uint32(data)
	}
}

// Example builds a one-bus segment with the host bridge and a device with
// a memory BAR and MSI-X, then plays the guest: it enumerates the bus
// through ECAM, sizes the BAR, enables decode and bus mastering, programs
// an MSI-X vector, and lets the device raise it.
func Example() {
	mmio, ports := &bus.Bus{}, &bus.Bus{}
	seg, err := pci.NewSegment(pci.SegmentConfig{
		ECAMBase: 0xe000_0000, BusStart: 0, BusEnd: 0,
		MMIO: mmio, IO: ports,
		MMIO32:  pci.Window{Base: 0xc000_0000, Size: 0x1000_0000},
		IOPorts: pci.Window{Base: 0xc000, Size: 0x1000},
	})
	if err != nil {
		panic(err)
	}
	base, size := seg.ECAMWindow()
	if err := mmio.Insert(base, size, seg.ECAM()); err != nil {
		panic(err)
	}
	if err := ports.Insert(pci.ConfigIOPort, pci.ConfigIOSize, pci.NewConfigIO(seg, nil)); err != nil {
		panic(err)
	}

	// The device: 1b36:0005, one 4 KiB BAR with a 2-vector MSI-X table.
	cs, err := pci.NewConfigSpace(pci.Header{VendorID: 0x1b36, DeviceID: 0x0005, Class: pci.ClassOther})
	if err != nil {
		panic(err)
	}
	r := &regs{}
	if err := cs.AddBAR(0, pci.BAR{Type: pci.BARMem32, Size: 0x1000, Handler: r}); err != nil {
		panic(err)
	}
	if r.msix, err = pci.AddMSIX(cs, pci.MSIXConfig{Vectors: 2, TableOffset: 0x800, PBAOffset: 0xc00}, printSender{}); err != nil {
		panic(err)
	}
	if err := seg.Add(pci.BDF{}, pci.NewHostBridge()); err != nil {
		panic(err)
	}
	dev := pci.BDF{Device: 3}
	if err := seg.Add(dev, cs); err != nil {
		panic(err)
	}
	fmt.Printf("device %v has requester ID %#04x\n", dev, cs.RequesterID())

	// The guest side, through ECAM only.
	cfg32 := func(b pci.BDF, reg int) uint32 {
		var d [4]byte
		mmio.Read(0xe000_0000+pci.ECAMOffset(b, reg), d[:])
		return binary.LittleEndian.Uint32(d[:])
	}
	setCfg := func(b pci.BDF, reg, n int, v uint32) {
		var d [4]byte
		binary.LittleEndian.PutUint32(d[:], v)
		mmio.Write(0xe000_0000+pci.ECAMOffset(b, reg), d[:n])
	}
	mem32 := func(addr uint64, v uint32) {
		var d [4]byte
		binary.LittleEndian.PutUint32(d[:], v)
		mmio.Write(addr, d[:])
	}
	for d := uint8(0); d < 32; d++ {
		b := pci.BDF{Device: d}
		if id := cfg32(b, pci.RegVendorID); id != 0xffff_ffff {
			fmt.Printf("%v %04x:%04x class %06x\n", b, id&0xffff, id>>16, cfg32(b, pci.RegRevisionID)>>8)
		}
	}
	bar := cfg32(dev, pci.RegBAR0)
	setCfg(dev, pci.RegBAR0, 4, 0xffff_ffff)
	fmt.Printf("BAR0 at %#x, size %#x\n", bar&^0xf, ^(cfg32(dev, pci.RegBAR0)&^0xf)+1)
	setCfg(dev, pci.RegBAR0, 4, bar)

	setCfg(dev, pci.RegCommand, 2, pci.CmdMemorySpace|pci.CmdBusMaster)
	msix, _ := cs.FindCapability(pci.CapIDMSIX)
	setCfg(dev, msix+pci.MSIXControl, 2, pci.MSIXEnable)
	entry := uint64(bar&^0xf) + 0x800 + 1*pci.MSIXEntrySize
	mem32(entry+pci.MSIXEntryAddrLo, 0xfee0_0000)
	mem32(entry+pci.MSIXEntryData, 0x4021)
	mem32(entry+pci.MSIXEntryCtrl, 0) // unmask vector 1

	if err := r.msix.Trigger(1); err != nil {
		panic(err)
	}
	// Output:
	// device 00:03.0 has requester ID 0x0018
	// 00:00.0 8086:29c0 class 060000
	// 00:03.0 1b36:0005 class ff0000
	// BAR0 at 0xc0000000, size 0x1000
	// MSI addr=0xfee00000 data=0x4021 from 00:03.0
}
