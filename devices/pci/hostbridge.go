package pci

// Host bridge identity: the Intel 82G33/P35 DRAM controller (8086:29C0),
// the host bridge Linux expects on a Q35-style machine, with the subsystem
// ID virtual Q35 machines report (1AF4:1100).
const (
	HostBridgeVendorID          = 0x8086
	HostBridgeDeviceID          = 0x29c0
	HostBridgeSubsystemVendorID = 0x1af4
	HostBridgeSubsystemID       = 0x1100
)

// HostBridge is the host bridge function, by convention at 00:00.0 of
// each root bus: a type 0 header of class 06/00/00 (bridge, host bridge)
// with no BARs, no capabilities and no interrupt. Its presence is what
// makes a guest's bus scan find the root bus populated; the bridge's
// windows themselves are described to the guest by ACPI (_CRS of the
// PNP0A08 device), not by registers.
type HostBridge struct {
	cs *ConfigSpace
}

// NewHostBridge returns a host bridge with the identity above.
func NewHostBridge() *HostBridge {
	return &HostBridge{cs: newConfigSpace(Header{
		VendorID:          HostBridgeVendorID,
		DeviceID:          HostBridgeDeviceID,
		Class:             ClassHostBridge,
		SubsystemVendorID: HostBridgeSubsystemVendorID,
		SubsystemID:       HostBridgeSubsystemID,
	})}
}

// Config returns the bridge's configuration space.
func (h *HostBridge) Config() *ConfigSpace { return h.cs }
