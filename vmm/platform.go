package vmm

import (
	"fmt"

	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/serial"
	"github.com/govmm/govmm/vmm/acpi"
)

// createPlatform adds the PCI root complex (segment 0: configuration through
// CF8/CFC and ECAM, the host bridge at 00:00.0) and the ACPI power-off
// registers.
func (vm *VM) createPlatform() error {
	seg, err := pci.NewSegment(pci.SegmentConfig{
		Number:   0,
		ECAMBase: ECAMBase,
		BusStart: 0, BusEnd: ECAMSize>>20 - 1,
		MMIO: &vm.mmio, IO: &vm.pio,
		MMIO32:  pci.Window{Base: MMIO32Base, Size: MMIO32Size},
		MMIO64:  pci.Window{Base: vm.layout.MMIO64, Size: MMIO64Size},
		IOPorts: pci.Window{Base: IOPortBase, Size: IOPortSize},
		OnMapError: func(err error) {
			vm.log.Warn("PCI BAR cannot be mapped", "err", err)
		},
	})
	if err != nil {
		return fmt.Errorf("PCI segment: %w", err)
	}
	vm.pci = seg
	if err := seg.Add(pci.BDF{}, pci.NewHostBridge()); err != nil {
		return fmt.Errorf("PCI host bridge: %w", err)
	}
	cfgio := pci.NewConfigIO(seg, func(v uint8) {
		if v&resetCPU != 0 {
			vm.stop(ExitReset, nil)
		}
	})
	if err := vm.pio.Insert(0xCF8, 8, cfgio); err != nil {
		return err
	}
	base, size := seg.ECAMWindow()
	if err := vm.mmio.Insert(base, size, seg.ECAM()); err != nil {
		return err
	}
	if err := vm.pio.Insert(acpi.SleepControlPort, 2, sleepRegs{vm}); err != nil {
		return err
	}
	return vm.createPCIDevices()
}

// acpiConfig describes the machine to the ACPI table builder.
func (vm *VM) acpiConfig() acpi.Config {
	return acpi.Config{
		CPUs:   vm.cfg.CPUs,
		IOAPIC: acpi.IOAPIC{ID: 0, Addr: IOAPICBase, GSIBase: 0},
		PIC:    true,
		// KVM's default routing wires the PIT (ISA IRQ 0) to IOAPIC pin 2,
		// as a PC does.
		Overrides: []acpi.InterruptOverride{{Source: 0, GSI: 2, Flags: acpi.PolarityHigh | acpi.TriggerEdge}},
		ECAM:      acpi.ECAM{Base: ECAMBase, Segment: 0, StartBus: 0, EndBus: ECAMSize>>20 - 1},
		MMIO32:    acpi.Window{Base: MMIO32Base, Size: MMIO32Size},
		MMIO64:    acpi.Window{Base: vm.layout.MMIO64, Size: MMIO64Size},
		IO:        acpi.Window{Base: IOPortBase, Size: IOPortSize},
		Serial:    []acpi.SerialPort{{Port: serial.COM1Port, IRQ: serial.COM1IRQ}},
		CMOSRTC:   true,
		DMAR:      vm.dmarConfig(),
		VIOT:      vm.viotConfig(),
	}
}

// writeACPI builds the ACPI tables into guest RAM and returns the RSDP's GPA.
func (vm *VM) writeACPI() (uint64, error) {
	t, err := acpi.Build(vm.acpiConfig(), acpiAddr)
	if err != nil {
		return 0, err
	}
	if len(t.Blob) > acpiMax {
		return 0, fmt.Errorf("tables are %d bytes, more than the %d reserved", len(t.Blob), acpiMax)
	}
	if err := vm.mem.WriteAt(t.Blob, acpiAddr); err != nil {
		return 0, err
	}
	// With a hardware-reduced FADT and no EFI, Linux reboots by jumping to
	// the real-mode reset vector: the code there writes RESET_VALUE to
	// RESET_REG (0xCF9), which ends the VM as a reset.
	if err := vm.mem.WriteAt(acpi.ResetVectorCode(), acpi.ResetVectorAddr); err != nil {
		return 0, err
	}
	return t.RSDP, nil
}

// sleepRegs are the hardware-reduced ACPI SLEEP_CONTROL_REG (port offset 0)
// and SLEEP_STATUS_REG (offset 1): writing SLP_TYP=S5 with SLP_EN powers
// the machine off.
type sleepRegs struct{ vm *VM }

func (s sleepRegs) Read(_ uint64, d []byte) { clear(d) }
func (s sleepRegs) Write(off uint64, d []byte) {
	if off == 0 && len(d) > 0 && acpi.IsS5Request(d[0]) {
		s.vm.stop(ExitPowerOff, nil)
	}
}
