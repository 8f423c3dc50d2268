package iovatree

import "unsafe"

// Allocation sizes. Go rounds every allocation up to a size class, and an
// object of more than 512 bytes that contains pointers carries an 8-byte
// type header; leaf and inner are sized to fill their classes (1792 and
// 3072 bytes) almost exactly. TestMemoryBytesMatchesHeap checks these
// figures against the runtime's own accounting.
const (
	allocHeader = 8
	leafAlloc   = 1792
	innerAlloc  = 3072
)

// Compile-time checks that the structures still fit their classes.
var (
	_ [leafAlloc - allocHeader - unsafe.Sizeof(leaf{})]byte
	_ [innerAlloc - allocHeader - unsafe.Sizeof(inner{})]byte
)

// MemoryBytes returns the number of heap bytes held by the tree's nodes:
// every leaf and inner node, at the size the Go allocator actually
// reserves for it. It does not include the Tree value itself (about 80
// bytes, embedded in its owner). The figure is exact, not an estimate: it
// equals the growth of runtime.MemStats.TotalAlloc while the tree is built
// (Insert allocates nothing else).
//
// A leaf holds up to 64 mappings in 1792 bytes (28 bytes per mapping when
// full) and an inner node up to 32 children in 3072 bytes. Sequential
// (ascending or descending) insertion fills leaves completely, random
// insertion to about 85%, and removals keep them at least half full.
func (t *Tree) MemoryBytes() uint64 {
	return uint64(t.leaves)*leafAlloc + uint64(t.inners)*innerAlloc
}
