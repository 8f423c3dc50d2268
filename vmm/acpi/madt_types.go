package acpi

// InterruptOverride is a MADT Interrupt Source Override structure (ACPI 6.5
// §5.2.12.5): ISA IRQ Source (0-15) is delivered on Global System
// Interrupt GSI with the MPS INTI Flags (polarity and trigger mode).
type InterruptOverride struct {
	Source uint8  // ISA IRQ, 0-15
	GSI    uint32 // the IOAPIC input it arrives on
	Flags  uint16 // one Polarity* | one Trigger* constant
}

// MPS INTI flags of an Interrupt Source Override (ACPI 6.5 §5.2.12.5,
// "MPS INTI Flags"): bits 1:0 are the polarity and bits 3:2 the trigger
// mode; 0 in either means "conforms to the bus" (edge/active-high for ISA).
// Combine one polarity and one trigger mode with |.
const (
	PolarityConforms = 0 << 0 // polarity of the bus (active-high for ISA)
	PolarityHigh     = 1 << 0 // active-high
	PolarityLow      = 3 << 0 // active-low
	TriggerConforms  = 0 << 2 // trigger mode of the bus (edge for ISA)
	TriggerEdge      = 1 << 2 // edge-triggered
	TriggerLevel     = 3 << 2 // level-triggered
)

const (
	polarityMask      = 3 << 0
	triggerMask       = 3 << 2
	polarityReserved  = 2 << 0
	triggerReserved   = 2 << 2
	intiFlagsReserved = ^uint16(polarityMask | triggerMask)
)
