package virtio

import (
	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/memory"
)

// Device is a virtio device back end: what the Transport needs to present
// a device type to the driver and to run it. The Transport owns
// everything generic — PCI identity and capabilities, feature negotiation,
// device status, queue setup, notifications and interrupts, reset — and
// calls the Device at these points:
//
//   - at creation: Type, Features, QueueSizes and ConfigSize describe the
//     device; they must not change afterwards;
//   - at any time: ReadConfig and WriteConfig serve the driver's accesses
//     to the device-specific configuration structure (virtio 1.2 §4.1.4.6);
//   - when the driver sets DRIVER_OK: Activate, with the negotiated
//     features and the queues the driver enabled;
//   - after every notification of queue i (a guest kick or Queue.Wake):
//     Process(q), on the goroutine that serves queue i — each queue has its
//     own, so Process runs concurrently for different queues but never
//     for the same queue twice at once;
//   - when the driver writes 0 to device_status (or the Transport is
//     closed): Reset, after every queue goroutine has returned.
//
// Devices do not see the PCI transport, interrupts or eventfds: a Queue
// does the DMA and the notification suppression, and the Transport sends
// the queue's MSI-X vector after Process returns (Queue.Interrupt).
type Device interface {
	// Type is the virtio device type (the PCI device ID is 0x1040+Type).
	Type() Type
	// Features is the device-specific feature bits the device offers
	// (bits 0–23 and 50–63). Transport bits (24–40) are ignored: the
	// Transport offers VERSION_1, ACCESS_PLATFORM, EVENT_IDX and
	// INDIRECT_DESC itself.
	Features() uint64
	// QueueSizes returns the maximum size of each of the device's queues
	// (len is num_queues, at most MaxQueues; every size a power of 2, at
	// most MaxQueueSize). The driver may choose smaller sizes.
	QueueSizes() []uint16
	// ConfigSize is the size in bytes of the device-specific
	// configuration structure (0–4096).
	ConfigSize() int
	// ReadConfig fills data with the bytes at offset off of the
	// device-specific configuration; the Transport guarantees that
	// [off, off+len(data)) lies inside [0, ConfigSize()).
	ReadConfig(off int, data []byte)
	// WriteConfig is a driver write to the device-specific
	// configuration, inside [0, ConfigSize()). Read-only fields ignore it.
	WriteConfig(off int, data []byte)
	// Activate starts the device: the driver has negotiated a.Features
	// and set DRIVER_OK. An error sets DEVICE_NEEDS_RESET.
	Activate(a *Activation) error
	// Process serves queue q after a notification: it pops the available
	// chains, handles them and pushes them to the used ring. An error
	// (normally one from Pop or Push) stops the queue and sets
	// DEVICE_NEEDS_RESET.
	Process(q *Queue) error
	// Reset returns the device to its initial state (virtio 1.2 §2.4):
	// it forgets the queues and the negotiated features. The queue
	// goroutines have stopped when it is called.
	Reset()
}

// Activation is what a device receives when the driver sets DRIVER_OK.
type Activation struct {
	// Features is the negotiated feature set (device and transport bits).
	Features uint64
	// Queues has one entry per queue the device declared, in index
	// order; a queue the driver did not enable is nil.
	Queues []*Queue
	// Memory is guest RAM and DMA the address space every buffer address
	// goes through: the device's IOMMU address space when
	// VIRTIO_F_ACCESS_PLATFORM was negotiated, dma.Identity otherwise.
	// The Queues already use them; a device needs them only for DMA
	// outside its queues.
	Memory *memory.Memory
	DMA    dma.AddressSpace
	// Transport is the device's transport, for ConfigChanged (a
	// configuration change interrupt) and Fail (DEVICE_NEEDS_RESET) from
	// the device's own goroutines.
	Transport *Transport
}

// MaxQueues is the largest number of queues a Device may declare on the
// PCI transport (one MSI-X vector each, plus one for configuration
// changes).
const MaxQueues = 256
