package pci

import "fmt"

// ConfigSize is the size in bytes of one function's configuration space:
// 256 bytes of PCI-compatible space followed by the PCI Express extended
// configuration space up to 4 KiB (PCI Express Base Specification §7.2).
const ConfigSize = 4096

// CompatSize is the size of the PCI-compatible part of configuration space,
// the part configuration mechanism #1 (CF8/CFC) reaches.
const CompatSize = 256

// Offsets of the type 0 configuration space header registers (PCI Local Bus
// Specification 3.0 §6.1, PCI Express Base Specification §7.5.1). Widths in
// bytes are given in brackets.
const (
	RegVendorID           = 0x00 // [2] read-only
	RegDeviceID           = 0x02 // [2] read-only
	RegCommand            = 0x04 // [2] see Cmd* bits
	RegStatus             = 0x06 // [2] see Status* bits
	RegRevisionID         = 0x08 // [1] read-only
	RegClassCode          = 0x09 // [3] programming interface, subclass, base class; read-only
	RegCacheLineSize      = 0x0c // [1] read/write
	RegLatencyTimer       = 0x0d // [1] hardwired to 0 (PCI Express)
	RegHeaderType         = 0x0e // [1] bit 7 multi-function, bits 6:0 layout (0)
	RegBIST               = 0x0f // [1] hardwired to 0
	RegBAR0               = 0x10 // [4] × 6, Base Address Registers 0–5
	RegCardbusCIS         = 0x28 // [4] hardwired to 0
	RegSubsystemVendorID  = 0x2c // [2] read-only
	RegSubsystemID        = 0x2e // [2] read-only
	RegExpansionROM       = 0x30 // [4] hardwired to 0: no expansion ROM
	RegCapabilitiesPtr    = 0x34 // [1] first standard capability, 0 if none
	RegInterruptLine      = 0x3c // [1] read/write scratch for the OS
	RegInterruptPin       = 0x3d // [1] 0 none, 1–4 INTA#–INTD#; read-only
	RegMinGnt             = 0x3e // [1] hardwired to 0
	RegMaxLat             = 0x3f // [1] hardwired to 0
	HeaderTypeMultiFunc   = 0x80 // RegHeaderType bit 7
	NumBARs               = 6    // BAR registers in a type 0 header
	firstStandardCapSlot  = 0x40
	firstExtendedCapSlot  = CompatSize
	capabilityPointerMask = 0xfc
)

// Command register bits (PCI Local Bus Specification 3.0 §6.2.2). Only
// the bits listed here are writable; the others read as zero.
const (
	CmdIOSpace        = 1 << 0  // decode the function's I/O BARs
	CmdMemorySpace    = 1 << 1  // decode the function's memory BARs
	CmdBusMaster      = 1 << 2  // the function may issue memory requests: DMA and MSI/MSI-X
	CmdParityResponse = 1 << 6  // Parity Error Response
	CmdSERR           = 1 << 8  // SERR# Enable
	CmdINTxDisable    = 1 << 10 // Interrupt Disable: the function must not assert INTx
	cmdWritable       = CmdIOSpace | CmdMemorySpace | CmdBusMaster | CmdParityResponse | CmdSERR | CmdINTxDisable
)

// Status register bits (PCI Local Bus Specification 3.0 §6.2.3). The
// error bits are write-1-to-clear (RW1C); the others are read-only.
const (
	StatusInterrupt        = 1 << 3  // INTx is being requested (read-only)
	StatusCapabilitiesList = 1 << 4  // RegCapabilitiesPtr is valid (read-only)
	StatusMasterDataParity = 1 << 8  // RW1C
	StatusSignaledTarget   = 1 << 11 // Signaled Target Abort, RW1C
	StatusReceivedTarget   = 1 << 12 // Received Target Abort, RW1C
	StatusReceivedMaster   = 1 << 13 // Received Master Abort, RW1C
	StatusSignaledSystem   = 1 << 14 // Signaled System Error, RW1C
	StatusDetectedParity   = 1 << 15 // Detected Parity Error, RW1C
	statusW1C              = StatusMasterDataParity | StatusSignaledTarget | StatusReceivedTarget | StatusReceivedMaster | StatusSignaledSystem | StatusDetectedParity
	interruptPinMax        = 4
	classCodeMax           = 0xffffff
	vendorIDNone           = 0xffff
)

// Class codes (24 bits: base class<<16 | subclass<<8 | programming
// interface) from the PCI Code and ID Assignment Specification §1.
const (
	ClassHostBridge  = 0x060000 // bridge device, host bridge
	ClassStorageSCSI = 0x010000 // mass storage, SCSI controller (virtio-blk, virtio-scsi)
	ClassNetEthernet = 0x020000 // network, Ethernet controller (virtio-net)
	ClassCommOther   = 0x078000 // simple communication, other (virtio-console)
	ClassSystemIOMMU = 0x080600 // base system peripheral, IOMMU
	ClassSystemOther = 0x088000 // base system peripheral, other
	ClassOther       = 0xff0000 // device does not fit any defined class
)

// Header is the identity part of a type 0 configuration header: the
// read-only registers a driver matches on (PCI Local Bus Specification 3.0
// §6.2.1, §6.2.4).
type Header struct {
	VendorID          uint16 // must not be 0xFFFF (that reads as "no device")
	DeviceID          uint16
	RevisionID        uint8
	Class             uint32 // 24-bit class code, e.g. ClassHostBridge (0x060000)
	SubsystemVendorID uint16
	SubsystemID       uint16
	InterruptPin      uint8 // 0 (no INTx), 1 INTA# … 4 INTD#
}

func (h Header) validate() error {
	if h.VendorID == vendorIDNone {
		return fmt.Errorf("pci: vendor ID %#04x means \"no device\"", h.VendorID)
	}
	if h.Class > classCodeMax {
		return fmt.Errorf("pci: class code %#x is wider than 24 bits", h.Class)
	}
	if h.InterruptPin > interruptPinMax {
		return fmt.Errorf("pci: interrupt pin %d is not 0 (none) or 1–4 (INTA#–INTD#)", h.InterruptPin)
	}
	return nil
}
