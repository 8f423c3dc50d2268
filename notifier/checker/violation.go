package checker

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/govmm/govmm/notifier"
)

// Reasons for a refused event. Every *Violation unwraps to one of these and
// to the errno the kernel would return, so both errors.Is(err, unix.EINVAL)
// and errors.Is(err, checker.ErrBisect) work.
var (
	// ErrOverlap: a map overlaps an existing mapping (EEXIST).
	ErrOverlap = errors.New("overlaps an existing mapping")
	// ErrBisect: an unmap covers only part of a mapping (type1 v2:
	// EINVAL, nothing removed; iommufd: ENOENT, the whole mappings before
	// it in the range already removed).
	ErrBisect = errors.New("would split a mapping")
	// ErrNotMapped: an iommufd unmap found nothing mapped in its range
	// (ENOENT), which iommufd does not tell apart from ErrBisect.
	ErrNotMapped = errors.New("nothing mapped in the range")
	// ErrZeroSize: a map or unmap of zero bytes (EINVAL).
	ErrZeroSize = errors.New("zero size")
	// ErrUnaligned: an IOVA, size or address not aligned to the IOMMU page
	// size (EINVAL).
	ErrUnaligned = errors.New("not aligned to the IOMMU page size")
	// ErrWrap: a range that runs past the end of the 64-bit space, or that
	// the ioctl cannot represent (type1: EINVAL; iommufd: EOVERFLOW).
	ErrWrap = errors.New("range overflows")
	// ErrPerm: a map with no permission (EINVAL) or undefined permission
	// bits (type1: EINVAL; iommufd: EOPNOTSUPP).
	ErrPerm = errors.New("invalid permission")
	// ErrReserved: a map that overlaps a reserved IOVA range (EINVAL).
	ErrReserved = errors.New("overlaps a reserved IOVA range")
	// ErrLimit: a type1 map past dma_entry_limit (ENOSPC).
	ErrLimit = errors.New("dma_entry_limit reached")
	// ErrKind: an event kind the kernel interface has no operation for
	// (DevIOTLBUnmap, undefined kinds), reported with EINVAL.
	ErrKind = errors.New("no such operation")
)

// MaxKept is the number of violations a checker keeps for Violations; all of
// them are counted in Counts.Violations.
const MaxKept = 64

// Violation is an event the real kernel would have refused, and how.
type Violation struct {
	// Op is the ioctl the event stands for: "VFIO_IOMMU_MAP_DMA",
	// "VFIO_IOMMU_UNMAP_DMA", "IOMMU_IOAS_MAP", "IOMMU_IOAS_UNMAP", or
	// "none" for ErrKind.
	Op string
	// Event is the offending event as delivered.
	Event notifier.Event
	// Errno is what the ioctl would have returned.
	Errno unix.Errno
	// Reason is one of the Err sentinels above.
	Reason error
	// Conflict is the existing mapping involved (overlapped, bisected, or
	// reserved range as a Mapping with Addr 0); its Size is 0 when none.
	Conflict Mapping
}

// Error describes the failure, naming the offending address or value.
func (v *Violation) Error() string {
	msg := fmt.Sprintf("checker: %s of %v: %s (%v): %v", v.Op, v.Event, unix.ErrnoName(v.Errno), v.Errno, v.Reason)
	if v.Conflict.Size != 0 {
		msg += fmt.Sprintf(" [%#x, %#x]", v.Conflict.IOVA, v.Conflict.Last())
	}
	return msg
}

// Unwrap returns the errno and the reason.
func (v *Violation) Unwrap() []error { return []error{v.Errno, v.Reason} }

// Counts are a checker's event counters.
type Counts struct {
	Maps           uint64 // Map events received
	Unmaps         uint64 // Unmap events received
	DevIOTLBUnmaps uint64 // DevIOTLBUnmap events received (always refused)
	Other          uint64 // events of undefined kinds (always refused)
	Violations     uint64 // events refused, of any kind
	EmptyUnmaps    uint64 // accepted unmaps that found nothing mapped
}

// book is the state both checkers keep: the mappings, the counters and the
// first violations.
type book struct {
	areas  areaSet
	counts Counts
	kept   []*Violation
}

// refuse records v (if not nil) and returns it as an error.
func (b *book) refuse(v *Violation) error {
	if v == nil {
		return nil
	}
	b.counts.Violations++
	if len(b.kept) < MaxKept {
		b.kept = append(b.kept, v)
	}
	return v
}

// count counts ev by kind.
func (b *book) count(ev notifier.Event) {
	switch ev.Kind {
	case notifier.Map:
		b.counts.Maps++
	case notifier.Unmap:
		b.counts.Unmaps++
	case notifier.DevIOTLBUnmap:
		b.counts.DevIOTLBUnmaps++
	default:
		b.counts.Other++
	}
}

// err summarises the violations.
func (b *book) err() error {
	switch b.counts.Violations {
	case 0:
		return nil
	case 1:
		return b.kept[0]
	}
	return fmt.Errorf("checker: %d violations, the first: %w", b.counts.Violations, b.kept[0])
}

// overlapReserved returns the first reserved range that overlaps
// [first, last].
func overlapReserved(reserved []Range, first, last uint64) (Range, bool) {
	for _, r := range reserved {
		if r.First <= last && first <= r.Last {
			return r, true
		}
	}
	return Range{}, false
}
