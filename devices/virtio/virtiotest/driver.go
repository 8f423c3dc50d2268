package virtiotest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/dma"
)

// ErrFeaturesRejected is returned by Driver.Init when the device does not
// keep FEATURES_OK set after the driver wrote it (§3.1.1 step 6).
var ErrFeaturesRejected = errors.New("virtiotest: device rejected the features (FEATURES_OK did not stick)")

// Driver is the guest driver of one virtio PCI function, modelled on
// Linux's virtio_pci_modern: it locates the structures through the vendor
// capabilities, enables memory decode, bus mastering and MSI-X with
// vector 0 for configuration changes and vector i+1 for queue i, and
// drives the device through its BAR.
type Driver struct {
	M   *Machine
	BDF pci.BDF
	// AS is the mapping from the driver's IOVAs to guest-physical
	// addresses (the IOMMU mapping the guest OS set up); the driver
	// writes rings and buffers through it.
	AS dma.AddressSpace

	Bar                            uint64 // BAR base address
	Common, ISR, DeviceCfg, Notify uint64 // structure addresses in the BAR (absolute)
	DeviceCfgLen                   uint32
	NotifyMul                      uint32
	PCICfgCap                      int // offset of the VIRTIO_PCI_CAP_PCI_CFG capability, 0 if absent
	MSIXCap                        int
	Vectors                        int
	Features                       uint64 // negotiated by Init
	allocMu                        sync.Mutex
	iovaNext, iovaEnd              uint64
	ringsEnd                       uint64 // iovaNext after the last SetupQueue
	Queues                         []*Queue
}

// Cfg reads n (1, 2 or 4) bytes of the function's configuration space at
// off through ECAM.
func (d *Driver) Cfg(off, n int) uint32 {
	var b [4]byte
	d.M.MMIO.Read(ECAMBase+pci.ECAMOffset(d.BDF, off), b[:n])
	return binary.LittleEndian.Uint32(b[:])
}

// SetCfg writes n bytes of v to configuration space at off through ECAM.
func (d *Driver) SetCfg(off, n int, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	d.M.MMIO.Write(ECAMBase+pci.ECAMOffset(d.BDF, off), b[:n])
}

// Read reads n (1, 2, 4 or 8) bytes at the guest-physical MMIO address
// addr.
func (d *Driver) Read(addr uint64, n int) uint64 {
	var b [8]byte
	d.M.MMIO.Read(addr, b[:n])
	return binary.LittleEndian.Uint64(b[:])
}

// Write writes n bytes of v at the MMIO address addr.
func (d *Driver) Write(addr uint64, n int, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	d.M.MMIO.Write(addr, b[:n])
}

// write64 writes a 64-bit register as two 32-bit halves, low first, as
// Linux's vp_iowrite64_twopart does.
func (d *Driver) write64(addr, v uint64) {
	d.Write(addr, 4, v&0xffffffff)
	d.Write(addr+4, 4, v>>32)
}

