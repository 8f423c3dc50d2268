package notifier

// Notifier receives the events of the registrations it was given to.
//
// Notify is called with the Hub's lock held, one event at a time per hub,
// in the order described in the package documentation. It must not call
// back into the Hub that delivers the event (Register, Unregister, Notify,
// NotifyRange would deadlock; Kinds is safe). A Notifier shared by several
// hubs is called concurrently by them and must synchronise itself.
//
// Returning an error from a Map makes the hub roll the whole Map back (see
// Hub.Notify); the Notifier must then treat the failed block itself as not
// mapped, as the kernel does for a failed VFIO_IOMMU_MAP_DMA or
// IOMMU_IOAS_MAP. Returning an error from an unmap kind is reported to the
// caller but stops nothing: every other block and registration still gets
// its invalidation.
type Notifier interface {
	Notify(ev Event) error
}

// Func adapts an ordinary function to the Notifier interface.
type Func func(ev Event) error

// Notify calls f(ev).
func (f Func) Notify(ev Event) error { return f(ev) }

// Replayer enumerates the current mappings of the address space that owns a
// Hub, for Hub.Register: it calls yield once for every mapping, as an Event
// of Kind Map (0 is taken as Map) with IOVA, Size (any size and alignment, at least 1, not
// wrapping), Addr and Perm (non-zero) set; SID is ignored. The mappings must
// not overlap. Replayer stops at the first non-nil error yield returns and
// returns it; it may also return its own error (for example a page-walk
// failure), which aborts the registration the same way.
//
// The Hub calls the Replayer with its lock held: the Replayer must not call
// back into the Hub. It runs under the owner's lock too when the owner
// follows the locking contract in the package documentation, so it may read
// the owner's state directly.
type Replayer func(yield func(ev Event) error) error

// Handle identifies one registration on one Hub. Handles are allocated in
// increasing order starting at 1 and are never reused by the same Hub; 0 is
// never a valid handle.
type Handle uint64
