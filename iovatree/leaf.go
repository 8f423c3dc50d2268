package iovatree

import "math"

// Leaf geometry: a leaf holds leafBlocks blocks of blockLen mappings. A
// block's keys fill exactly one 64-byte cache line, so that once the block
// is known (from the parent's summary, see inner.sums) a lookup touches one
// line per array.
const (
	blockLen   = 8
	leafBlocks = 8
	leafCap    = blockLen * leafBlocks
)

// pad fills iova and last beyond n (and unused separators and block
// summaries), so that fixed-length searches need no bounds: a pad is never
// below a search key except the key 2^64-1, which the searches clamp.
const pad = math.MaxUint64

// leaf is a B+tree leaf: up to leafCap mappings in ascending IOVA order,
// stored as parallel arrays (structure of arrays) so that keys are
// contiguous. A leaf detached from the tree has n == 0 forever, which is
// what makes a stale finger harmless.
type leaf struct {
	// Pointers first: the garbage collector scans only this prefix.
	next, prev *leaf
	n          int
	// With the allocator's 8-byte header, this puts iova, last, addr
	// and perm at 64-byte boundaries (checked by TestLeafLayout).
	_    [32]byte
	iova [leafCap]uint64 // first IOVA of each mapping; pad beyond n
	last [leafCap]uint64 // last IOVA (inclusive); pad beyond n
	addr [leafCap]uint64 // translated address of iova[i]
	perm [leafCap]Perm
}

// b2i converts a comparison to 0 or 1; the compiler emits SETcc, not a
// branch, which keeps the searches free of unpredictable branches.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// upper returns the number of mappings whose first IOVA is <= x: the
// mapping that may contain x is at upper(x)-1, and a mapping starting at x
// would be inserted at upper(x). Branch-free, in two steps: which block,
// then which mapping of the block.
func (l *leaf) upper(x uint64) int {
	k := &l.iova
	b := b2i(k[8] <= x) + b2i(k[16] <= x) + b2i(k[24] <= x) + b2i(k[32] <= x) +
		b2i(k[40] <= x) + b2i(k[48] <= x) + b2i(k[56] <= x)
	r := (*[blockLen]uint64)(k[(b*blockLen)&(leafCap-blockLen):])
	i := b*blockLen + b2i(r[0] <= x) + b2i(r[1] <= x) + b2i(r[2] <= x) + b2i(r[3] <= x) +
		b2i(r[4] <= x) + b2i(r[5] <= x) + b2i(r[6] <= x) + b2i(r[7] <= x)
	return min(i, l.n) // pads count only for x == 2^64-1
}

// counts returns, for an x that the parent's summary places in block b
// (at or above the block's first IOVA and below the next block's, or
// below the leaf's first IOVA for b == 0):
//
//   - up, the number of mappings that start at or below x (upper(x)), and
//   - fe, the index of the first mapping that ends at or after x (l.n if
//     none).
//
// It reads the block's line of each of the four arrays, requested
// together.
func (l *leaf) counts(b int, x uint64) (up, fe int) {
	n := l.n
	base := (b & (leafBlocks - 1)) * blockLen
	if base >= n { // x == 2^64-1 counted pad summaries
		base = max(n-1, 0) &^ (blockLen - 1)
	}
	io := (*[blockLen]uint64)(l.iova[base : base+blockLen])
	la := (*[blockLen]uint64)(l.last[base : base+blockLen])
	a0, p0 := l.addr[base], l.perm[base]
	c := b2i(io[0] <= x) + b2i(io[1] <= x) + b2i(io[2] <= x) + b2i(io[3] <= x) +
		b2i(io[4] <= x) + b2i(io[5] <= x) + b2i(io[6] <= x) + b2i(io[7] <= x)
	e := b2i(la[0] < x) + b2i(la[1] < x) + b2i(la[2] < x) + b2i(la[3] < x) +
		b2i(la[4] < x) + b2i(la[5] < x) + b2i(la[6] < x) + b2i(la[7] < x)
	up, fe = min(base+c, n), min(base+e, n)
	// Every caller goes on to read the block's translated addresses and
	// permissions (to return, move or remove mappings). Loading them
	// here, alongside the keys, makes that one memory round trip
	// instead of two. A stored permission is never above PermRW, so the
	// test below never fires; it is what keeps the loads.
	if b2i(p0 > PermRW)&b2i(a0 != 0) != 0 {
		fe = n
	}
	return up, fe
}

// firstEnding returns the index of the first mapping whose last IOVA is
// >= x (l.n if none), given up = upper(x): it is the mapping before up if
// that one reaches x, else up, since mappings do not overlap.
func (l *leaf) firstEnding(up int, x uint64) int {
	if up > 0 && l.last[up-1] >= x {
		return up - 1
	}
	return up
}

// lookup returns the mapping of l that contains x, searching the whole
// leaf.
func (l *leaf) lookup(x uint64) (Mapping, bool) {
	i := l.upper(x) - 1
	if i < 0 || l.last[i] < x {
		return Mapping{}, false
	}
	return l.get(i), true
}

