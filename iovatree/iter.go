package iovatree

import (
	"iter"
	"math"
)

// All returns an iterator over every mapping in ascending IOVA order.
func (t *Tree) All() iter.Seq[Mapping] {
	return t.Span(0, math.MaxUint64)
}

// Range returns an iterator, in ascending IOVA order, over every mapping
// that overlaps [iova, iova+size) (the first and last ones may extend
// beyond it). A range of size 0 yields nothing; a range that would run
// past 2^64-1 is cut there.
func (t *Tree) Range(iova, size uint64) iter.Seq[Mapping] {
	if size == 0 {
		return func(func(Mapping) bool) {}
	}
	return t.Span(iova, lastOf(iova, size))
}

// Span is Range over the inclusive range [first, last], which may be the
// whole 2^64 space. first > last yields nothing.
//
// The loop body may change the tree (see Tree): the iterator then resumes
// with the first mapping that ends after the last one it yielded.
func (t *Tree) Span(first, last uint64) iter.Seq[Mapping] {
	return func(yield func(Mapping) bool) {
		if first > last {
			return
		}
		for pos, more := first, true; more; {
			pos, more = t.walk(pos, last, yield)
		}
	}
}

// walk yields the mappings that end at or after pos and start at or before
// last. It stops when they are exhausted or yield returns false (more is
// false), or after yielding a mapping if the tree was changed meanwhile:
// then more is true and next is where to resume.
func (t *Tree) walk(pos, last uint64, yield func(Mapping) bool) (next uint64, more bool) {
	ver := t.version
	for l, j := t.seek(pos); l != nil; l, j = l.next, 0 {
		for ; j < l.n; j++ {
			m := l.get(j)
			if m.IOVA > last || !yield(m) {
				return 0, false
			}
			end := m.Last()
			if end >= last {
				return 0, false // also covers end == 2^64-1
			}
			if t.version != ver {
				return end + 1, true
			}
		}
	}
	return 0, false
}
