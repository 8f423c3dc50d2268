package virtio

import "sync/atomic"

// ISR status bits (virtio 1.2 §4.1.4.5).
const (
	ISRQueue  = 1 << 0 // a used-buffer notification
	ISRConfig = 1 << 1 // a configuration change notification
)

// isr is the ISR status byte: set by notifications, cleared when the
// driver reads it. It is what an INTx-only driver polls; with MSI-X the
// driver ignores it, but the bits are kept anyway.
type isr struct{ v atomic.Uint32 }

func (r *isr) set(bits uint32) { r.v.Or(bits) }

// read returns the byte and clears it (read-to-clear, §4.1.4.5.1).
func (r *isr) read() uint8 { return uint8(r.v.Swap(0)) }

func (r *isr) reset() { r.v.Store(0) }
