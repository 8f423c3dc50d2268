package iovatree

import "sync/atomic"

// Tree is an ordered set of non-overlapping mappings, keyed by IOVA: the
// mapping cache of one VT-d shadowed address space or of one virtio-iommu
// domain.
//
// The zero value is an empty tree ready to use. A Tree must not be copied
// after first use (go vet reports copies).
//
// Concurrency: a Tree is not safe for concurrent mutation. Its owner
// serialises access with its own lock, a sync.RWMutex for instance:
//
//   - Insert, Remove, RemoveSpan and Clear are writers: nothing else may
//     run on the tree at the same time.
//   - Find, Overlap, OverlapSpan, FindAddr, FreeRange, Len, MemoryBytes and
//     the Range, Span and All iterators are readers: any number of them
//     may run concurrently with each other (under RLock), but not with a
//     writer. Find updates a lookup hint (the "finger") with atomic
//     operations only, which is why concurrent readers are race-free.
//   - An iteration (Range, Span, All) is a reader for as long as its loop
//     runs. Its loop body may call readers; it may also call writers if
//     the iterating goroutine holds the owner's exclusive lock (so that
//     no other reader runs): the iterator notices the change and resumes
//     with the first mapping that ends after the last one it yielded.
//     Mappings inserted behind that point are not visited; removed ones
//     are never yielded afterwards.
type Tree struct {
	rootInner *inner // root when height > 0
	rootLeaf  *leaf  // root when height == 0; nil for an empty tree
	height    int    // number of inner levels
	n         int    // number of mappings
	leaves    int    // number of allocated leaves
	inners    int    // number of allocated inner nodes
	version   uint64 // incremented by every change, for iterators

	// finger is a recently used leaf: Find answers from it, without
	// descending, when the address lies within the leaf's mappings. It
	// is only a hint (a detached leaf has n == 0 and never matches).
	finger atomic.Pointer[leaf]
}

// step is one level of a root-to-leaf path: the inner node and the index
// of the child taken.
type step struct {
	node *inner
	i    int
}

// path records a descent; s[0] is the root, s[height-1] the leaf's parent.
type path struct {
	s [maxDepth]step
}

// Len returns the number of mappings in the tree.
func (t *Tree) Len() int { return t.n }

// Clear removes every mapping and releases all nodes.
func (t *Tree) Clear() {
	for l := t.first(); l != nil; {
		nx := l.next
		l.n, l.next, l.prev = 0, nil, nil
		l = nx
	}
	t.rootInner, t.rootLeaf = nil, nil
	t.height, t.n, t.leaves, t.inners = 0, 0, 0, 0
	t.version++
	t.finger.Store(nil)
}

// position returns the leaf whose interval contains x, the number of its
// mappings that start at or below x (so the mapping that may contain x is
// at up-1) and the index of the first that ends at or after x (fe; l.n if
// none). Both come from the one block that the parent's summary
// designates, so the leaf costs one memory round trip. If p is not nil the
// descent is recorded there. The leaf is nil for an empty tree.
func (t *Tree) position(x uint64, p *path) (l *leaf, up, fe int) {
	if t.height == 0 {
		if l = t.rootLeaf; l == nil {
			return nil, 0, 0
		}
		up = l.upper(x)
		return l, up, l.firstEnding(up, x)
	}
	nd := t.rootInner
	h := t.height - 1
	for d := 0; d < h; d++ {
		i := nd.route(x)
		if p != nil {
			p.s[d] = step{nd, i}
		}
		nd = nd.kids[i]
	}
	c := nd.route(x)
	if p != nil {
		p.s[h] = step{nd, c}
	}
	l = nd.leaves[c]
	up, fe = l.counts(nd.block(c, x), x)
	return l, up, fe
}

// leafFor returns the leaf whose interval contains x, or nil for an empty
// tree.
func (t *Tree) leafFor(x uint64) *leaf {
	if t.height == 0 {
		return t.rootLeaf
	}
	nd, c := t.twigFor(x)
	return nd.leaves[c]
}

// first returns the leftmost leaf, or nil for an empty tree.
func (t *Tree) first() *leaf { return t.leafFor(0) }

// seek returns the first mapping whose last IOVA is >= x, as a leaf and an
// index, or nil if there is none.
func (t *Tree) seek(x uint64) (*leaf, int) {
	l, _, j := t.position(x, nil)
	if l == nil {
		return nil, 0
	}
	if j < l.n {
		return l, j
	}
	// Every mapping of the following leaves starts at or above the
	// separator that bounds l, which is above x.
	if l = l.next; l == nil {
		return nil, 0
	}
	return l, 0
}

func (t *Tree) newLeaf() *leaf {
	t.leaves++
	return newLeaf()
}

func (t *Tree) newInner() *inner {
	t.inners++
	return newInner()
}

// freeLeaf unlinks l and marks it detached (n == 0).
func (t *Tree) freeLeaf(l *leaf) {
	if l.prev != nil {
		l.prev.next = l.next
	}
	if l.next != nil {
		l.next.prev = l.prev
	}
	l.n, l.next, l.prev = 0, nil, nil
	if t.finger.Load() == l {
		t.finger.Store(nil)
	}
	t.leaves--
}

func (t *Tree) freeInner(nd *inner) {
	nd.n = 0
	clear(nd.kids[:])
	clear(nd.leaves[:])
	t.inners--
}

// twig returns the parent of the leaf reached through p and the leaf's
// index in it, or nil if the leaf is the root.
func (t *Tree) twig(p *path) (*inner, int) {
	if t.height == 0 {
		return nil, 0
	}
	s := p.s[t.height-1]
	return s.node, s.i
}
