package acpi

// InterruptOverride is a MADT Interrupt Source Override structure (ACPI 6.5
// §5.2.12.5): ISA IRQ Source (0-15) is delivered on Global System
// Interrupt GSI with the MPS INTI Flags (polarity and trigger mode; ACPI 6.5
// Table 5.26).
type InterruptOverride struct {
	Source uint8
	GSI    uint32
	Flags  uint16
}

// MPS INTI flags of an Interrupt Source Override (ACPI 6.5 Table 5.26):
// bits 1:0 are the polarity and bits 3:2 the trigger mode; 0 in either
// means "conforms to the bus" (edge/active-high for ISA).
const (
	PolarityConforms  = 0 << 0
	PolarityHigh      = 1 << 0
	PolarityLow       = 3 << 0
	TriggerConforms   = 0 << 2
	TriggerEdge       = 1 << 2
	TriggerLevel      = 3 << 2
	polarityMask      = 3 << 0
	triggerMask       = 3 << 2
	polarityReserved  = 2 << 0
	triggerReserved   = 2 << 2
	intiFlagsReserved = ^uint16(polarityMask | triggerMask)
)