// spanBlock returns the lowest mapping of block b of l that overlaps
// [first, last], given that the parent's summary places first in block b
// (at or above the block's first IOVA and below the next block's, or below
// the leaf's first IOVA for b == 0). Only block b is read: its lines of all
// four arrays are requested before any of them arrives, so the leaf costs
// one memory round trip. beyond reports that no mapping of the block ends
// at or after first: the answer, if any, is the first mapping after the
// block (for a lookup of one address, first == last, there is none).
func (l *leaf) spanBlock(b int, first, last uint64) (m Mapping, found, beyond bool) {
	n := l.n
	base := (b & (leafBlocks - 1)) * blockLen
	if base >= n { // first == 2^64-1 counted pad summaries
		base = max(n-1, 0) &^ (blockLen - 1)
	}
	io := (*[blockLen]uint64)(l.iova[base : base+blockLen])
	la := (*[blockLen]uint64)(l.last[base : base+blockLen])
	a0, p0 := l.addr[base], l.perm[base]
	// c: the first mapping of the block that ends at or after first (pads
	// never end before it). It overlaps the range if it starts at or
	// below last, that is if fewer than u mappings end before first,
	// where u counts those that start at or below last. Counting over
	// both lines, rather than reading iova[c] once c is known, requests
	// both at once.
	c := b2i(la[0] < first) + b2i(la[1] < first) + b2i(la[2] < first) + b2i(la[3] < first) +
		b2i(la[4] < first) + b2i(la[5] < first) + b2i(la[6] < first) + b2i(la[7] < first)
	u := b2i(io[0] <= last) + b2i(io[1] <= last) + b2i(io[2] <= last) + b2i(io[3] <= last) +
		b2i(io[4] <= last) + b2i(io[5] <= last) + b2i(io[6] <= last) + b2i(io[7] <= last)
	i := base + c
	if c == blockLen || i >= n {
		return Mapping{}, false, true
	}
	if c >= u {
		return Mapping{}, false, false
	}
	iv, lv := io[c&(blockLen-1)], la[c&(blockLen-1)]
	// Select a0 and p0 when c == 0, without a branch: using them is
	// what keeps their early loads.
	keep := uint64(b2i(c != 0)) - 1 // all ones if c == 0
	addr := l.addr[i&(leafCap-1)]&^keep | a0&keep
	perm := l.perm[i&(leafCap-1)]&^Perm(keep) | p0&Perm(keep)
	return Mapping{IOVA: iv, Size: lv - iv + 1, Addr: addr, Perm: perm}, true, false
}

// get returns mapping i.
func (l *leaf) get(i int) Mapping {
	return Mapping{IOVA: l.iova[i], Size: l.last[i] - l.iova[i] + 1, Addr: l.addr[i], Perm: l.perm[i]}
}

// set stores m at i.
func (l *leaf) set(i int, m Mapping) {
	l.iova[i] = m.IOVA
	l.last[i] = m.Last()
	l.addr[i] = m.Addr
	l.perm[i] = m.Perm
}

// spanContains reports whether x lies between the first IOVA of the first
// mapping and the last IOVA of the last one: then the mapping containing x,
// if any, is in this leaf. False for an empty (or detached) leaf.
func (l *leaf) spanContains(x uint64) bool {
	n := l.n
	return n > 0 && n <= leafCap && x >= l.iova[0] && x <= l.last[n-1]
}

// clearFrom pads mappings [i, n) before n is lowered to i.
func (l *leaf) clearFrom(i int) {
	for j := i; j < l.n; j++ {
		l.iova[j], l.last[j] = pad, pad
	}
}

// insertAt shifts mappings [i, n) up by one and stores m at i. The caller
// ensures n < leafCap.
func (l *leaf) insertAt(i int, m Mapping) {
	n := l.n
	copy(l.iova[i+1:n+1], l.iova[i:n])
	copy(l.last[i+1:n+1], l.last[i:n])
	copy(l.addr[i+1:n+1], l.addr[i:n])
	copy(l.perm[i+1:n+1], l.perm[i:n])
	l.set(i, m)
	l.n = n + 1
}

// cut removes mappings [i, j).
func (l *leaf) cut(i, j int) {
	n := l.n
	copy(l.iova[i:], l.iova[j:n])
	copy(l.last[i:], l.last[j:n])
	copy(l.addr[i:], l.addr[j:n])
	copy(l.perm[i:], l.perm[j:n])
	l.clearFrom(n - (j - i))
	l.n = n - (j - i)
}

// moveTail moves the last k mappings of l to the front of r, which must
// have room.
func (l *leaf) moveTail(r *leaf, k int) {
	ln, rn := l.n, r.n
	copy(r.iova[k:k+rn], r.iova[:rn])
	copy(r.last[k:k+rn], r.last[:rn])
	copy(r.addr[k:k+rn], r.addr[:rn])
	copy(r.perm[k:k+rn], r.perm[:rn])
	copy(r.iova[:k], l.iova[ln-k:ln])
	copy(r.last[:k], l.last[ln-k:ln])
	copy(r.addr[:k], l.addr[ln-k:ln])
	copy(r.perm[:k], l.perm[ln-k:ln])
	l.clearFrom(ln - k)
	l.n, r.n = ln-k, rn+k
}

// moveHead moves the first k mappings of r to the end of l, which must
// have room.
func (l *leaf) moveHead(r *leaf, k int) {
	ln := l.n
	copy(l.iova[ln:ln+k], r.iova[:k])
	copy(l.last[ln:ln+k], r.last[:k])
	copy(l.addr[ln:ln+k], r.addr[:k])
	copy(l.perm[ln:ln+k], r.perm[:k])
	l.n = ln + k
	r.cut(0, k)
}

// newLeaf returns an empty, padded leaf.
func newLeaf() *leaf {
	l := new(leaf)
	for i := range l.iova {
		l.iova[i], l.last[i] = pad, pad
	}
	return l
}
