// Package irq holds the interrupt interfaces device models are given by the
// VMM: message-signalled interrupts (MSI, MSI-X, the VT-d fault and
// invalidation-completion events) and level-triggered lines wired to the
// IOAPIC/PIC.
package irq

// MSI is one message-signalled interrupt: the device writes Data (32 bits)
// to Addr (a guest-physical address in the 0xFEE00000 window for x86
// compatibility-format messages, or a remappable-format address once
// interrupt remapping is on). DevID is the requester ID (bus<<8 | devfn)
// that sent it, used by interrupt remapping and by KVM's MSI routing.
type MSI struct {
	Addr  uint64
	Data  uint32
	DevID uint32
}

// MSISender delivers MSIs to the guest. Implementations are safe for
// concurrent use; an error means the message could not be delivered (for
// example KVM refused it) and is reported, never panicked on.
type MSISender interface {
	SendMSI(m MSI) error
}

// Line is a level-triggered interrupt line (a GSI on the IOAPIC, which
// KVM also routes to the legacy PIC for GSIs below 16).
type Line interface {
	SetLevel(high bool) error
}
