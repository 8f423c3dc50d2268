package iovatree

import "math"

// Remove removes every mapping that overlaps [iova, iova+size), appends
// them to dst in ascending IOVA order and returns the extended slice.
// Mappings are removed whole: one that extends beyond the range goes
// entirely. (A virtio-iommu UNMAP that would split a mapping must fail
// with VIRTIO_IOMMU_S_RANGE and remove nothing, virtio spec §5.13.6.6: the
// device checks with Span first.) A range of size 0 removes nothing; a
// range that would run past 2^64-1 is cut there. Pass dst == nil to
// collect into a new slice, or reuse a slice (dst[:0]) to avoid
// allocating.
func (t *Tree) Remove(iova, size uint64, dst []Mapping) []Mapping {
	if size == 0 {
		return dst
	}
	return t.RemoveSpan(iova, lastOf(iova, size), dst)
}

// RemoveSpan is Remove over the inclusive range [first, last], which can
// name the whole 2^64 space ([0, 2^64-1]). first > last removes nothing.
func (t *Tree) RemoveSpan(first, last uint64, dst []Mapping) []Mapping {
	if first > last || t.n == 0 {
		return dst
	}
	if first == 0 && last == math.MaxUint64 {
		for l := t.first(); l != nil; l = l.next {
			for i := 0; i < l.n; i++ {
				dst = append(dst, l.get(i))
			}
		}
		t.Clear()
		return dst
	}
	for {
		var p path
		l, _, j := t.position(first, &p)
		if j == l.n {
			// The next candidate starts the next leaf; descend again
			// from there to record its path.
			nx := l.next
			if nx == nil || nx.iova[0] > last {
				return dst
			}
			first = nx.iova[0]
			continue
		}
		k := j
		for k < l.n && l.iova[k] <= last {
			dst = append(dst, l.get(k))
			k++
		}
		if k == j {
			return dst
		}
		end := l.last[k-1]
		more := k == l.n && end < last && l.next != nil
		l.cut(j, k)
		if parent, i := t.twig(&p); parent != nil {
			parent.resumFrom(i, j)
		}
		t.n -= k - j
		t.version++
		t.rebalanceLeaf(&p, l)
		if !more {
			return dst
		}
		first = end + 1 // no wrap: end < last
	}
}

// rebalanceLeaf restores the occupancy of l, reached through p, after
// removals: a leaf below minLeaf borrows from a sibling or merges with it.
func (t *Tree) rebalanceLeaf(p *path, l *leaf) {
	if t.height == 0 {
		if l.n == 0 {
			t.freeLeaf(l)
			t.rootLeaf = nil
		}
		return
	}
	if l.n >= minLeaf {
		return
	}
	d := t.height - 1
	parent, i := p.s[d].node, p.s[d].i
	if parent.n < 2 {
		return // only a root can have one child, and it is collapsed below
	}
	if i == parent.n-1 {
		i-- // pair (i, i+1) with l on the right
	}
	a, b := parent.leaves[i], parent.leaves[i+1]
	if a.n+b.n <= leafCap {
		a.moveHead(b, b.n)
		parent.resum(i)
		t.freeLeaf(b)
		t.removeChild(p, d, i)
		return
	}
	want := (a.n + b.n) / 2
	if a.n < want {
		a.moveHead(b, want-a.n)
	} else if a.n > want {
		a.moveTail(b, a.n-want)
	}
	parent.keys[i] = b.iova[0]
	parent.resum(i)
	parent.resum(i + 1)
}

// removeChild removes separator j and child j+1 of the node at level d of
// p, then restores that node's occupancy.
func (t *Tree) removeChild(p *path, d, j int) {
	nd := p.s[d].node
	nd.removeAfter(j)
	if d == 0 {
		if nd.n == 1 {
			// The root has one child left: shrink a level.
			if t.height == 1 {
				t.rootLeaf, t.rootInner = nd.leaves[0], nil
			} else {
				t.rootInner = nd.kids[0]
			}
			t.height--
			t.freeInner(nd)
		}
		return
	}
	if nd.n >= minInner {
		return
	}
	parent, i := p.s[d-1].node, p.s[d-1].i
	if i == parent.n-1 {
		i--
	}
	a, b := parent.kids[i], parent.kids[i+1]
	if a.n+b.n <= innerCap {
		a.absorb(parent.keys[i], b)
		t.freeInner(b)
		t.removeChild(p, d-1, i)
		return
	}
	want := (a.n + b.n) / 2
	if a.n < want {
		parent.keys[i] = a.takeHead(parent.keys[i], b, want-a.n)
	} else if a.n > want {
		parent.keys[i] = a.giveTail(parent.keys[i], b, a.n-want)
	}
}
