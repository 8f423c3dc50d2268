package iovatree

import "math"

// Find returns the mapping that contains iova. It allocates nothing.
//
// A lookup descends the inner nodes with branch-free searches, then reads
// one 8-mapping block of one leaf, chosen from the summaries kept in the
// leaf's parent; the block's lines of all four arrays are requested at
// once. Lookups in ascending order, as a device's DMA stream makes them,
// are answered from the leaf of a previous lookup (the finger) without
// descending the tree.
//
// Find may run concurrently with other readers (see Tree); it moves the
// finger with an atomic store, and only when the lookup lands on the leaf
// after the finger's or on a leaf's first mapping, which an ascending
// stream does at every leaf it enters and random lookups rarely do.
func (t *Tree) Find(iova uint64) (Mapping, bool) {
	f := t.finger.Load()
	var fnext *leaf
	if f != nil {
		if f.spanContains(iova) {
			return f.lookup(iova)
		}
		fnext = f.next
	}
	if t.height == 0 {
		if t.rootLeaf == nil {
			return Mapping{}, false
		}
		return t.rootLeaf.lookup(iova)
	}
	nd, c := t.twigFor(iova)
	b := nd.block(c, iova)
	l := nd.leaves[c]
	if l == fnext || (b == 0 && l.iova[1] > iova) {
		// Rarely taken by random lookups, which matters because an
		// atomic store is a full fence on most machines.
		t.finger.Store(l)
	}
	m, ok, _ := l.spanBlock(b, iova, iova)
	return m, ok
}

// twigFor descends a tree of height >= 1 to the lowest inner node whose
// interval contains x and returns it with the index of the child leaf.
func (t *Tree) twigFor(x uint64) (*inner, int) {
	nd := t.rootInner
	for h := t.height; h > 1; h-- {
		nd = nd.kids[nd.route(x)]
	}
	return nd, nd.route(x)
}

// Overlap returns the lowest mapping that overlaps [iova, iova+size). A
// range of size 0 overlaps nothing; a range that would run past 2^64-1 is
// cut there. It allocates nothing.
func (t *Tree) Overlap(iova, size uint64) (Mapping, bool) {
	if size == 0 {
		return Mapping{}, false
	}
	return t.OverlapSpan(iova, lastOf(iova, size))
}

// OverlapSpan returns the lowest mapping that overlaps the inclusive range
// [first, last], which may be the whole 2^64 space. first > last overlaps
// nothing. It allocates nothing.
func (t *Tree) OverlapSpan(first, last uint64) (Mapping, bool) {
	if first > last {
		return Mapping{}, false
	}
	if t.height > 0 {
		nd, c := t.twigFor(first)
		m, ok, beyond := nd.leaves[c].spanBlock(nd.block(c, first), first, last)
		if !beyond {
			return m, ok
		}
	}
	l, j := t.seek(first)
	if l == nil || l.iova[j] > last {
		return Mapping{}, false
	}
	return l.get(j), true
}

// FindAddr is the reverse lookup: it returns the mapping with the lowest
// IOVA whose translated range [Addr, Addr+Size) contains addr. Nothing
// indexes translated addresses (a second index would double the memory per
// mapping), so this is a linear scan in IOVA order, 1 to 6 ns per mapping
// scanned (cache-resident to memory-bound); it allocates nothing. Use it
// for rare events, such as finding who maps a guest page that is being
// removed.
func (t *Tree) FindAddr(addr uint64) (Mapping, bool) {
	for l := t.first(); l != nil; l = l.next {
		n := min(l.n, leafCap)
		for i := 0; i < n; i++ {
			if a := l.addr[i]; addr >= a && addr-a <= l.last[i]-l.iova[i] {
				return l.get(i), true
			}
		}
	}
	return Mapping{}, false
}

// lastOf returns the last byte of [iova, iova+size), size >= 1, cut at
// 2^64-1.
func lastOf(iova, size uint64) uint64 {
	if size-1 > math.MaxUint64-iova {
		return math.MaxUint64
	}
	return iova + size - 1
}
