package iovatree

// FreeRange is an IOVA allocator: it returns the lowest address a such that
// lo <= a, a+size-1 <= hi (hi is inclusive, so the whole 2^64 space is
// lo=0, hi=2^64-1), a is a multiple of align, and no mapping overlaps
// [a, a+size). align 0 is taken as 1; it need not be a power of two.
//
// It fails with a *RangeError wrapping ErrZeroSize if size is 0, and
// ErrNoSpace if there is no such address (including lo > hi). It does not
// reserve the range: insert a mapping there before asking again. The cost
// is one descent plus one step per mapping that lies in [lo, a); it
// allocates only to return an error.
func (t *Tree) FreeRange(lo, hi, size, align uint64) (uint64, error) {
	if size == 0 {
		return 0, &RangeError{Op: "free range", Size: size, Lo: lo, Hi: hi, Align: align, Err: ErrZeroSize}
	}
	if align == 0 {
		align = 1
	}
	a, ok := alignUp(lo, align)
	if !ok || a > hi || size-1 > hi-a {
		return 0, t.noSpace(lo, hi, size, align)
	}
	l, j := t.seek(a)
	for l != nil && l.iova[j] <= a+(size-1) {
		// The mapping at j is in the way: try just after it.
		end := l.last[j]
		if end == ^uint64(0) {
			return 0, t.noSpace(lo, hi, size, align)
		}
		if a, ok = alignUp(end+1, align); !ok || a > hi || size-1 > hi-a {
			return 0, t.noSpace(lo, hi, size, align)
		}
		if j+1 < l.n && l.last[j+1] >= a {
			j++ // dense trees: the next candidate is the next mapping
		} else {
			l, j = t.seek(a)
		}
	}
	return a, nil
}

func (t *Tree) noSpace(lo, hi, size, align uint64) error {
	return &RangeError{Op: "free range", Size: size, Lo: lo, Hi: hi, Align: align, Err: ErrNoSpace}
}

// alignUp rounds x up to a multiple of align (>= 1); ok is false if that
// would pass 2^64-1.
func alignUp(x, align uint64) (uint64, bool) {
	r := x % align
	if r == 0 {
		return x, true
	}
	up := x + (align - r)
	return up, up > x
}
