package acpi

// DMARConfig describes the Intel VT-d remapping hardware for the DMAR table
// (Intel Virtualization Technology for Directed I/O Architecture
// Specification, ch. 8 "BIOS Considerations"; §8.1 "DMA Remapping
// Reporting Structure").
type DMARConfig struct {
	// HostAddressWidth is the platform's maximum DMA physical
	// addressability in bits (HAW, 12-64); the table stores HAW-1 at byte
	// 36. Linux rejects a table whose HAW-1 is below 11. It should match
	// the units' CAP.MGAW+1.
	HostAddressWidth uint8
	// IntrRemap sets flag bit 0, INTR_REMAP: the units support interrupt
	// remapping. Linux then needs an IOAPIC device scope (IOAPICScope) for
	// the MADT's I/O APIC in some unit, and Validate insists on one.
	IntrRemap bool
	// X2APICOptOut sets flag bit 1, X2APIC_OPT_OUT: the OS is asked not to
	// enable x2APIC mode. Flag bit 2 (DMA_CTRL_PLATFORM_OPT_IN) is never
	// set: Linux would then force DMA remapping on for every device.
	X2APICOptOut bool
	// Units are the remapping hardware units (DRHD structures). At least
	// one is required. Build emits, per segment, the units with
	// IncludePCIAll after the others, as §8.3 requires.
	Units []DRHD
	// ATSR lists the Root Port ATS Capability Reporting structures; empty
	// means no device may use ATS (device-TLBs).
	ATSR []ATSR
}

// DRHD is a DMA Remapping Hardware Unit Definition structure (VT-d spec
// §8.3): type 0, 16 bytes plus device scopes.
type DRHD struct {
	// Segment is the PCI Segment the unit serves; it must be the segment of
	// Config.ECAM.
	Segment uint16
	// RegisterBase is the guest-physical base of the unit's register set,
	// 4 KiB aligned and not 0.
	RegisterBase uint64
	// Size is the register set size as 2^Size 4 KiB pages (the "Size"
	// field at byte 5; 0 means 4 KiB), at most 15.
	Size uint8
	// IncludePCIAll sets flag bit 0, INCLUDE_PCI_ALL: the unit serves every
	// PCI device of Segment that no other unit lists. Such a unit may only
	// carry IOAPIC and HPET scopes, and a segment may have one.
	IncludePCIAll bool
	// Scopes are the devices the unit serves (or, for IOAPIC and HPET
	// scopes, whose interrupts it remaps).
	Scopes []DeviceScope
}

// RegisterWindow returns the guest-physical range of the unit's registers.
func (d DRHD) RegisterWindow() Window {
	return Window{Base: d.RegisterBase, Size: 0x1000 << d.Size}
}

// DeviceScope is a Device Scope structure (VT-d spec §8.3.1): 6 bytes plus 2
// per path element. The device is found by starting at bus StartBus and
// following Path: every element but the last names a PCI-PCI bridge whose
// secondary bus the next element is on.
type DeviceScope struct {
	// Type is the kind of device (ScopePCIEndpoint, ScopePCIBridge,
	// ScopeIOAPIC or ScopeHPET).
	Type ScopeType
	// EnumerationID is the I/O APIC ID (for ScopeIOAPIC, matching the
	// MADT) or the HPET number (for ScopeHPET); 0 otherwise.
	EnumerationID uint8
	// StartBus is the bus number the path starts on.
	StartBus uint8
	// Path has 1 to 124 elements.
	Path []PCIPath
}

// PCIPath is one hop of a device scope path: a device (0-31) and function
// (0-7) number on the current bus.
type PCIPath struct {
	Device   uint8 // 0-31
	Function uint8 // 0-7
}

// ScopeType is a device scope's Type (VT-d spec §8.3.1).
type ScopeType uint8

// Device scope types. ACPI namespace devices (type 5) are not supported.
const (
	// ScopePCIEndpoint is a PCI endpoint device (type 1).
	ScopePCIEndpoint ScopeType = 1
	// ScopePCIBridge is a PCI-PCI bridge and everything below it (type 2).
	ScopePCIBridge ScopeType = 2
	// ScopeIOAPIC is an I/O APIC (type 3), for interrupt remapping.
	ScopeIOAPIC ScopeType = 3
	// ScopeHPET is an MSI-capable HPET block (type 4).
	ScopeHPET ScopeType = 4
)

// PCIEndpointScope returns the scope of the endpoint at bus:dev.fn.
func PCIEndpointScope(bus, dev, fn uint8) DeviceScope {
	return DeviceScope{Type: ScopePCIEndpoint, StartBus: bus, Path: []PCIPath{{dev, fn}}}
}

// IOAPICScope returns the scope of the I/O APIC with the given ID whose
// interrupt requests carry source-id sid (bus<<8 | dev<<3 | fn; see BDF).
// QEMU uses 0xFF00 (bus 0xFF, device 0, function 0); Intel platforms
// usually 0xF0F8 (0xF0:1F.0). The VT-d unit must stamp IOAPIC interrupts
// with the same SID, since interrupt remapping checks it when an IRTE asks
// for source validation.
func IOAPICScope(id uint8, sid uint16) DeviceScope {
	return DeviceScope{
		Type: ScopeIOAPIC, EnumerationID: id, StartBus: uint8(sid >> 8),
		Path: []PCIPath{{Device: uint8(sid>>3) & 0x1F, Function: uint8(sid) & 7}},
	}
}

// ATSR is a Root Port ATS Capability Reporting structure (VT-d spec §8.5):
// type 2, 8 bytes plus device scopes.
type ATSR struct {
	// Segment is the PCI segment of the root ports; it must be the segment
	// of Config.ECAM, and a segment may have one ATSR.
	Segment uint16
	// AllPorts sets flag bit 0, ALL_PORTS: every root port of Segment
	// supports ATS. Scopes must then be empty; otherwise it must list the
	// root ports (ScopePCIBridge) that do.
	AllPorts bool
	// Scopes are the root ports whose devices may use ATS.
	Scopes []DeviceScope
}
