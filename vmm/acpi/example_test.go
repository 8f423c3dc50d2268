package acpi_test

import (
	"fmt"

	"github.com/govmm/govmm/vmm/acpi"
)

// ExampleBuild builds the tables of a two-vCPU VM with a VT-d unit and
// shows what the VMM does with the result.
func ExampleBuild() {
	cfg := acpi.Config{
		CPUs:      2,
		IOAPIC:    acpi.IOAPIC{ID: 0, Addr: 0xFEC00000},
		PIC:       true,
		ECAM:      acpi.ECAM{Base: 0xE0000000, StartBus: 0, EndBus: 255},
		MMIO32:    acpi.Window{Base: 0xC0000000, Size: 512 << 20},
		MMIO64:    acpi.Window{Base: 64 << 30, Size: 64 << 30},
		IO:        acpi.Window{Base: 0xC000, Size: 0x4000},
		Serial:    []acpi.SerialPort{acpi.COM1},
		Overrides: []acpi.InterruptOverride{{Source: 0, GSI: 2, Flags: acpi.PolarityHigh | acpi.TriggerEdge}},
		DMAR: &acpi.DMARConfig{
			HostAddressWidth: 39,
			IntrRemap:        true,
			Units: []acpi.DRHD{{
				RegisterBase:  0xFED90000,
				IncludePCIAll: true,
				Scopes:        []acpi.DeviceScope{acpi.IOAPICScope(0, 0xFF00)},
			}},
		},
	}
	tables, err := acpi.Build(cfg, 0xE0000)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Copy tables.Blob to guest RAM at tables.Base, report
	// [Base, Base+Size()) in the E820 map, and hand tables.RSDP to the
	// kernel (boot_params.acpi_rsdp_addr or PVH rsdp_paddr).
	fmt.Printf("RSDP at %#x, %d bytes of tables\n", tables.RSDP, tables.Size())
	for _, t := range tables.Entries {
		fmt.Printf("%s %#x %d\n", t.Signature, t.GPA, t.Size)
	}
	// The VMM powers off on this write to acpi.SleepControlPort.
	fmt.Println(acpi.IsS5Request(acpi.S5SleepType<<acpi.SleepTypeShift | acpi.SleepEnable))
	// Output:
	// RSDP at 0xe0000, 1048 bytes of tables
	// RSDP 0xe0000 36
	// XSDT 0xe0030 68
	// FACP 0xe0080 276
	// DSDT 0xe01a0 387
	// APIC 0xe0330 88
	// MCFG 0xe0390 60
	// DMAR 0xe03d0 72
	// true
}

// ExampleConfig_Validate shows the error a VMM gets for an overlapping
// layout.
func ExampleConfig_Validate() {
	cfg := acpi.Config{
		CPUs:   1,
		IOAPIC: acpi.IOAPIC{Addr: 0xFEC00000},
		ECAM:   acpi.ECAM{Base: 0xE0000000, EndBus: 255},
		MMIO32: acpi.Window{Base: 0xC0000000, Size: 0x20100000}, // 1 MiB too long
	}
	fmt.Println(cfg.Validate())
	// Output:
	// acpi: invalid config: ECAM: range [0xe0000000, 0xefffffff] overlaps MMIO32 [0xc0000000, 0xe00fffff]
}
