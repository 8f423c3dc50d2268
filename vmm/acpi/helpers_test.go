package acpi

// Test configurations shared by the tests, modelled on the VMM's layout:
// RAM below 3 GiB, the 32-bit MMIO window at 3 GiB, ECAM at 0xE0000000,
// the IOAPIC, VT-d unit and local APICs at their PC addresses, and the
// 64-bit window at 64 GiB.
const (
	testBase     = 0xE0000 // tables in the BIOS area, as the VMM places them
	testVTDBase  = 0xFED90000
	testIOAPICID = 0
)

// minimalConfig is the smallest valid configuration: one CPU, the IOAPIC,
// ECAM and the 32-bit window.
func minimalConfig() Config {
	return Config{
		CPUs:   1,
		IOAPIC: IOAPIC{ID: testIOAPICID, Addr: 0xFEC00000},
		ECAM:   ECAM{Base: 0xE0000000, StartBus: 0, EndBus: 255},
		MMIO32: Window{Base: 0xC0000000, Size: 0x20000000},
	}
}

// fullConfig is a two-CPU PC with every optional part of the base tables.
func fullConfig() Config {
	c := minimalConfig()
	c.CPUs = 2
	c.PIC = true
	c.Overrides = []InterruptOverride{{Source: 0, GSI: 2, Flags: PolarityHigh | TriggerEdge}, {Source: 9, GSI: 9, Flags: PolarityHigh | TriggerLevel}}
	c.MMIO64 = Window{Base: 64 << 30, Size: 64 << 30}
	c.IO = Window{Base: 0xC000, Size: 0x4000}
	c.PRT = []PCIRoute{{Device: 1, Pin: 0, GSI: 16}, {Device: 1, Pin: 1, GSI: 17}, {Device: 2, Pin: 0, GSI: 17}}
	c.Serial = []SerialPort{COM1, {Port: 0x2F8, IRQ: 3}}
	c.CMOSRTC = true
	return c
}

// vtdConfig adds a VT-d unit with INCLUDE_PCI_ALL, interrupt remapping and
// an ATSR.
func vtdConfig() Config {
	c := fullConfig()
	c.DMAR = &DMARConfig{
		HostAddressWidth: 39,
		IntrRemap:        true,
		Units: []DRHD{{
			RegisterBase:  testVTDBase,
			IncludePCIAll: true,
			Scopes:        []DeviceScope{IOAPICScope(testIOAPICID, 0xFF00)},
		}},
		ATSR: []ATSR{{AllPorts: true}},
	}
	return c
}

// viotConfig puts bus 0 behind a virtio-iommu at 00:03.0.
func viotConfig() Config {
	c := fullConfig()
	c.VIOT = &VIOTConfig{BDF: BDF(0, 3, 0), Ranges: []VIOTPCIRange{{EndpointStart: 0, BDFStart: 0, BDFEnd: BDF(0, 31, 7)}}}
	return c
}

// bothConfig splits bus 0 between a VT-d unit (devices 4 and 5, explicit
// scopes) and a virtio-iommu (devices 8-15), as a VMM running both IOMMUs
// must.
func bothConfig() Config {
	c := fullConfig()
	c.DMAR = &DMARConfig{
		HostAddressWidth: 48,
		X2APICOptOut:     true,
		Units: []DRHD{{
			RegisterBase: testVTDBase,
			Scopes:       []DeviceScope{PCIEndpointScope(0, 4, 0), PCIEndpointScope(0, 5, 0), {Type: ScopePCIBridge, StartBus: 0, Path: []PCIPath{{6, 0}}}},
		}},
		ATSR: []ATSR{{Scopes: []DeviceScope{{Type: ScopePCIBridge, StartBus: 0, Path: []PCIPath{{6, 0}}}}}},
	}
	c.VIOT = &VIOTConfig{BDF: BDF(0, 3, 0), Ranges: []VIOTPCIRange{
		{EndpointStart: 0x100, BDFStart: BDF(0, 8, 0), BDFEnd: BDF(0, 11, 7)},
		{EndpointStart: 0x200, BDFStart: BDF(0, 12, 0), BDFEnd: BDF(0, 15, 7)},
	}}
	return c
}

// scopedConfig is the VMM's machine with VT-d alone where one device
// (00:04.0) is behind no IOMMU: the DRHD lists its devices as PCI endpoint
// scopes instead of INCLUDE_PCI_ALL.
func scopedConfig() Config {
	c := minimalConfig()
	c.DMAR = &DMARConfig{
		HostAddressWidth: 48,
		Units:            []DRHD{{RegisterBase: testVTDBase, Scopes: []DeviceScope{PCIEndpointScope(0, 3, 0), PCIEndpointScope(0, 5, 0)}}},
	}
	return c
}

// dualConfig is the VMM's machine with both IOMMUs: VT-d serves 00:03.0,
// 00:05.0 and 00:06.0 through PCI endpoint scopes, the virtio-iommu at
// 00:02.0 serves 00:04.0 and 00:07.0 through one-BDF VIOT ranges whose
// endpoint ID is the requester ID, and 00:08.0 is behind neither.
func dualConfig() Config {
	c := minimalConfig()
	c.DMAR = &DMARConfig{
		HostAddressWidth: 48,
		Units: []DRHD{{RegisterBase: testVTDBase, Scopes: []DeviceScope{
			PCIEndpointScope(0, 3, 0), PCIEndpointScope(0, 5, 0), PCIEndpointScope(0, 6, 0),
		}}},
	}
	c.VIOT = &VIOTConfig{BDF: BDF(0, 2, 0), Ranges: []VIOTPCIRange{
		{EndpointStart: uint32(BDF(0, 4, 0)), BDFStart: BDF(0, 4, 0), BDFEnd: BDF(0, 4, 0)},
		{EndpointStart: uint32(BDF(0, 7, 0)), BDFStart: BDF(0, 7, 0), BDFEnd: BDF(0, 7, 0)},
	}}
	return c
}

// maxConfig uses the upper limits: 255 CPUs, four UARTs, every PRT slot.
func maxConfig() Config {
	c := fullConfig()
	c.CPUs = MaxCPUs
	c.Serial = []SerialPort{COM1, {0x2F8, 3}, {0x3E8, 4}, {0x2E8, 3}}
	c.PRT = nil
	for d := uint8(0); d < 32; d++ {
		for p := uint8(0); p < 4; p++ {
			c.PRT = append(c.PRT, PCIRoute{Device: d, Pin: p, GSI: 16 + uint32(d+p)%8})
		}
	}
	return c
}

// testConfigs are the named configurations most tests run over.
func testConfigs() []struct {
	name string
	cfg  Config
} {
	return []struct {
		name string
		cfg  Config
	}{
		{"minimal", minimalConfig()},
		{"full", fullConfig()},
		{"vtd", vtdConfig()},
		{"viot", viotConfig()},
		{"both", bothConfig()},
		{"scoped", scopedConfig()},
		{"dual", dualConfig()},
		{"max", maxConfig()},
	}
}
