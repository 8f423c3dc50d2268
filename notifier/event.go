package notifier

import (
	"fmt"
	"strings"
)

// Kind is a set of event kinds, one bit each. An Event carries exactly one
// kind; a registration (Hub.Register) carries a mask of the kinds it wants.
//
// The three kinds are the three notifications an emulated IOMMU owes the
// host consumers that shadow its translations (VT-d caching mode, VT-d
// specification §6.1; virtio-iommu MAP and UNMAP requests, virtio
// specification §5.13, "IOMMU Device").
type Kind uint8

// The event kinds.
const (
	// Map announces a new translation IOVA -> Addr with permission Perm.
	// Host consumers turn it into VFIO_IOMMU_MAP_DMA, IOMMU_IOAS_MAP or a
	// vhost IOTLB UPDATE.
	Map Kind = 1 << 0
	// Unmap announces that the translations of [IOVA, IOVA+Size) are gone.
	// Host consumers turn it into VFIO_IOMMU_UNMAP_DMA, IOMMU_IOAS_UNMAP or
	// a vhost IOTLB INVALIDATE.
	Unmap Kind = 1 << 1
	// DevIOTLBUnmap is a device-IOTLB (ATS) invalidation: the guest asked
	// the IOMMU to invalidate the translations a device caches itself (VT-d
	// Device-TLB Invalidate Descriptor, type 0x3, VT-d specification
	// §6.5.2.5). Consumers that behave as an ATS device (vhost with a
	// device IOTLB) register for it instead of Unmap.
	DevIOTLBUnmap Kind = 1 << 2

	// AllKinds is the union of every kind, the widest valid registration
	// mask.
	AllKinds = Map | Unmap | DevIOTLBUnmap
)

// String returns the kind's name as the event log writes it: "map",
// "unmap" or "deviotlb_unmap"; a set of several kinds is joined with "|"
// ("map|unmap"); an empty set is "none"; undefined bits are shown as
// "kind(0x..)".
func (k Kind) String() string {
	switch k {
	case 0:
		return "none"
	case Map:
		return "map"
	case Unmap:
		return "unmap"
	case DevIOTLBUnmap:
		return "deviotlb_unmap"
	}
	var parts []string
	for _, one := range []Kind{Map, Unmap, DevIOTLBUnmap} {
		if k&one != 0 {
			parts = append(parts, one.String())
		}
	}
	if rest := k &^ AllKinds; rest != 0 {
		parts = append(parts, fmt.Sprintf("kind(%#x)", uint8(rest)))
	}
	return strings.Join(parts, "|")
}

// single reports whether k is exactly one defined kind.
func (k Kind) single() bool {
	return k == Map || k == Unmap || k == DevIOTLBUnmap
}

// Perm is the access a translation permits, as seen from the device: the
// same bit values as iovatree.Perm and dma.Access, and as the R and W bits
// of a VT-d second-level PTE (VT-d specification §9.8) and the
// VIRTIO_IOMMU_MAP_F_READ/WRITE flags of a virtio-iommu MAP request
// (virtio specification §5.13).
type Perm uint8

// Permission bits.
const (
	PermRead  Perm = 1 << 0 // the device may read guest memory (DMA to the device)
	PermWrite Perm = 1 << 1 // the device may write guest memory
	PermRW         = PermRead | PermWrite
)

// String returns "r", "w", "rw", or "-" for no permission; undefined bits
// are shown as "perm(0x..)".
func (p Perm) String() string {
	switch p {
	case 0:
		return "-"
	case PermRead:
		return "r"
	case PermWrite:
		return "w"
	case PermRW:
		return "rw"
	}
	return fmt.Sprintf("perm(%#x)", uint8(p))
}

// Event is one notification about the translations of one device address
// space.
//
// As delivered to a Notifier by a Hub:
//   - Kind is exactly one of Map, Unmap, DevIOTLBUnmap.
//   - Size is a power of two (1 to 2^63 bytes) and IOVA is a multiple of
//     Size, so [IOVA, IOVA+Size) is a naturally aligned block that never
//     wraps past 2^64. The same range is always split into the same blocks,
//     whether mapped or unmapped.
//   - Addr is the translated guest-physical address of IOVA for Map (the
//     VT-d second-level leaf's address plus the offset; the virtio-iommu
//     MAP request's phys_start plus the offset); 0 for the unmap kinds.
//   - Perm is the permission of a Map (never 0); 0 for the unmap kinds.
//   - SID is the requester whose address space changed: the VT-d source ID
//     (bus<<8 | devfn, VT-d specification §3.4.1) or the virtio-iommu
//     endpoint ID (virtio specification §5.13). The Hub fills it in.
//
// Passed to Hub.Notify, an Event may describe any range of at least one
// byte that does not wrap; the hub splits it.
type Event struct {
	Kind Kind
	SID  uint32
	IOVA uint64 // first I/O virtual address, bytes
	Size uint64 // length in bytes, at least 1
	Addr uint64 // guest-physical address of IOVA (Map only)
	Perm Perm   // permission (Map only)
}

// Last returns the last IOVA of the event, IOVA+Size-1. It is only
// meaningful for a valid event (Size >= 1, no wrap).
func (e Event) Last() uint64 { return e.IOVA + e.Size - 1 }

// String formats the event for messages, for example
// "map SID 0x10 IOVA [0x1000, 0x1fff] -> 0x5000 rw" or
// "unmap SID 0x10 IOVA [0x1000, 0x1fff]". A zero Size is shown as
// "IOVA 0x1000 size 0".
func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s SID %#x ", e.Kind, e.SID)
	if e.Size == 0 {
		fmt.Fprintf(&b, "IOVA %#x size 0", e.IOVA)
	} else {
		fmt.Fprintf(&b, "IOVA [%#x, %#x]", e.IOVA, e.IOVA+e.Size-1)
	}
	if e.Kind == Map || e.Addr != 0 || e.Perm != 0 {
		fmt.Fprintf(&b, " -> %#x %s", e.Addr, e.Perm)
	}
	return b.String()
}
