package pci

import "encoding/binary"

// PCI Express Capability register offsets from the capability start
// (PCI Express Base Specification §7.5.3) and the values AddPCIExpress
// programs.
const (
	PCIeCapabilities  = 0x02 // [2] version bits 3:0, Device/Port Type bits 7:4
	PCIeDevCap        = 0x04 // [4] Device Capabilities
	PCIeDevCtl        = 0x08 // [2] Device Control
	PCIeDevStatus     = 0x0a // [2] Device Status
	PCIeDevCap2       = 0x24 // [4] Device Capabilities 2
	PCIeDevCtl2       = 0x28 // [2] Device Control 2
	PCIeTypeRCiEP     = 0x9  // Root Complex Integrated Endpoint
	pcieCapVersion    = 2
	pcieCapSize       = 0x3c
	pcieDevCapRBER    = 1 << 15 // Role-Based Error Reporting
	pcieDevCtlDefault = 0x2810  // Relaxed Ordering, No Snoop, Max_Read_Request_Size 512 B
	pcieDevCtlWMask   = 0x78ff  // error reporting enables, RO, MPS, No Snoop, MRRS
	pcieDevStatusW1C  = 0x000f  // error detected bits
)

// AddPCIExpress adds a PCI Express Capability (version 2) describing a Root
// Complex Integrated Endpoint, the type of a function on a root bus with no
// root port above it. Guests read the extended configuration space at
// 0x100 (and so find extended capabilities) only for functions that have
// this capability. Device Capabilities advertise a 128-byte
// Max_Payload_Size and Role-Based Error Reporting; Device Control's error
// reporting enables, Relaxed Ordering, Max_Payload_Size, No Snoop and
// Max_Read_Request_Size are guest-writable, Device Status's error bits are
// RW1C, and the link and slot registers (reserved for this type) are zero.
// It returns the capability's offset, or ErrNoSpace.
func AddPCIExpress(cs *ConfigSpace) (int, error) {
	body := make([]byte, pcieCapSize-2)
	wm := make([]byte, pcieCapSize-2)
	le := binary.LittleEndian
	le.PutUint16(body[PCIeCapabilities-2:], pcieCapVersion|PCIeTypeRCiEP<<4)
	le.PutUint32(body[PCIeDevCap-2:], pcieDevCapRBER)
	le.PutUint16(body[PCIeDevCtl-2:], pcieDevCtlDefault)
	le.PutUint16(wm[PCIeDevCtl-2:], pcieDevCtlWMask)
	off, err := cs.AddCapability(CapIDPCIExpress, body, wm)
	if err != nil {
		return 0, err
	}
	// Cannot fail: the register is inside the capability just added.
	_ = cs.SetW1C(off+PCIeDevStatus, 2, pcieDevStatusW1C)
	return off, nil
}
