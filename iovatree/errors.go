package iovatree

import (
	"errors"
	"fmt"
)

// Sentinel errors. Methods never return them bare: they come wrapped in a
// *RangeError that names the offending range, so test with errors.Is.
var (
	// ErrOverlap: Insert was given a mapping that overlaps one already in
	// the tree (RangeError.Conflict is the lowest such entry). VT-d
	// shadowing and virtio-iommu MAP (VIRTIO_IOMMU_S_INVAL) both treat
	// this as the caller's error; nothing is changed.
	ErrOverlap = errors.New("iovatree: range overlaps an existing mapping")
	// ErrZeroSize: a mapping or an allocation request of size 0.
	ErrZeroSize = errors.New("iovatree: zero size")
	// ErrWrap: a mapping whose IOVA range or translated range runs past
	// 2^64-1.
	ErrWrap = errors.New("iovatree: range wraps past 2^64")
	// ErrNoPerm: a mapping whose permission is PermNone or has bits
	// outside PermRW. A translation with no permission is not a mapping:
	// remove the range instead.
	ErrNoPerm = errors.New("iovatree: empty or invalid permission")
	// ErrNoSpace: FreeRange found no free, aligned range of the requested
	// size inside the bounds.
	ErrNoSpace = errors.New("iovatree: no free range")
)

// RangeError is the error type of every failing method. Op is the method
// ("insert", "free range"); IOVA and Size describe the requested range
// (Size may be 0 or wrap, which is why it is reported as given); Err is one
// of the sentinels above. The other fields are set when relevant: Addr and
// Perm for a rejected mapping, Conflict for ErrOverlap, Lo, Hi and Align for
// ErrNoSpace.
type RangeError struct {
	Op       string
	IOVA     uint64
	Size     uint64
	Addr     uint64
	Perm     Perm
	Conflict Mapping
	Lo, Hi   uint64
	Align    uint64
	Err      error
}

// Error formats the range in hexadecimal, e.g.
// "iovatree: insert [0x1000, +0x2000): overlaps [0x2000, 0x2fff] -> 0x9000 rw: iovatree: range overlaps an existing mapping".
func (e *RangeError) Error() string {
	switch e.Err {
	case ErrOverlap:
		return fmt.Sprintf("iovatree: %s [%#x, +%#x): overlaps %v: %v", e.Op, e.IOVA, e.Size, e.Conflict, e.Err)
	case ErrNoPerm:
		return fmt.Sprintf("iovatree: %s [%#x, +%#x): permission %v: %v", e.Op, e.IOVA, e.Size, e.Perm, e.Err)
	case ErrNoSpace:
		return fmt.Sprintf("iovatree: %s of size %#x aligned to %#x in [%#x, %#x]: %v", e.Op, e.Size, e.Align, e.Lo, e.Hi, e.Err)
	case ErrWrap:
		if e.Addr != 0 && e.IOVA+(e.Size-1) >= e.IOVA {
			return fmt.Sprintf("iovatree: %s [%#x, +%#x): translated range [%#x, +%#x): %v", e.Op, e.IOVA, e.Size, e.Addr, e.Size, e.Err)
		}
	}
	return fmt.Sprintf("iovatree: %s [%#x, +%#x): %v", e.Op, e.IOVA, e.Size, e.Err)
}

// Unwrap returns the sentinel, for errors.Is.
func (e *RangeError) Unwrap() error { return e.Err }
