package iovatree

import (
	"fmt"
	"math"
)

// check verifies every structural invariant of t and returns the first
// violation found.
func (t *Tree) check() error {
	if t.height == 0 {
		if t.rootInner != nil {
			return fmt.Errorf("height 0 with an inner root")
		}
		if t.rootLeaf == nil {
			if t.n != 0 || t.leaves != 0 || t.inners != 0 {
				return fmt.Errorf("empty tree with n=%d leaves=%d inners=%d", t.n, t.leaves, t.inners)
			}
			return nil
		}
	} else if t.rootLeaf != nil || t.rootInner == nil {
		return fmt.Errorf("height %d with root leaf %p, root inner %p", t.height, t.rootLeaf, t.rootInner)
	}
	c := checker{t: t}
	if t.height == 0 {
		if t.rootLeaf.n == 0 {
			return fmt.Errorf("empty root leaf kept")
		}
		if err := c.leaf(t.rootLeaf, 0, math.MaxUint64, true); err != nil {
			return err
		}
	} else {
		if t.rootInner.n < 2 {
			return fmt.Errorf("inner root with %d children", t.rootInner.n)
		}
		if err := c.inner(t.rootInner, 0, 0, math.MaxUint64, true, true); err != nil {
			return err
		}
	}
	if c.n != t.n {
		return fmt.Errorf("counted %d mappings, Len %d", c.n, t.n)
	}
	if c.leaves != t.leaves || c.inners != t.inners {
		return fmt.Errorf("counted %d leaves %d inners, recorded %d %d", c.leaves, c.inners, t.leaves, t.inners)
	}
	if c.prev != nil && c.prev.next != nil {
		return fmt.Errorf("last leaf has a next link")
	}
	if f := t.finger.Load(); f != nil && !c.live[f] {
		return fmt.Errorf("finger points to a detached leaf")
	}
	return nil
}

type checker struct {
	t        *Tree
	n        int
	leaves   int
	inners   int
	prev     *leaf // previous leaf in order
	prevLast uint64
	havePrev bool
	live     map[*leaf]bool
}

// inner checks nd, at level d, whose mappings must lie in [lo, hi] (hi
// inclusive; unbounded when hiOpen).
func (c *checker) inner(nd *inner, d int, lo, hi uint64, hiOpen, root bool) error {
	c.inners++
	if nd.n > innerCap || (!root && nd.n < minInner) {
		return fmt.Errorf("inner at level %d has %d children", d, nd.n)
	}
	for j := max(nd.n-1, 0); j < innerCap; j++ {
		if nd.keys[j] != pad {
			return fmt.Errorf("inner at level %d: separator slot %d of %d not padded", d, j, nd.n-1)
		}
	}
	for j := 0; j+1 < nd.n-1; j++ {
		if nd.keys[j] >= nd.keys[j+1] {
			return fmt.Errorf("inner at level %d: separators %#x, %#x out of order", d, nd.keys[j], nd.keys[j+1])
		}
	}
	for j := 0; j < innerCap; j++ {
		leafLevel := d == c.t.height-1
		if j >= nd.n {
			if nd.kids[j] != nil || nd.leaves[j] != nil {
				return fmt.Errorf("inner at level %d: stale child %d", d, j)
			}
			continue
		}
		if leafLevel != (nd.leaves[j] != nil) || leafLevel == (nd.kids[j] != nil) {
			return fmt.Errorf("inner at level %d: child %d of the wrong kind", d, j)
		}
		clo, chi, open := lo, hi, hiOpen
		if j > 0 {
			clo = nd.keys[j-1]
			if clo < lo || (!hiOpen && clo > hi) {
				return fmt.Errorf("inner at level %d: separator %#x outside [%#x, %#x]", d, clo, lo, hi)
			}
		}
		if j < nd.n-1 {
			chi, open = nd.keys[j]-1, false // keys[j] > 0: it is above a separator or a mapping
		}
		var err error
		if leafLevel {
			for b := range leafBlocks {
				if nd.sums[j][b] != nd.leaves[j].iova[b*blockLen] {
					return fmt.Errorf("twig child %d: block %d summary %#x, leaf has %#x", j, b, nd.sums[j][b], nd.leaves[j].iova[b*blockLen])
				}
			}
			err = c.leaf(nd.leaves[j], clo, chi, open)
		} else {
			err = c.inner(nd.kids[j], d+1, clo, chi, open, false)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) leaf(l *leaf, lo, hi uint64, hiOpen bool) error {
	c.leaves++
	if c.live == nil {
		c.live = map[*leaf]bool{}
	}
	c.live[l] = true
	if l.n < 1 || l.n > leafCap {
		return fmt.Errorf("leaf with %d mappings", l.n)
	}
	if l.prev != c.prev || (c.prev != nil && c.prev.next != l) {
		return fmt.Errorf("leaf links broken before %#x", l.iova[0])
	}
	c.prev = l
	for i := l.n; i < leafCap; i++ {
		if l.iova[i] != pad || l.last[i] != pad {
			return fmt.Errorf("leaf slot %d of %d not padded", i, l.n)
		}
	}
	for i := 0; i < l.n; i++ {
		m := l.get(i)
		if l.last[i] < l.iova[i] {
			return fmt.Errorf("mapping %d: last %#x < first %#x", i, l.last[i], l.iova[i])
		}
		if err := m.check(); err != nil {
			return fmt.Errorf("stored mapping %v invalid: %v", m, err)
		}
		if m.IOVA < lo || (!hiOpen && m.Last() > hi) {
			return fmt.Errorf("mapping %v outside its interval [%#x, %#x]", m, lo, hi)
		}
		if c.havePrev && m.IOVA <= c.prevLast {
			return fmt.Errorf("mapping %v overlaps or precedes the previous one (last %#x)", m, c.prevLast)
		}
		c.prevLast, c.havePrev = m.Last(), true
		c.n++
	}
	return nil
}
