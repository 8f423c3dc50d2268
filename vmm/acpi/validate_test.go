package acpi

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateAcceptsTestConfigs(t *testing.T) {
	for _, tc := range testConfigs() {
		if err := tc.cfg.Validate(); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestValidateErrors breaks one thing at a time in a valid config and
// checks the *ConfigError's Field and that its message names the values.
func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		base   func() Config
		modify func(c *Config)
		field  string
		reason string // substring of the Reason
	}{
		{"no CPUs", fullConfig, func(c *Config) { c.CPUs = 0 }, "CPUs", "0 vCPUs"},
		{"too many CPUs", fullConfig, func(c *Config) { c.CPUs = 256 }, "CPUs", "256 vCPUs"},
		{"negative CPUs", fullConfig, func(c *Config) { c.CPUs = -1 }, "CPUs", "-1"},
		{"IOAPIC at 0", fullConfig, func(c *Config) { c.IOAPIC.Addr = 0 }, "IOAPIC.Addr", "0"},
		{"IOAPIC at 4G", fullConfig, func(c *Config) { c.IOAPIC.Addr = 0xFFFFF800 }, "IOAPIC.Addr", "0xfffff800"},
		{"GSI base", fullConfig, func(c *Config) { c.IOAPIC.GSIBase = 1<<32 - 10 }, "IOAPIC.GSIBase", "4294967286"},
		{"override source 16", fullConfig, func(c *Config) { c.Overrides[1].Source = 16 }, "Overrides[1]", "16"},
		{"override twice", fullConfig, func(c *Config) { c.Overrides[1].Source = 0 }, "Overrides[1]", "twice"},
		{"override GSI", fullConfig, func(c *Config) { c.Overrides[1].GSI = 24 }, "Overrides[1]", "GSI 24"},
		{"override GSI below base", fullConfig, func(c *Config) { c.IOAPIC.GSIBase = 8 }, "Overrides[0]", "GSI 2"},
		{"override polarity 2", fullConfig, func(c *Config) { c.Overrides[1].Flags = 2 | TriggerLevel }, "Overrides[1]", "polarity 2"},
		{"override trigger 2", fullConfig, func(c *Config) { c.Overrides[1].Flags = PolarityHigh | 2<<2 }, "Overrides[1]", "trigger mode 2"},
		{"override reserved bits", fullConfig, func(c *Config) { c.Overrides[1].Flags = 0x10 | PolarityHigh }, "Overrides[1]", "0x11"},
		{"IRQ0 conforms", fullConfig, func(c *Config) { c.Overrides[0].Flags = 0 }, "Overrides[0]", "SCI"},
		{"IRQ0 trigger conforms", fullConfig, func(c *Config) { c.Overrides[0].Flags = PolarityHigh }, "Overrides[0]", "explicitly"},
		{"ECAM misaligned", fullConfig, func(c *Config) { c.ECAM.Base += 0x1000 }, "ECAM.Base", "0xe0001000"},
		{"ECAM buses", fullConfig, func(c *Config) { c.ECAM.StartBus, c.ECAM.EndBus = 5, 4 }, "ECAM.StartBus", "5-4"},
		{"ECAM above 4G", fullConfig, func(c *Config) { c.ECAM.Base = 0x1_0000_0000 }, "ECAM", "4 GiB"},
		{"ECAM crosses 4G", fullConfig, func(c *Config) { c.ECAM.Base = 0xF800_0000 }, "ECAM", "0x108000000"},
		{"no MMIO32", fullConfig, func(c *Config) { c.MMIO32.Size = 0 }, "MMIO32", "empty"},
		{"MMIO32 above 4G", fullConfig, func(c *Config) { c.MMIO32 = Window{0xF000_0000, 0x2000_0000} }, "MMIO32", "4 GiB"},
		{"MMIO64 wraps", fullConfig, func(c *Config) { c.MMIO64 = Window{1<<64 - 0x1000, 0x2000} }, "MMIO64", "wraps"},
		{"IO beyond 64K", fullConfig, func(c *Config) { c.IO = Window{0xC000, 0x4001} }, "IO", "0x4001"},
		{"IO base beyond 64K", fullConfig, func(c *Config) { c.IO = Window{0x10000, 1} }, "IO", "0x10000"},
		{"PRT device", fullConfig, func(c *Config) { c.PRT[0].Device = 32 }, "PRT[0]", "device 32"},
		{"PRT pin", fullConfig, func(c *Config) { c.PRT[0].Pin = 4 }, "PRT[0]", "pin 4"},
		{"PRT twice", fullConfig, func(c *Config) { c.PRT[1].Pin = 0 }, "PRT[1]", "INTA is routed twice"},
		{"PRT GSI", fullConfig, func(c *Config) { c.PRT[2].GSI = 99 }, "PRT[2]", "GSI 99"},
		{"five UARTs", fullConfig, func(c *Config) {
			c.Serial = []SerialPort{COM1, {0x2F8, 3}, {0x3E8, 4}, {0x2E8, 3}, {0x2E0, 3}}
		}, "Serial", "5 serial ports"},
		{"UART port 0", fullConfig, func(c *Config) { c.Serial[1].Port = 0 }, "Serial[1]", "port 0x0"},
		{"UART port top", fullConfig, func(c *Config) { c.Serial[1].Port = 0xFFFA }, "Serial[1]", "0xfffa"},
		{"UART IRQ 0", fullConfig, func(c *Config) { c.Serial[0].IRQ = 0 }, "Serial[0]", "IRQ 0"},
		{"UART IRQ 2", fullConfig, func(c *Config) { c.Serial[0].IRQ = 2 }, "Serial[0]", "IRQ 2"},
		{"UART IRQ 16", fullConfig, func(c *Config) { c.Serial[0].IRQ = 16 }, "Serial[0]", "IRQ 16"},
		{"UARTs overlap", fullConfig, func(c *Config) { c.Serial[1].Port = 0x3FC }, "Serial[1]", "overlaps Serial[0]"},
		{"UART on RTC", fullConfig, func(c *Config) { c.Serial[1].Port = 0x6C }, "Serial[1]", "RTC ports"},
		{"UART on sleep regs", fullConfig, func(c *Config) { c.Serial[1].Port = 0x3BC }, "Serial[1]", "sleep control/status registers"},
		{"IO window on CF8", fullConfig, func(c *Config) { c.IO = Window{0x0D00 - 0x100, 0x1000} }, "IO", "PCI configuration ports"},
		{"MMIO32 over ECAM", fullConfig, func(c *Config) { c.MMIO32 = Window{0xC000_0000, 0x2000_1000} }, "ECAM", "overlaps MMIO32"},
		{"MMIO32 over IOAPIC", fullConfig, func(c *Config) {
			c.ECAM.Base = 0xB000_0000
			c.MMIO32 = Window{0xF000_0000, 0x0F00_0000}
		}, "IOAPIC", "overlaps MMIO32"},
		{"MMIO64 over MMIO32", fullConfig, func(c *Config) { c.MMIO64 = Window{0xD000_0000, 1 << 30} }, "MMIO64", "overlaps MMIO32"},
		{"MMIO32 over local APIC", fullConfig, func(c *Config) {
			c.IOAPIC.Addr = 0xB000_0000
			c.MMIO32 = Window{0xFE00_0000, 0x0100_0000}
		}, "MMIO32", "local APIC window"},

		{"HAW 11", vtdConfig, func(c *Config) { c.DMAR.HostAddressWidth = 11 }, "DMAR.HostAddressWidth", "11 bits"},
		{"HAW 65", vtdConfig, func(c *Config) { c.DMAR.HostAddressWidth = 65 }, "DMAR.HostAddressWidth", "65 bits"},
		{"no DRHD", vtdConfig, func(c *Config) { c.DMAR.Units = nil; c.DMAR.IntrRemap = false }, "DMAR.Units", "no DRHD"},
		{"DRHD segment", vtdConfig, func(c *Config) { c.DMAR.Units[0].Segment = 1 }, "DMAR.Units[0].Segment", "segment 1"},
		{"DRHD base 0", vtdConfig, func(c *Config) { c.DMAR.Units[0].RegisterBase = 0 }, "DMAR.Units[0].RegisterBase", "is 0"},
		{"DRHD misaligned", vtdConfig, func(c *Config) { c.DMAR.Units[0].RegisterBase += 0x230 }, "DMAR.Units[0].RegisterBase", "0xfed90230"},
		{"DRHD size", vtdConfig, func(c *Config) { c.DMAR.Units[0].Size = 16 }, "DMAR.Units[0].Size", "size 16"},
		{"DRHD wraps", vtdConfig, func(c *Config) { c.DMAR.Units[0].RegisterBase = 1<<64 - 0x1000; c.DMAR.Units[0].Size = 1 }, "DMAR.Units[0].RegisterBase", "wraps"},
		{"DRHD over IOAPIC", vtdConfig, func(c *Config) { c.DMAR.Units[0].RegisterBase = 0xFEC00000 }, "DMAR.Units[0] registers", "overlaps IOAPIC"},
		{"two include-all", vtdConfig, func(c *Config) {
			c.DMAR.Units = append(c.DMAR.Units, DRHD{RegisterBase: 0xFED91000, IncludePCIAll: true})
		}, "DMAR.Units[1].IncludePCIAll", "Units[0]"},
		{"include-all with endpoint", vtdConfig, func(c *Config) {
			c.DMAR.Units[0].Scopes = append(c.DMAR.Units[0].Scopes, PCIEndpointScope(0, 1, 0))
		}, "DMAR.Units[0].Scopes[1]", "INCLUDE_PCI_ALL"},
		{"IR without IOAPIC scope", vtdConfig, func(c *Config) { c.DMAR.Units[0].Scopes = nil }, "DMAR.Units", "enumeration ID 0"},
		{"IR scope for another IOAPIC", vtdConfig, func(c *Config) { c.DMAR.Units[0].Scopes[0].EnumerationID = 1 }, "DMAR.Units", "INTR_REMAP"},
		{"scope type 0", bothConfig, func(c *Config) { c.DMAR.Units[0].Scopes[0].Type = 0 }, "DMAR.Units[0].Scopes[0].Type", "type 0"},
		{"scope type 5", bothConfig, func(c *Config) { c.DMAR.Units[0].Scopes[0].Type = 5 }, "DMAR.Units[0].Scopes[0].Type", "type 5"},
		{"scope empty path", bothConfig, func(c *Config) { c.DMAR.Units[0].Scopes[1].Path = nil }, "DMAR.Units[0].Scopes[1].Path", "empty"},
		{"scope long path", bothConfig, func(c *Config) { c.DMAR.Units[0].Scopes[1].Path = make([]PCIPath, 125) }, "DMAR.Units[0].Scopes[1].Path", "125"},
		{"scope device 32", bothConfig, func(c *Config) { c.DMAR.Units[0].Scopes[1].Path[0].Device = 32 }, "DMAR.Units[0].Scopes[1].Path[0]", "device 32"},
		{"scope function 8", bothConfig, func(c *Config) { c.DMAR.Units[0].Scopes[1].Path[0].Function = 8 }, "DMAR.Units[0].Scopes[1].Path[0]", "function 8"},
		{"scope bus", bothConfig, func(c *Config) {
			c.ECAM.EndBus = 15
			c.DMAR.Units[0].Scopes[1].StartBus = 16
		}, "DMAR.Units[0].Scopes[1].StartBus", "bus 16"},
		{"ATSR segment", vtdConfig, func(c *Config) { c.DMAR.ATSR[0].Segment = 2 }, "DMAR.ATSR[0].Segment", "segment 2"},
		{"two ATSRs", vtdConfig, func(c *Config) { c.DMAR.ATSR = append(c.DMAR.ATSR, ATSR{AllPorts: true}) }, "DMAR.ATSR[1].Segment", "ATSR[0]"},
		{"ATSR all ports with scopes", vtdConfig, func(c *Config) {
			c.DMAR.ATSR[0].Scopes = []DeviceScope{{Type: ScopePCIBridge, Path: []PCIPath{{1, 0}}}}
		}, "DMAR.ATSR[0].Scopes", "must not"},
		{"ATSR no ports", vtdConfig, func(c *Config) { c.DMAR.ATSR[0].AllPorts = false }, "DMAR.ATSR[0].Scopes", "must list"},
		{"ATSR endpoint", bothConfig, func(c *Config) { c.DMAR.ATSR[0].Scopes[0].Type = ScopePCIEndpoint }, "DMAR.ATSR[0].Scopes[0]", "type 1"},
		{"ATSR bad path", bothConfig, func(c *Config) { c.DMAR.ATSR[0].Scopes[0].Path = nil }, "DMAR.ATSR[0].Scopes[0].Path", "empty"},

		{"VIOT segment", viotConfig, func(c *Config) { c.VIOT.Segment = 1 }, "VIOT.Segment", "segment 1"},
		{"VIOT IOMMU bus", viotConfig, func(c *Config) { c.ECAM.EndBus = 7; c.VIOT.BDF = BDF(8, 0, 0) }, "VIOT.BDF", "bus 8"},
		{"VIOT no ranges", viotConfig, func(c *Config) { c.VIOT.Ranges = nil }, "VIOT.Ranges", "no endpoint range"},
		{"VIOT range segment", viotConfig, func(c *Config) { c.VIOT.Ranges[0].SegmentEnd = 1 }, "VIOT.Ranges[0]", "segments 0-1"},
		{"VIOT empty BDFs", viotConfig, func(c *Config) { c.VIOT.Ranges[0].BDFStart = 0x20; c.VIOT.Ranges[0].BDFEnd = 0x1F }, "VIOT.Ranges[0]", "0x0020-0x001f"},
		{"VIOT range bus", viotConfig, func(c *Config) { c.ECAM.EndBus = 0; c.VIOT.Ranges[0].BDFEnd = BDF(1, 0, 0) }, "VIOT.Ranges[0]", "leaves"},
		{"VIOT endpoint overflow", viotConfig, func(c *Config) { c.VIOT.Ranges[0].EndpointStart = 1<<32 - 0x10 }, "VIOT.Ranges[0]", "overflow"},
		{"VIOT BDF overlap", bothConfig, func(c *Config) { c.VIOT.Ranges[1].BDFStart = BDF(0, 11, 7) }, "VIOT.Ranges[1]", "overlap Ranges[0]"},
		{"VIOT endpoint overlap", bothConfig, func(c *Config) { c.VIOT.Ranges[1].EndpointStart = 0x11F }, "VIOT.Ranges[1]", "endpoint IDs"},
		{"VT-d include-all and VIOT", func() Config { c := vtdConfig(); c.VIOT = viotConfig().VIOT; return c }, func(c *Config) {}, "DMAR.Units[0].IncludePCIAll", "explicit scopes"},
		{"device on both IOMMUs", bothConfig, func(c *Config) { c.DMAR.Units[0].Scopes[0] = PCIEndpointScope(0, 9, 3) }, "DMAR.Units[0].Scopes[0]", "0x004b is also in VIOT.Ranges[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.base()
			tc.modify(&c)
			err := c.Validate()
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Validate() = %v, want a *ConfigError", err)
			}
			if ce.Field != tc.field || !strings.Contains(ce.Reason, tc.reason) {
				t.Errorf("Validate() = %q\nwant field %q and a reason containing %q", err, tc.field, tc.reason)
			}
			if !strings.HasPrefix(err.Error(), "acpi: invalid config: "+tc.field+": ") {
				t.Errorf("error text %q does not start with the field", err)
			}
			if _, berr := Build(c, testBase); berr == nil || berr.Error() != err.Error() {
				t.Errorf("Build() = %v, want the same error as Validate", berr)
			}
		})
	}
}

