package iovatree

// innerCap is the fanout of an inner node. With the block summaries the
// structure fills one 3072-byte allocation size class (see memory.go).
const innerCap = 32

// Minimum occupancy of a node other than the root, restored after every
// removal by borrowing from or merging with a sibling. (Leaves split at
// the end of a sequential insertion may hold fewer until a removal
// touches them.)
const (
	minLeaf  = leafCap / 2
	minInner = innerCap / 2
)

// maxDepth bounds the number of inner levels. Inner nodes other than the
// root have at least minInner children and leaves at least one mapping, so
// a tree of height h holds at least 2*minInner^(h-1) mappings: 16 levels
// would need more than 10^18 mappings.
const maxDepth = 16

// inner is a B+tree inner node with n children. Children are leaves when
// the node is on the lowest inner level (a "twig"), inner nodes otherwise;
// only the matching array is used. keys[j] separates child j from child
// j+1: every mapping under child j lies wholly (first to last IOVA) in
// [keys[j-1], keys[j]) (unbounded at the ends). Mappings never straddle a
// separator, which is what lets a lookup stop at one leaf.
//
// On a twig, sums[c][b] is the first IOVA of block b of leaf c (pad for an
// empty block): the lookup picks the block here, in a node that stays in
// cache, and then reads one block of the leaf.
type inner struct {
	// Pointers first: the garbage collector scans only this prefix.
	kids   [innerCap]*inner
	leaves [innerCap]*leaf
	n      int
	// With the allocator's 8-byte header, this puts keys and sums at
	// 64-byte boundaries (checked by TestLeafLayout).
	_    [48]byte
	keys [innerCap]uint64 // separators; pad beyond n-2
	sums [innerCap][leafBlocks]uint64
}

// route returns the index of the child whose interval contains x: the
// number of separators <= x. It is branch-free and has two dependent steps
// (which quarter of the separators, then which of its eight), each a set
// of independent loads and compares.
func (nd *inner) route(x uint64) int {
	k := &nd.keys
	q := (b2i(k[7] <= x) + b2i(k[15] <= x) + b2i(k[23] <= x)) * 8
	r := (*[8]uint64)(k[q&24:])
	i := q + b2i(r[0] <= x) + b2i(r[1] <= x) + b2i(r[2] <= x) + b2i(r[3] <= x) +
		b2i(r[4] <= x) + b2i(r[5] <= x) + b2i(r[6] <= x) + b2i(r[7] <= x)
	return min(i, nd.n-1) // pads count only for x == 2^64-1
}

// block returns the block of twig child c that may hold x: the number of
// its blocks after the first that start at or below x.
func (nd *inner) block(c int, x uint64) int {
	s := &nd.sums[c&(innerCap-1)]
	return b2i(s[1] <= x) + b2i(s[2] <= x) + b2i(s[3] <= x) + b2i(s[4] <= x) +
		b2i(s[5] <= x) + b2i(s[6] <= x) + b2i(s[7] <= x)
}

// resum refreshes the block summary of twig child c from its leaf.
func (nd *inner) resum(c int) { nd.resumFrom(c, 0) }

// resumFrom refreshes the summaries of the blocks of twig child c that
// start at or after mapping i, after the leaf changed from i on only.
func (nd *inner) resumFrom(c, i int) {
	l := nd.leaves[c]
	s := &nd.sums[c&(innerCap-1)]
	for b := (i + blockLen - 1) / blockLen; b < leafBlocks; b++ {
		s[b] = l.iova[b*blockLen]
	}
}

// insertAfter inserts child c (one of kid/lf is non-nil) at position i+1,
// with separator key between child i and c. The caller ensures
// n < innerCap.
func (nd *inner) insertAfter(i int, key uint64, kid *inner, lf *leaf) {
	n := nd.n
	copy(nd.kids[i+2:n+1], nd.kids[i+1:n])
	copy(nd.leaves[i+2:n+1], nd.leaves[i+1:n])
	copy(nd.sums[i+2:n+1], nd.sums[i+1:n])
	copy(nd.keys[i+1:n], nd.keys[i:n-1])
	nd.kids[i+1], nd.leaves[i+1] = kid, lf
	nd.keys[i] = key
	nd.n = n + 1
	if lf != nil {
		nd.resum(i + 1)
	}
}

