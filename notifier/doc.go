// Package notifier carries the translation changes of an emulated IOMMU to
// the host consumers that shadow them: VFIO (type1 container or iommufd IOAS)
// for an assigned device, vhost's device IOTLB for an in-kernel back end, and
// the event log.
//
// # Events
//
// An Event says that the translations of one device address space changed:
//
//   - Map: [IOVA, IOVA+Size) now translates to [Addr, Addr+Size) with
//     permission Perm. With VT-d this is produced in caching mode (CAP.CM,
//     VT-d specification §6.1), where the guest must invalidate
//     not-present-to-present changes too, so the emulation can walk the
//     second-level tables over the invalidated range (PSI/DSI) and find new
//     leaves. With virtio-iommu it is a MAP request on a domain the endpoint
//     is attached to (virtio specification §5.13).
//   - Unmap: the translations of [IOVA, IOVA+Size) are gone (an IOTLB
//     invalidation that removed leaves, a virtio-iommu UNMAP or DETACH).
//   - DevIOTLBUnmap: the guest invalidated a device's own translation cache
//     (VT-d Device-TLB Invalidate Descriptor, type 0x3, VT-d specification
//     §6.5.2.5); delivered to consumers that act as an ATS device.
//
// Every event names its requester in SID: the VT-d source ID (bus<<8 |
// devfn) or the virtio-iommu endpoint ID.
//
// # Hub
//
// A Hub belongs to one device address space. Consumers Register a Notifier
// with a mask of kinds and an inclusive IOVA range; the owner of the address
// space calls Notify for each change, or NotifyRange for an invalidation of a
// range that may be the whole 2^64-byte space. For each registration whose
// mask has the event's kind, the hub
//
//  1. crops the event to the registration's range (a registration for
//     [0, 0xfedfffff] never sees the interrupt window);
//  2. splits the cropped range into naturally aligned power-of-two blocks
//     (Split), so that the same range always produces the same blocks,
//     mapped or unmapped: VFIO type1 v2 rejects an unmap that bisects a
//     mapping with EINVAL, iommufd with ENOENT, and this split never hands a
//     consumer such an unmap for a range it was mapped with;
//  3. delivers each block as its own Event, with the hub's SID and, for a
//     Map, Addr advanced by the block's offset.
//
// Registrations are served in Register order, blocks in ascending IOVA
// order. A Map that a Notifier refuses is rolled back: every block already
// delivered is delivered again as an Unmap to the registration that got it,
// and Notify returns a *DeliveryError. An unmap kind is always delivered in
// full; failures are reported afterwards.
//
// Registering for Map replays the address space's current mappings to the
// new Notifier alone, through the Replayer the owner gave NewHub, cropped and
// split like any Map, before Register returns. Nothing is unmapped first
// (the old "unmap everything, then replay" left a window of several
// milliseconds in which an assigned device had no translations).
//
// Kinds reports the union of all registrations' masks with one atomic load,
// so a producer can skip the page walk that would produce Map events when
// nobody wants them.
//
// # Locking contract
//
// The hub has its own mutex. Notify, NotifyRange, Register (including its
// replay) and Unregister take it and are therefore serialised: a Notifier
// never sees two events of one hub at the same time, a replay never
// interleaves with a Notify, and once Unregister returns its Notifier gets
// nothing more. Kinds, SID and Len may be called from anywhere.
//
// Notifiers and the Replayer run with the hub's lock held. They must not call
// back into the same Hub (Register, Unregister, Notify and NotifyRange would
// deadlock); Kinds is safe. A Notifier registered on several hubs is called
// concurrently by them and must synchronise itself.
//
// An owner that guards its own state with its own lock (an address space with
// its iovatree, a VT-d context entry, a virtio-iommu domain) takes that lock
// around Register as well as around Notify and NotifyRange, so that a replay
// and the change notifications agree on the state. The lock order is then
// always the owner's lock, then the hub's lock; a Notifier or Replayer must
// not take the owner's lock itself, since the owner already holds it.
//
// # Errors
//
// Invalid requests are refused before anything is delivered, with ErrKind,
// ErrZeroSize, ErrWrap, ErrRange, ErrPerm or ErrNilNotifier wrapped with the
// offending range. A Notifier's failure is a *DeliveryError that names the
// requested range, the registration and the block that failed, and unwraps
// to the Notifier's own error (for example a unix.Errno from an ioctl).
//
// # Cost
//
// Notify and NotifyRange do not allocate unless they fail. Any range is at
// most 128 blocks per registration.
package notifier