// Probe finds the virtio function at bdf and prepares it as Linux's
// virtio_pci_modern_probe and vp_find_vqs do: structures located, Memory
// Space and Bus Master enabled, every MSI-X vector programmed (address
// MSIAddress, data 0x4000|vector) and unmasked, MSI-X enabled. as maps
// the driver's IOVAs; the driver allocates rings and buffers from
// [iovaBase, iovaBase+iovaSize).
func (m *Machine) Probe(bdf pci.BDF, as dma.AddressSpace, iovaBase, iovaSize uint64) (*Driver, error) {
	d := &Driver{M: m, BDF: bdf, AS: as, iovaNext: iovaBase, iovaEnd: iovaBase + iovaSize}
	if v := d.Cfg(pci.RegVendorID, 2); v != virtio.PCIVendorID {
		return nil, fmt.Errorf("virtiotest: %v: vendor %#04x is not virtio", bdf, v)
	}
	if id := d.Cfg(pci.RegDeviceID, 2); id < 0x1040 || id > 0x107f {
		return nil, fmt.Errorf("virtiotest: %v: device ID %#04x is not a modern virtio device", bdf, id)
	}
	bar := uint64(d.Cfg(pci.RegBAR0, 4))
	if bar&0x6 != 0x4 {
		return nil, fmt.Errorf("virtiotest: %v: BAR0 %#x is not a 64-bit memory BAR", bdf, bar)
	}
	d.Bar = bar&^0xf | uint64(d.Cfg(pci.RegBAR0+4, 4))<<32
	found := map[uint8]bool{}
	for ptr := int(d.Cfg(pci.RegCapabilitiesPtr, 1)) &^ 3; ptr != 0; ptr = int(d.Cfg(ptr+1, 1)) &^ 3 {
		switch d.Cfg(ptr, 1) {
		case pci.CapIDMSIX:
			d.MSIXCap = ptr
			d.Vectors = int(d.Cfg(ptr+pci.MSIXControl, 2)&pci.MSIXTableSizeMask) + 1
		case pci.CapIDVendorSpecific:
			typ := uint8(d.Cfg(ptr+3, 1))
			if found[typ] {
				continue // the first capability of each type wins
			}
			found[typ] = true
			if typ == virtio.PCICapPCICfg {
				d.PCICfgCap = ptr
				continue
			}
			if b := d.Cfg(ptr+4, 1); b != virtio.BARIndex {
				return nil, fmt.Errorf("virtiotest: %v: capability type %d in BAR %d", bdf, typ, b)
			}
			addr := d.Bar + uint64(d.Cfg(ptr+8, 4))
			switch typ {
			case virtio.PCICapCommonCfg:
				d.Common = addr
			case virtio.PCICapNotifyCfg:
				d.Notify, d.NotifyMul = addr, d.Cfg(ptr+16, 4)
			case virtio.PCICapISRCfg:
				d.ISR = addr
			case virtio.PCICapDeviceCfg:
				d.DeviceCfg, d.DeviceCfgLen = addr, d.Cfg(ptr+12, 4)
			}
		}
	}
	if !found[virtio.PCICapCommonCfg] || !found[virtio.PCICapNotifyCfg] || !found[virtio.PCICapISRCfg] || d.MSIXCap == 0 {
		return nil, fmt.Errorf("virtiotest: %v: missing common, notify or ISR capability, or MSI-X", bdf)
	}
	d.SetCfg(pci.RegCommand, 2, pci.CmdMemorySpace|pci.CmdBusMaster)
	tbl := d.Cfg(d.MSIXCap+pci.MSIXTable, 4)
	table := d.Bar + uint64(tbl&^7)
	for v := range d.Vectors {
		e := table + uint64(v)*pci.MSIXEntrySize
		d.Write(e+pci.MSIXEntryAddrLo, 4, MSIAddress)
		d.Write(e+pci.MSIXEntryAddrHi, 4, 0)
		d.Write(e+pci.MSIXEntryData, 4, uint64(msiData(v)))
		d.Write(e+pci.MSIXEntryCtrl, 4, 0)
		m.MSI.signal(v)
	}
	d.SetCfg(d.MSIXCap+pci.MSIXControl, 2, pci.MSIXEnable)
	return d, nil
}

// MaskVector sets or clears the Mask Bit of MSI-X vector v.
func (d *Driver) MaskVector(v int, masked bool) {
	table := d.Bar + uint64(d.Cfg(d.MSIXCap+pci.MSIXTable, 4)&^7)
	var ctl uint64
	if masked {
		ctl = 1
	}
	d.Write(table+uint64(v)*pci.MSIXEntrySize+pci.MSIXEntryCtrl, 4, ctl)
}

// Status reads device_status.
func (d *Driver) Status() uint8 { return uint8(d.Read(d.Common+virtio.CommonDeviceStatus, 1)) }

// SetStatus writes device_status.
func (d *Driver) SetStatus(s uint8) { d.Write(d.Common+virtio.CommonDeviceStatus, 1, uint64(s)) }

// Reset writes 0 to device_status and waits for it to read 0, as
// vp_modern_set_status/vp_reset do. It forgets the driver's queues.
func (d *Driver) Reset() {
	d.SetStatus(0)
	for d.Status() != 0 {
		runtime.Gosched()
	}
	d.Queues = nil
}

// Offered reads the 64 offered feature bits (device_feature_select 0, 1).
func (d *Driver) Offered() uint64 {
	d.Write(d.Common+virtio.CommonDeviceFeatureSelect, 4, 0)
	lo := d.Read(d.Common+virtio.CommonDeviceFeature, 4)
	d.Write(d.Common+virtio.CommonDeviceFeatureSelect, 4, 1)
	hi := d.Read(d.Common+virtio.CommonDeviceFeature, 4)
	return lo | hi<<32
}

