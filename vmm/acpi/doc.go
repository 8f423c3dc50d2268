// Package acpi builds the ACPI tables govmm gives its x86 guests: the RSDP,
// XSDT, FADT, DSDT, MADT and MCFG every guest gets, and the two IOMMU
// tables, DMAR (Intel VT-d) and VIOT (virtio-iommu), when the VM has those
// IOMMUs. Guests are booted directly, with no firmware: the VMM copies the
// tables into guest RAM and passes the RSDP's address to the kernel.
//
// # Using it
//
// Describe the machine in a Config and call Build with the guest-physical
// address the tables will live at:
//
//	tables, err := acpi.Build(cfg, 0xE0000)
//	// copy tables.Blob to guest RAM at tables.Base
//	// report [tables.Base, tables.Base+tables.Size()) as E820 ACPI or reserved
//	// boot_params.acpi_rsdp_addr (or PVH start_info.rsdp_paddr) = tables.RSDP
//
// Build validates the Config first (Config.Validate) and returns a
// *ConfigError naming the field at fault, with the values involved, for
// anything a guest would trip over: a CPU count outside 1-255, overlapping
// MMIO windows, ECAM or register blocks, I/O port clashes, IRQs and GSIs
// that do not exist, malformed DMAR device scopes, VIOT ranges that overlap,
// or a device claimed by both IOMMUs. Nothing in the package panics on a
// bad Config.
//
// # What the tables say
//
// The blob holds, each 16-byte aligned and checksummed, in this order:
//
//   - RSDP (ACPI 6.5 §5.2.5.3), revision 2, at the blob's start, pointing
//     at the XSDT only (no RSDT).
//   - XSDT (§5.2.8), listing FACP, APIC, MCFG, and DMAR and VIOT when
//     present.
//   - FADT (§5.2.9), revision 6.5, hardware-reduced (see below), pointing at
//     the DSDT.
//   - DSDT (§5.2.11.1), revision 2: \_S5, one ACPI0007 processor device per
//     vCPU, the PNP0A08 host bridge \_SB.PCI0 (_SEG, _BBN, _UID, _CRS with the
//     bus range, the configuration ports 0xCF8-0xCFF it consumes, and its
//     I/O, 32-bit and 64-bit windows; _PRT when configured; an _OSC that
//     grants the OS every PCIe feature it asks for), the PNP0501 UARTs, the
//     PNP0B00 RTC, and a PNP0C02 motherboard-resources device reserving the
//     ECAM window (as PCI Firmware 3.3 §4.1.2 requires, so Linux uses ECAM)
//     and the sleep registers. The AML comes from the aml subpackage.
//   - MADT (§5.2.12): one enabled Processor Local APIC per vCPU (UID = APIC
//     ID = vCPU index), the I/O APIC, the interrupt source overrides, and a
//     Local APIC NMI on LINT1 for all processors.
//   - MCFG (PCI Firmware 3.3 §4.1.2): the ECAM window of the one segment.
//   - DMAR (Intel VT-d specification ch. 8): host address width, INTR_REMAP
//     and X2APIC_OPT_OUT flags (never DMA_CTRL_PLATFORM_OPT_IN), the DRHD
//     units with INCLUDE_PCI_ALL or explicit device scopes (IOAPIC scopes
//     for interrupt remapping), and ATSR structures.
//   - VIOT (ACPI 6.6 §5.2.33): one virtio-pci IOMMU node and PCI-range
//     endpoint nodes.
//
// # The platform contract
//
// The FADT is hardware-reduced (HW_REDUCED_ACPI): no PM1 event/control
// blocks, no PM timer, no GPEs, no SCI and no FACS. Linux then leaves the
// legacy PIC and PIT alone, which suits a split irqchip, and takes ISA IRQs
// (the UARTs', the RTC's) from the DSDT. The VMM must provide:
//
//   - SLEEP_CONTROL_REG at port SleepControlPort (0x3C0): a byte write with
//     IsS5Request(v) true (0x34 from Linux) powers the VM off.
//     SLEEP_STATUS_REG at SleepStatusPort (0x3C1): writes ignored, reads 0.
//   - RESET_REG at port ResetPort (0xCF9, inside the PCI configuration
//     ports): a byte write with bit 2 set (ResetValue is 0x06) resets.
//   - ResetVectorCode at ResetVectorAddr (0xFFFF0): Linux on a
//     hardware-reduced platform without EFI reboots through the real-mode
//     reset vector rather than the RESET_REG; this code writes the reset
//     register for it. (Booting the guest with "reboot=acpi" also works.)
//   - A way for the guest to know the TSC frequency without a PIT or PM
//     timer: KVM's paravirtual clock (the KVM CPUID leaves) or CPUID 0x15.
//     Without one, Linux cannot calibrate its timers on a hardware-reduced
//     platform and stops early in boot.
//   - The tables' own range in the E820 map (ACPI or reserved), and the ECAM
//     window reserved there too: Linux checks E820 before the DSDT is
//     loaded, and without the entry starts out with port-I/O configuration
//     until the PNP0C02 reservation is seen.
//   - A _PRT (Config.PRT) if any PCI device relies on INTx rather than
//     MSI or MSI-X.
//
// With these, Debian's 6.1 and 6.12 cloud kernels boot with no "ACPI
// Error", "ACPI Warning", "ACPI BIOS Error", "FW_BUG" or "[Firmware Bug]"
// line, enumerate the host bridge through ECAM, bind the UART and RTC
// through PNP, get _OSC control of PCIe features, enable VT-d with
// interrupt remapping from the DMAR, attach endpoints to the virtio-iommu
// from the VIOT, and power off through SLEEP_CONTROL_REG.
//
// # Verification
//
// The tests decode every table independently of the builder, fuzz Build
// with random configurations (FuzzBuild), and round-trip each table through
// the ACPICA disassembler and compiler iasl (Debian package acpica-tools),
// failing on any error, warning or remark and on any byte that does not
// survive the trip. A missing iasl fails the tests; GOVMM_IASL selects
// another iasl binary.
package acpi
