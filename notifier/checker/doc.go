// Package checker holds Notifiers that stand in for the host kernel in
// tests: each applies the events it receives as the kernel interface would
// apply the ioctls a real consumer makes of them, refuses what the kernel
// refuses with the errno it returns, and keeps the resulting set of
// mappings. A test registers one on a notifier.Hub, runs a guest workload
// (or a Go model of a guest driver) against the emulated IOMMU, and then
// asserts two things:
//
//  1. nothing was refused: Err() == nil, or, for a test that expects a
//     failure, errors.Is(err, unix.EEXIST) and errors.Is(err, ErrOverlap)
//     on the returned error;
//  2. the host view equals the guest view: Coalesce(c.Mappings()) equals
//     the coalesced result of walking the guest's page tables (VT-d) or the
//     domain's mappings (virtio-iommu). Mappings is "the union of the
//     accepted MAPs minus the UNMAPs", in the kernel's own granularity.
//
// # Checkers
//
//   - Type1: a VFIO type1 v2 container (VFIO_IOMMU_MAP_DMA and
//     VFIO_IOMMU_UNMAP_DMA): EEXIST for an overlapping map, EINVAL for an
//     unmap that bisects a mapping, success for an unmap of nothing, EINVAL
//     for a zero-size or page-unaligned request, ENOSPC past the 65,535
//     entries of dma_entry_limit.
//   - IOMMUFD: an iommufd IOAS (IOMMU_IOAS_MAP with a fixed IOVA and
//     IOMMU_IOAS_UNMAP): EEXIST for an overlapping map, ENOENT for an unmap
//     that would split an area (after removing the whole areas before it)
//     and for an unmap of nothing, unless told that the consumer ignores the
//     latter.
//
// The semantics follow Linux drivers/vfio/vfio_iommu_type1.c and
// drivers/iommu/iommufd/ioas.c and io_pagetable.c (Linux 6.1 to 6.12); the
// doc comment of each type lists every check in the kernel's order.
//
// # Errors
//
// A refused event is a *Violation: it names the ioctl, the event (kind, SID,
// range, address) and the existing mapping involved, and unwraps both to
// the unix.Errno and to a reason sentinel (ErrOverlap, ErrBisect, ...). The
// checker returns it from Notify, so a hub reports it (and rolls back a
// Map), and also keeps it: Violations returns the first MaxKept, Err
// summarises them, Counts counts everything.
//
// Checkers are safe for concurrent use; one may be registered on several
// hubs, as a VFIO container serves several devices.
package checker
