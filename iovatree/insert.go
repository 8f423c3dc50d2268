package iovatree

// Insert adds m to the tree. It fails, changing nothing, with a
// *RangeError wrapping
//
//   - ErrZeroSize if m.Size is 0,
//   - ErrWrap if [m.IOVA, m.IOVA+m.Size) or [m.Addr, m.Addr+m.Size) runs
//     past 2^64-1,
//   - ErrNoPerm if m.Perm is PermNone or has bits outside PermRW,
//   - ErrOverlap if any byte of the IOVA range is already mapped
//     (RangeError.Conflict is the lowest overlapping mapping).
//
// Mappings are never merged: as in QEMU's IOVA tree, a 2 MiB page is one
// entry and 512 adjacent 4 KiB pages are 512 entries, so that an UNMAP of
// one page removes exactly that page. Insert allocates only when a node
// splits: once per 64 insertions in ascending or descending order, about
// once per 40 in random order.
func (t *Tree) Insert(m Mapping) error {
	if err := m.check(); err != nil {
		return err
	}
	if t.rootLeaf == nil && t.height == 0 {
		t.rootLeaf = t.newLeaf()
	}
	var p path
	l, pos, fe := t.position(m.IOVA, &p)
	last := m.Last()
	if fe < pos { // the mapping before pos reaches m.IOVA
		return t.overlapErr(m, l.get(fe))
	}
	if pos < l.n && l.iova[pos] <= last {
		return t.overlapErr(m, l.get(pos))
	}
	if pos == l.n {
		// m may reach past the separator that bounds l on the right:
		// either it overlaps the first mapping beyond, or the separator
		// moves up to m's end so that m lies wholly in l's interval.
		if d := t.boundLevel(&p); d >= 0 {
			nd, i := p.s[d].node, p.s[d].i
			if last >= nd.keys[i] {
				next := t.leftmostLeaf(nd, i+1, d)
				if next.iova[0] <= last {
					return t.overlapErr(m, next.get(0))
				}
				nd.keys[i] = last + 1 // no wrap: next starts above last
			}
		}
	}
	t.version++
	t.n++
	t.insertLeaf(&p, l, pos, m)
	return nil
}

func (t *Tree) overlapErr(m Mapping, c Mapping) error {
	return &RangeError{Op: "insert", IOVA: m.IOVA, Size: m.Size, Addr: m.Addr, Perm: m.Perm, Conflict: c, Err: ErrOverlap}
}

// boundLevel returns the deepest level of p whose node has a separator to
// the right of the child taken (the tightest upper bound of the leaf's
// interval), or -1 if the leaf is the rightmost one.
func (t *Tree) boundLevel(p *path) int {
	for d := t.height - 1; d >= 0; d-- {
		if s := p.s[d]; s.i < s.node.n-1 {
			return d
		}
	}
	return -1
}

// leftmostLeaf returns the leftmost leaf under child i of nd, which is at
// inner level d.
func (t *Tree) leftmostLeaf(nd *inner, i, d int) *leaf {
	for ; d < t.height-1; d++ {
		nd, i = nd.kids[i], 0
	}
	return nd.leaves[i]
}

// insertLeaf stores m at pos in the leaf l reached through p, making room
// by moving mappings to a sibling leaf or by splitting.
func (t *Tree) insertLeaf(p *path, l *leaf, pos int, m Mapping) {
	parent, i := t.twig(p)
	if l.n < leafCap {
		l.insertAt(pos, m)
		if parent != nil {
			parent.resumFrom(i, pos)
		}
		return
	}
	if parent != nil && t.spill(parent, i, l, pos, m) {
		return
	}
	// Split. Sequential insertion (at either end of a full leaf) leaves
	// the full leaf alone and starts a new one; otherwise halve.
	var s int
	switch pos {
	case leafCap:
		s = leafCap
	case 0:
		s = 0
	default:
		s = (leafCap + 1) / 2
	}
	r := t.newLeaf()
	l.moveTail(r, leafCap-s)
	if pos < s || (pos == s && s < leafCap) {
		l.insertAt(pos, m)
	} else {
		r.insertAt(pos-s, m)
	}
	r.prev, r.next = l, l.next
	if l.next != nil {
		l.next.prev = r
	}
	l.next = r
	if parent != nil {
		parent.resum(i) // before addChild moves it
	}
	t.addChild(p, t.height-1, r.iova[0], nil, r)
}

// spill makes room in the full leaf l by moving some of its mappings to a
// sibling under the same parent that has at least two free slots, then
// stores m. It reports false, changing nothing, if neither sibling can
// take them. Spilling before splitting keeps leaves about 85% full under
// random insertion instead of about 70%.
func (t *Tree) spill(parent *inner, i int, l *leaf, pos int, m Mapping) bool {
	if i > 0 {
		left := parent.leaves[i-1]
		if room := leafCap - left.n; room >= 2 {
			k := room / 2
			left.moveHead(l, k)
			if pos < k {
				left.insertAt(left.n-k+pos, m)
			} else {
				l.insertAt(pos-k, m)
			}
			parent.keys[i-1] = l.iova[0]
			parent.resum(i - 1)
			parent.resum(i)
			return true
		}
	}
	if i < parent.n-1 {
		right := parent.leaves[i+1]
		if room := leafCap - right.n; room >= 2 {
			k := room / 2
			l.moveTail(right, k)
			if pos > l.n {
				right.insertAt(pos-l.n, m)
			} else {
				l.insertAt(pos, m)
			}
			parent.keys[i] = right.iova[0]
			parent.resum(i)
			parent.resum(i + 1)
			return true
		}
	}
	return false
}

// addChild inserts the new child (kid or lf) to the right of the child
// taken at level d of p, with separator key, splitting inner nodes up to
// the root as needed. d == -1 means the old root itself was split.
func (t *Tree) addChild(p *path, d int, key uint64, kid *inner, lf *leaf) {
	for ; d >= 0; d-- {
		nd, i := p.s[d].node, p.s[d].i
		if nd.n < innerCap {
			nd.insertAfter(i, key, kid, lf)
			return
		}
		r := t.newInner()
		// Inner nodes always split in half: every inner node other
		// than the root keeps at least minInner children, which bounds
		// the height (see maxDepth) and gives every leaf a sibling.
		const mid = innerCap / 2
		up := nd.splitInto(r, mid)
		if i < mid {
			nd.insertAfter(i, key, kid, lf)
		} else {
			r.insertAfter(i-mid, key, kid, lf)
		}
		key, kid, lf = up, r, nil
	}
	// The root split: grow a level.
	root := t.newInner()
	if t.height == 0 {
		root.leaves[0], root.leaves[1] = t.rootLeaf, lf
		root.resum(0)
		root.resum(1)
		t.rootLeaf = nil
	} else {
		root.kids[0], root.kids[1] = t.rootInner, kid
	}
	root.keys[0] = key
	root.n = 2
	t.rootInner = root
	t.height++
}
