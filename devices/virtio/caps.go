package virtio

import (
	"encoding/binary"
	"fmt"

	"github.com/govmm/govmm/devices/pci"
)

// Structure types of the virtio PCI vendor capabilities (cfg_type of
// struct virtio_pci_cap, virtio 1.2 §4.1.4).
const (
	PCICapCommonCfg = 1 // VIRTIO_PCI_CAP_COMMON_CFG: common configuration
	PCICapNotifyCfg = 2 // VIRTIO_PCI_CAP_NOTIFY_CFG: notifications
	PCICapISRCfg    = 3 // VIRTIO_PCI_CAP_ISR_CFG: ISR status
	PCICapDeviceCfg = 4 // VIRTIO_PCI_CAP_DEVICE_CFG: device-specific configuration
	PCICapPCICfg    = 5 // VIRTIO_PCI_CAP_PCI_CFG: PCI configuration access window
)

// Layout of the transport's memory BAR. Every structure starts on its own
// 4 KiB page, as QEMU and cloud-hypervisor do, so a guest can map them
// separately.
const (
	// BARIndex is the BAR (a 64-bit memory BAR, registers 0 and 1) that
	// holds every structure and the MSI-X table and PBA.
	BARIndex = 0
	// BARSize is the size of that BAR in bytes.
	BARSize = 0x8000

	CommonCfgOffset = 0x0000 // struct virtio_pci_common_cfg
	CommonCfgSize   = 0x3c   // through queue_reset (virtio 1.2 §4.1.4.3)
	ISROffset       = 0x1000 // the ISR status byte
	DeviceCfgOffset = 0x2000 // device-specific configuration, up to 4 KiB
	NotifyOffset    = 0x3000 // queue notification addresses
	// NotifyOffMultiplier is notify_off_multiplier: queue i is notified
	// by a write at NotifyOffset + i*NotifyOffMultiplier (queue_notify_off
	// of queue i reads i).
	NotifyOffMultiplier = 4
	MSIXTableOffset     = 0x4000 // MSI-X table, 16 bytes per vector
	MSIXPBAOffset       = 0x6000 // MSI-X Pending Bit Array
)

// Offsets inside struct virtio_pci_cap (virtio 1.2 §4.1.4), from the
// capability's start in configuration space.
const (
	capLen       = 2  // cap_len
	capCfgType   = 3  // cfg_type
	capBAR       = 4  // bar
	capID        = 5  // id
	capOffset    = 8  // offset, le32
	capLength    = 12 // length, le32
	capNotifyMul = 16 // notify_off_multiplier (notify capability), le32
	capPCICfg    = 16 // pci_cfg_data[4] (PCI configuration access capability)
	capSize      = 16 // sizeof(struct virtio_pci_cap)
	capSizeExt   = 20 // with notify_off_multiplier or pci_cfg_data
)

// addVendorCap appends one struct virtio_pci_cap (plus extra trailing
// bytes) describing [off, off+length) of the BAR. writable are masks for
// the body bytes, or nil.
func addVendorCap(cs *pci.ConfigSpace, cfgType uint8, off, length uint32, extra []byte, writable []byte) (int, error) {
	body := make([]byte, capSize-2+len(extra))
	body[capLen-2] = uint8(capSize + len(extra))
	body[capCfgType-2] = cfgType
	body[capBAR-2] = BARIndex
	binary.LittleEndian.PutUint32(body[capOffset-2:], off)
	binary.LittleEndian.PutUint32(body[capLength-2:], length)
	copy(body[capSize-2:], extra)
	at, err := cs.AddCapability(pci.CapIDVendorSpecific, body, writable)
	if err != nil {
		return 0, fmt.Errorf("virtio: adding vendor capability type %d: %w", cfgType, err)
	}
	return at, nil
}

// addCapabilities declares the common, notify, ISR, device and PCI
// configuration access capabilities (virtio 1.2 §4.1.4.3–4.1.4.9).
func (t *Transport) addCapabilities(cs *pci.ConfigSpace) error {
	if _, err := addVendorCap(cs, PCICapCommonCfg, CommonCfgOffset, CommonCfgSize, nil, nil); err != nil {
		return err
	}
	mul := binary.LittleEndian.AppendUint32(nil, NotifyOffMultiplier)
	if _, err := addVendorCap(cs, PCICapNotifyCfg, NotifyOffset, uint32(len(t.common.queues)*NotifyOffMultiplier), mul, nil); err != nil {
		return err
	}
	if _, err := addVendorCap(cs, PCICapISRCfg, ISROffset, 1, nil, nil); err != nil {
		return err
	}
	if n := t.dev.ConfigSize(); n > 0 {
		if _, err := addVendorCap(cs, PCICapDeviceCfg, DeviceCfgOffset, uint32(n), nil, nil); err != nil {
			return err
		}
	}
	// VIRTIO_PCI_CAP_PCI_CFG: bar, offset, length and pci_cfg_data are
	// driver-writable; a pci_cfg_data access is an access of length
	// bytes at offset of BAR bar (§4.1.4.9).
	wm := make([]byte, capSizeExt-2)
	wm[capBAR-2] = 0xff
	for i := range 4 {
		wm[capOffset-2+i], wm[capLength-2+i], wm[capPCICfg-2+i] = 0xff, 0xff, 0xff
	}
	at, err := addVendorCap(cs, PCICapPCICfg, 0, 0, make([]byte, 4), wm)
	if err != nil {
		return err
	}
	cs.OnRead(at+capPCICfg, 4, func(int, int) { t.pciCfgAccess(cs, at, false) })
	cs.OnWrite(at+capPCICfg, 4, func(int, int) { t.pciCfgAccess(cs, at, true) })
	return nil
}

// pciCfgAccess performs the BAR access a VIRTIO_PCI_CAP_PCI_CFG window
// describes: for a write, the first length bytes of pci_cfg_data go to the
// BAR; for a read, they are fetched from it. Windows that do not name
// this BAR, have a length other than 1, 2 or 4, are not aligned to their
// length or reach past the BAR are ignored (reads then return 0).
func (t *Transport) pciCfgAccess(cs *pci.ConfigSpace, at int, write bool) {
	bar, off, n := cs.Uint8(at+capBAR), uint64(cs.Uint32(at+capOffset)), uint64(cs.Uint32(at+capLength))
	ok := bar == BARIndex && (n == 1 || n == 2 || n == 4) && off%n == 0 && off+n <= BARSize
	var buf [4]byte
	if write {
		if ok {
			binary.LittleEndian.PutUint32(buf[:], cs.Uint32(at+capPCICfg))
			t.bar.Write(off, buf[:n])
		}
		return
	}
	if ok {
		t.bar.Read(off, buf[:n])
	}
	cs.PutUint32(at+capPCICfg, binary.LittleEndian.Uint32(buf[:]))
}
