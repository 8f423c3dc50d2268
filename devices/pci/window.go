package pci

import (
	"fmt"
	"sort"
)

// Window is a guest-physical (or, for I/O, port) address range
// [Base, Base+Size) from which a Segment assigns BAR addresses. The same
// windows are what the host bridge's ACPI _CRS must describe. A zero Size
// means "no such window".
type Window struct {
	Base, Size uint64
}

// End returns the first address after the window (0 if it ends at 2^64).
func (w Window) End() uint64 { return w.Base + w.Size }

// String formats w as "[base, +size)" in hexadecimal.
func (w Window) String() string {
	return fmt.Sprintf("[%#x, +%#x)", w.Base, w.Size)
}

func (w Window) valid() bool { return w.Size == 0 || w.Base+w.Size-1 >= w.Base }

func (w Window) overlaps(o Window) bool {
	if w.Size == 0 || o.Size == 0 {
		return false
	}
	return w.Base <= o.Base+o.Size-1 && o.Base <= w.Base+w.Size-1
}

// allocator hands out naturally aligned ranges of a window, first fit.
// It is not safe for concurrent use; the Segment serialises it.
type allocator struct {
	w    Window
	used []Window // sorted by Base, non-overlapping
}

// alloc returns the lowest address in the window aligned to align (a power
// of two) where size bytes are free.
func (a *allocator) alloc(size, align uint64) (uint64, bool) {
	if a.w.Size == 0 || size == 0 || size > a.w.Size {
		return 0, false
	}
	last := a.w.Base + a.w.Size - 1
	cand := alignUp(a.w.Base, align)
	for i := 0; ; i++ {
		if cand < a.w.Base || cand+size-1 < cand || cand+size-1 > last {
			return 0, false
		}
		if i == len(a.used) || cand+size-1 < a.used[i].Base {
			a.used = append(a.used, Window{})
			copy(a.used[i+1:], a.used[i:])
			a.used[i] = Window{cand, size}
			return cand, true
		}
		if u := a.used[i]; u.Base+u.Size-1 >= cand {
			cand = alignUp(u.Base+u.Size, align)
			if cand == 0 { // the used range ends at 2^64, or alignment wrapped
				return 0, false
			}
		}
	}
}

// free releases the range allocated at base.
func (a *allocator) free(base uint64) {
	i := sort.Search(len(a.used), func(i int) bool { return a.used[i].Base >= base })
	if i < len(a.used) && a.used[i].Base == base {
		a.used = append(a.used[:i], a.used[i+1:]...)
	}
}

func alignUp(v, align uint64) uint64 { return (v + align - 1) &^ (align - 1) }
