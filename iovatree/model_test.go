package iovatree

import (
	"errors"
	"math"
	"slices"
	"sort"
)

// model is the reference implementation the tree is compared against: a
// sorted slice of non-overlapping mappings, searched with sort.Search and
// edited with slices.Insert/Delete. Simple enough to be obviously correct.
type model struct {
	m []Mapping
}

// idx returns the index of the first mapping whose last byte is >= x.
func (md *model) idx(x uint64) int {
	return sort.Search(len(md.m), func(i int) bool { return md.m[i].Last() >= x })
}

func (md *model) overlapSpan(first, last uint64) (Mapping, bool) {
	if first > last {
		return Mapping{}, false
	}
	if i := md.idx(first); i < len(md.m) && md.m[i].IOVA <= last {
		return md.m[i], true
	}
	return Mapping{}, false
}

func (md *model) insert(m Mapping) error {
	if err := m.check(); err != nil {
		return err
	}
	if e, hit := md.overlapSpan(m.IOVA, m.Last()); hit {
		return &RangeError{Op: "insert", IOVA: m.IOVA, Size: m.Size, Addr: m.Addr, Perm: m.Perm, Conflict: e, Err: ErrOverlap}
	}
	md.m = slices.Insert(md.m, md.idx(m.IOVA), m)
	return nil
}

func (md *model) find(x uint64) (Mapping, bool) { return md.overlapSpan(x, x) }

func (md *model) spanIdx(first, last uint64) (int, int) {
	if first > last {
		return 0, 0
	}
	i := md.idx(first)
	k := i
	for k < len(md.m) && md.m[k].IOVA <= last {
		k++
	}
	return i, k
}

func (md *model) span(first, last uint64) []Mapping {
	i, k := md.spanIdx(first, last)
	return slices.Clone(md.m[i:k])
}

func (md *model) removeSpan(first, last uint64) []Mapping {
	i, k := md.spanIdx(first, last)
	out := slices.Clone(md.m[i:k])
	md.m = slices.Delete(md.m, i, k)
	return out
}

func (md *model) findAddr(a uint64) (Mapping, bool) {
	for _, e := range md.m {
		if a >= e.Addr && a-e.Addr < e.Size {
			return e, true
		}
	}
	return Mapping{}, false
}

// freeRange tries candidate addresses in order: lo and every address just
// after a mapping, each rounded up to the alignment. The lowest answer, if
// there is one, is among them.
func (md *model) freeRange(lo, hi, size, align uint64) (uint64, error) {
	if size == 0 {
		return 0, ErrZeroSize
	}
	if align == 0 {
		align = 1
	}
	cands := []uint64{lo}
	for _, e := range md.m {
		if e.Last() != math.MaxUint64 && e.Last()+1 > lo {
			cands = append(cands, e.Last()+1)
		}
	}
	slices.Sort(cands)
	for _, c := range cands {
		a, ok := alignUp(c, align)
		if !ok || a > hi || size-1 > hi-a {
			continue
		}
		if _, hit := md.overlapSpan(a, a+size-1); !hit {
			return a, nil
		}
	}
	return 0, ErrNoSpace
}

// sentinel returns the sentinel an error wraps, for comparing errors
// between tree and model.
func sentinel(err error) error {
	for _, s := range []error{ErrOverlap, ErrZeroSize, ErrWrap, ErrNoPerm, ErrNoSpace} {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}