// removeAfter removes separator j and child j+1.
func (nd *inner) removeAfter(j int) {
	n := nd.n
	copy(nd.kids[j+1:], nd.kids[j+2:n])
	copy(nd.leaves[j+1:], nd.leaves[j+2:n])
	copy(nd.sums[j+1:], nd.sums[j+2:n])
	copy(nd.keys[j:], nd.keys[j+1:n-1])
	nd.kids[n-1], nd.leaves[n-1] = nil, nil
	nd.keys[n-2] = pad
	nd.n = n - 1
}

// splitInto moves children [mid, n) and separators [mid, n-1) to the empty
// node r and returns the separator that now divides nd from r.
func (nd *inner) splitInto(r *inner, mid int) uint64 {
	n := nd.n
	up := nd.keys[mid-1]
	copy(r.kids[:], nd.kids[mid:n])
	copy(r.leaves[:], nd.leaves[mid:n])
	copy(r.sums[:], nd.sums[mid:n])
	copy(r.keys[:], nd.keys[mid:n-1])
	r.n = n - mid
	clear(nd.kids[mid:n])
	clear(nd.leaves[mid:n])
	padKeys(nd.keys[mid-1 : n-1])
	nd.n = mid
	return up
}

// absorb appends all of r's children to nd, with sep (the parent's
// separator between them) in between. The caller ensures the sum fits.
func (nd *inner) absorb(sep uint64, r *inner) {
	n, rn := nd.n, r.n
	nd.keys[n-1] = sep
	copy(nd.keys[n:], r.keys[:rn-1])
	copy(nd.kids[n:], r.kids[:rn])
	copy(nd.leaves[n:], r.leaves[:rn])
	copy(nd.sums[n:], r.sums[:rn])
	nd.n = n + rn
	r.n = 0
	clear(r.kids[:])
	clear(r.leaves[:])
}

// takeHead moves the first k children of r to the end of nd, rotating
// through the parent's separator sep; it returns the new parent separator.
func (nd *inner) takeHead(sep uint64, r *inner, k int) uint64 {
	n, rn := nd.n, r.n
	nd.keys[n-1] = sep
	copy(nd.keys[n:], r.keys[:k-1])
	copy(nd.kids[n:], r.kids[:k])
	copy(nd.leaves[n:], r.leaves[:k])
	copy(nd.sums[n:], r.sums[:k])
	up := r.keys[k-1]
	copy(r.keys[:], r.keys[k:rn-1])
	copy(r.kids[:], r.kids[k:rn])
	copy(r.leaves[:], r.leaves[k:rn])
	copy(r.sums[:], r.sums[k:rn])
	clear(r.kids[rn-k : rn])
	clear(r.leaves[rn-k : rn])
	padKeys(r.keys[rn-1-k : rn-1])
	nd.n, r.n = n+k, rn-k
	return up
}

// giveTail moves the last k children of nd to the front of r, rotating
// through the parent's separator sep; it returns the new parent separator.
func (nd *inner) giveTail(sep uint64, r *inner, k int) uint64 {
	n, rn := nd.n, r.n
	copy(r.keys[k:], r.keys[:rn-1])
	copy(r.kids[k:], r.kids[:rn])
	copy(r.leaves[k:], r.leaves[:rn])
	copy(r.sums[k:], r.sums[:rn])
	r.keys[k-1] = sep
	copy(r.keys[:k-1], nd.keys[n-k:n-1])
	copy(r.kids[:k], nd.kids[n-k:n])
	copy(r.leaves[:k], nd.leaves[n-k:n])
	copy(r.sums[:k], nd.sums[n-k:n])
	up := nd.keys[n-k-1]
	clear(nd.kids[n-k : n])
	clear(nd.leaves[n-k : n])
	padKeys(nd.keys[n-k-1 : n-1])
	nd.n, r.n = n-k, rn+k
	return up
}

func padKeys(k []uint64) {
	for i := range k {
		k[i] = pad
	}
}

// newInner returns an empty, padded inner node.
func newInner() *inner {
	nd := new(inner)
	padKeys(nd.keys[:])
	return nd
}
