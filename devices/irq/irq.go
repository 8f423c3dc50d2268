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

// IOEvents turns guest writes into eventfd signals inside the kernel (KVM
// ioeventfd), so that a device goroutine is woken without a vCPU exit to
// userspace. fd is an eventfd the device owns (unix.Eventfd); addr is a
// guest-physical MMIO address, size the write width in bytes (1, 2, 4 or
// 8), and match, if not nil, restricts the event to writes of that value
// (a virtio queue notification carries the queue index). Register and
// Unregister must be called with identical arguments.
type IOEvents interface {
	RegisterIOEvent(fd int, addr uint64, size uint32, match *uint64) error
	UnregisterIOEvent(fd int, addr uint64, size uint32, match *uint64) error
}

// MSIRoutes binds eventfds to MSI messages inside the kernel (KVM irqfd
// with a GSI route per message), so that a device goroutine raises an MSI
// by writing the eventfd. AddMSIRoute returns a handle for the route;
// UpdateMSIRoute retargets it when the guest reprograms the vector (an
// MSI-X table write); RemoveMSIRoute unbinds fd and frees the route.
type MSIRoutes interface {
	AddMSIRoute(fd int, m MSI) (route uint32, err error)
	UpdateMSIRoute(route uint32, m MSI) error
	RemoveMSIRoute(fd int, route uint32) error
}
