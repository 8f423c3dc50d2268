package acpi

// Config describes the platform the tables present to the guest. The VMM
// fills it from its memory layout and device set; Build validates it (see
// Config.Validate) and lays out the tables.
//
// The zero value is not valid: CPUs, IOAPIC.Addr, ECAM and MMIO32 must be
// set. Optional parts are off when zero: no 64-bit window, no I/O window, no
// serial port, no RTC, no PC-AT PIC flag, no interrupt source overrides, no
// _PRT, no DMAR and no VIOT.
type Config struct {
	// CPUs is the number of vCPUs, 1 to MaxCPUs. vCPU i gets a MADT
	// Processor Local APIC entry with ACPI Processor UID i and APIC ID i,
	// and a processor device \_SB.Cxxx (xxx = i in hex) with _UID i.
	CPUs int

	// IOAPIC is the one I/O APIC (MADT I/O APIC structure).
	IOAPIC IOAPIC

	// PIC reports a PC-AT-compatible dual 8259 (the in-kernel PIC that
	// KVM_CREATE_IRQCHIP provides): it sets the MADT PCAT_COMPAT flag.
	// Leave it false with a split irqchip, which has no PIC.
	PIC bool

	// Overrides are the MADT Interrupt Source Override structures: ISA
	// IRQs that are not wired to the IOAPIC pin of the same number, or
	// whose polarity or trigger mode differs from ISA's edge/active-high.
	// Without any, the guest maps ISA IRQ n to GSI IOAPIC.GSIBase+n, which
	// is KVM's default GSI routing. A VMM that routes the PIT (IRQ 0) to pin
	// 2, as a PC does, adds {Source: 0, GSI: 2, Flags: PolarityHigh |
	// TriggerEdge}.
	Overrides []InterruptOverride

	// ECAM is the PCI Express enhanced configuration window of the single
	// PCI segment (MCFG, and the host bridge's _SEG and _BBN).
	ECAM ECAM

	// MMIO32 is the host bridge's 32-bit memory window for BARs; it must
	// lie below 4 GiB and is required. MMIO64 is its 64-bit window; Size 0
	// omits it. IO is its port-I/O window for I/O BARs (for example
	// 0x1000-0xFFFF or 0xC000-0xFFFF); Size 0 omits it. None of them may
	// overlap each other, the ECAM window, the IOAPIC page, the local APIC
	// window, a DMAR register block, or the fixed legacy ports the tables
	// describe.
	MMIO32, MMIO64, IO Window

	// PRT lists the legacy INTx routes of devices on the host bridge's
	// first bus (its _PRT, ACPI 6.5 §6.2, "_PRT (PCI Routing Table)"). Leave it empty when every
	// device uses MSI or MSI-X only; Linux then warns "PCI INT A: no GSI"
	// for any device whose Interrupt Pin register is not 0.
	PRT []PCIRoute

	// Serial lists the 16550 UARTs (PNP0501 devices COM1, COM2, ...), at
	// most 4. COM1 is the usual console: {Port: 0x3F8, IRQ: 4}.
	Serial []SerialPort

	// CMOSRTC declares the MC146818 RTC at ports 0x70-0x71 with ISA IRQ 8
	// (a PNP0B00 device). When false the FADT sets the "CMOS RTC Not
	// Present" boot flag, and Linux does not probe ports 0x70-0x71.
	CMOSRTC bool

	// DMAR, when not nil, adds a DMAR table describing the VT-d units.
	DMAR *DMARConfig

	// VIOT, when not nil, adds a VIOT table describing the virtio-iommu and
	// the endpoints behind it.
	VIOT *VIOTConfig
}