// TestValidateEdges checks configurations at the limits that must pass.
func TestValidateEdges(t *testing.T) {
	tests := []struct {
		name   string
		modify func(c *Config)
	}{
		{"one CPU", func(c *Config) { c.CPUs = 1 }},
		{"255 CPUs", func(c *Config) { c.CPUs = 255 }},
		{"ECAM up to the IOAPIC", func(c *Config) { c.ECAM = ECAM{Base: 0xF000_0000, StartBus: 0, EndBus: 0xEB} }},
		{"ECAM with a start bus", func(c *Config) { c.ECAM.StartBus, c.ECAM.EndBus = 0x80, 0xFF }},
		{"MMIO32 ending at 4 GiB", func(c *Config) {
			c.IOAPIC.Addr = 0xB000_0000
			c.ECAM.Base = 0xA000_0000
			c.MMIO32 = Window{0xFF00_0000, 0x0100_0000}
		}},
		{"MMIO64 ending at 2^64", func(c *Config) { c.MMIO64 = Window{1<<64 - 1<<40, 1 << 40} }},
		{"IO window to 0xFFFF", func(c *Config) { c.IO = Window{0x1000, 0xF000} }},
		{"IO window just after CF8", func(c *Config) { c.IO = Window{0xD00, 0x300} }},
		{"UART just below sleep regs", func(c *Config) { c.Serial[1].Port = 0x3B8 }},
		{"IRQ0 override, level", func(c *Config) { c.Overrides[0].Flags = PolarityLow | TriggerLevel }},
		{"GSI base 24", func(c *Config) {
			c.IOAPIC.GSIBase = 24
			c.Overrides = []InterruptOverride{{Source: 4, GSI: 47, Flags: 0}}
			c.PRT = []PCIRoute{{Device: 31, Pin: 3, GSI: 24}}
		}},
		{"no optional parts", func(c *Config) { *c = minimalConfig() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := fullConfig()
			tc.modify(&c)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			if _, err := Build(c, testBase); err != nil {
				t.Fatalf("Build() = %v", err)
			}
		})
	}
}