// Init resets the device and negotiates: ACKNOWLEDGE, DRIVER, accept the
// offered features that are in want, FEATURES_OK and read it back, then
// assign vector 0 to configuration changes. It returns the accepted
// features or ErrFeaturesRejected.
func (d *Driver) Init(want uint64) (uint64, error) {
	d.Reset()
	d.SetStatus(virtio.StatusAcknowledge)
	d.SetStatus(virtio.StatusAcknowledge | virtio.StatusDriver)
	f := d.Offered() & want
	d.Write(d.Common+virtio.CommonDriverFeatureSelect, 4, 0)
	d.Write(d.Common+virtio.CommonDriverFeature, 4, f&0xffffffff)
	d.Write(d.Common+virtio.CommonDriverFeatureSelect, 4, 1)
	d.Write(d.Common+virtio.CommonDriverFeature, 4, f>>32)
	d.SetStatus(virtio.StatusAcknowledge | virtio.StatusDriver | virtio.StatusFeaturesOK)
	if d.Status()&virtio.StatusFeaturesOK == 0 {
		return 0, ErrFeaturesRejected
	}
	d.Write(d.Common+virtio.CommonConfigMSIXVector, 2, 0)
	if d.Read(d.Common+virtio.CommonConfigMSIXVector, 2) != 0 {
		return 0, fmt.Errorf("virtiotest: configuration vector 0 not accepted")
	}
	d.Features = f
	return f, nil
}

// DriverOK sets DRIVER_OK: the device goes live.
func (d *Driver) DriverOK() {
	d.SetStatus(d.Status() | virtio.StatusDriverOK)
}

// ReadISR reads (and so clears) the ISR status byte.
func (d *Driver) ReadISR() uint8 { return uint8(d.Read(d.ISR, 1)) }

// ConfigGeneration reads config_generation.
func (d *Driver) ConfigGeneration() uint8 {
	return uint8(d.Read(d.Common+virtio.CommonConfigGeneration, 1))
}

// ReadDeviceConfig reads n (1, 2, 4 or 8) bytes of the device-specific
// configuration at off; 8-byte fields are read as two 4-byte halves
// inside a config_generation loop, as Linux's vp_get does.
func (d *Driver) ReadDeviceConfig(off uint64, n int) uint64 {
	if n != 8 {
		return d.Read(d.DeviceCfg+off, n)
	}
	for {
		g := d.ConfigGeneration()
		v := d.Read(d.DeviceCfg+off, 4) | d.Read(d.DeviceCfg+off+4, 4)<<32
		if d.ConfigGeneration() == g {
			return v
		}
	}
}

// AllocIOVA reserves n bytes of the driver's IOVA range aligned to align
// (a power of 2) and zeroes them.
// Safe for concurrent use (queues driven from several goroutines).
func (d *Driver) AllocIOVA(n, align uint64) (uint64, error) {
	d.allocMu.Lock()
	a := (d.iovaNext + align - 1) &^ (align - 1)
	if a < d.iovaNext || a+n > d.iovaEnd || a+n < a {
		d.allocMu.Unlock()
		return 0, fmt.Errorf("virtiotest: IOVA range exhausted: %#x bytes at %#x", n, a)
	}
	d.iovaNext = a + n
	d.allocMu.Unlock()
	if n > 0 {
		if err := dma.WriteAt(d.AS, d.M.Mem, make([]byte, n), a); err != nil {
			return 0, err
		}
	}
	return a, nil
}

// ResetIOVA forgets every buffer allocated after the rings of the queues
// set up so far, so a long-running benchmark does not run out of IOVA
// space. Buffers of requests still in flight must not exist.
func (d *Driver) ResetIOVA() {
	d.allocMu.Lock()
	defer d.allocMu.Unlock()
	if d.ringsEnd != 0 {
		d.iovaNext = d.ringsEnd
	}
}

// WriteGuest writes p at the driver IOVA iova.
func (d *Driver) WriteGuest(iova uint64, p []byte) error { return dma.WriteAt(d.AS, d.M.Mem, p, iova) }

// ReadGuest reads len(p) bytes at the driver IOVA iova.
func (d *Driver) ReadGuest(iova uint64, p []byte) error { return dma.ReadAt(d.AS, d.M.Mem, p, iova) }