// Limits and fixed platform values.
const (
	// MaxCPUs is the largest CPU count: xAPIC IDs 0-254 (255 is the
	// broadcast ID), one MADT Processor Local APIC structure each.
	MaxCPUs = 255
	// MaxSerialPorts is the number of PNP0501 devices Build accepts.
	MaxSerialPorts = 4
	// LocalAPICAddr is the local APICs' register base (MADT Local Interrupt
	// Controller Address). The MSI window [LocalAPICAddr, +LocalAPICSize)
	// is kept free of every other range.
	LocalAPICAddr = 0xFEE0_0000 // MADT Local Interrupt Controller Address
	LocalAPICSize = 0x10_0000   // the MSI window, 1 MiB
	// IOAPICSize is the span reserved for the IOAPIC's registers when
	// checking for overlaps: one 4 KiB page.
	IOAPICSize = 0x1000
	// IOAPICPins is the number of redirection entries of KVM's in-kernel
	// IOAPIC: GSIs IOAPIC.GSIBase to IOAPIC.GSIBase+23.
	IOAPICPins = 24
)

// Window is a range of guest-physical addresses or I/O ports:
// [Base, Base+Size). Size 0 means "none".
type Window struct {
	Base uint64 // first address or port
	Size uint64 // length in bytes (or ports); 0 means no window
}

// End returns the first address after the window.
func (w Window) End() uint64 { return w.Base + w.Size }

// IOAPIC describes the I/O APIC (ACPI 6.5 §5.2.12.3, "I/O APIC Structure").
type IOAPIC struct {
	// ID is the I/O APIC ID. It is also the DMAR IOAPIC device scope's
	// Enumeration ID. KVM's in-kernel IOAPIC resets to ID 0.
	ID uint8
	// Addr is the 32-bit guest-physical base of its registers, normally
	// 0xFEC00000; it must not be 0.
	Addr uint32
	// GSIBase is the first Global System Interrupt its pins serve.
	GSIBase uint32
}

// ECAM describes the PCI Express enhanced configuration access mechanism of
// one PCI segment (PCI Firmware Specification 3.3 §4.1.2, MCFG "Memory
// Mapped Enhanced Configuration Space Base Address Allocation Structure").
type ECAM struct {
	// Base is the MCFG Base Address: the address of bus 0's configuration
	// space, 1 MiB aligned. The window actually decoded is
	// [Base + StartBus<<20, Base + (EndBus+1)<<20); it must end at or
	// below 4 GiB, because Linux ignores an ECAM region above 4 GiB when
	// the firmware has no DMI date.
	Base uint64
	// Segment is the PCI Segment Group number (also the host bridge's
	// _SEG and _UID).
	Segment uint16
	// StartBus and EndBus are the bus numbers the window decodes
	// (StartBus is also the host bridge's _BBN).
	StartBus, EndBus uint8
}

// Window returns the guest-physical range the ECAM decodes.
func (e ECAM) Window() Window {
	return Window{Base: e.Base + uint64(e.StartBus)<<20, Size: (uint64(e.EndBus) - uint64(e.StartBus) + 1) << 20}
}

// SerialPort is a 16550-compatible UART: 8 I/O ports from Port, on ISA IRQ
// IRQ (0-15).
type SerialPort struct {
	Port uint16 // first of the 8 I/O ports, e.g. 0x3F8
	IRQ  uint8  // ISA IRQ, 1-15 but not 2
}

// COM1 is the standard first serial port: ports 0x3F8-0x3FF, ISA IRQ 4.
var COM1 = SerialPort{Port: 0x3F8, IRQ: 4}

// PCIRoute is one _PRT entry (ACPI 6.5 §6.2, "_PRT (PCI Routing
// Table)"): INTx pin Pin (0 = INTA to 3 = INTD) of every function of device
// Device (0-31) on the host bridge's bus asserts GSI, a level-triggered,
// active-low, shared interrupt on the IOAPIC.
type PCIRoute struct {
	Device uint8  // PCI device number on the root bus, 0-31
	Pin    uint8  // 0 = INTA, 1 = INTB, 2 = INTC, 3 = INTD
	GSI    uint32 // the IOAPIC input the pin is wired to
}
