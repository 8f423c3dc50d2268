package iovatree_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/iovatree"
)

// A virtio-iommu domain: MAP, translate, reject an overlapping MAP, UNMAP.
func Example() {
	var dom iovatree.Tree // the zero value is ready to use

	// MAP two 4 KiB pages and a 2 MiB page.
	for _, m := range []iovatree.Mapping{
		{IOVA: 0x10000, Size: 0x1000, Addr: 0x7f000, Perm: iovatree.PermRW},
		{IOVA: 0x11000, Size: 0x1000, Addr: 0x3000, Perm: iovatree.PermRead},
		{IOVA: 0x200000, Size: 0x200000, Addr: 0x40000000, Perm: iovatree.PermRW},
	} {
		if err := dom.Insert(m); err != nil {
			fmt.Println(err)
		}
	}

	// A device reads IOVA 0x11234.
	if m, ok := dom.Find(0x11234); ok {
		fmt.Printf("0x11234 -> %#x (%v)\n", m.Translate(0x11234), m.Perm)
	}

	// A MAP that overlaps is refused, naming both ranges.
	err := dom.Insert(iovatree.Mapping{IOVA: 0x10800, Size: 0x1000, Addr: 0, Perm: iovatree.PermRead})
	fmt.Println(errors.Is(err, iovatree.ErrOverlap))
	fmt.Println(err)

	// UNMAP [0x10000, 0x20000) removes both small pages, whole.
	for _, m := range dom.Remove(0x10000, 0x10000, nil) {
		fmt.Println("unmapped", m)
	}
	fmt.Println(dom.Len(), "mapping left")

	// Output:
	// 0x11234 -> 0x3234 (r-)
	// true
	// iovatree: insert [0x10800, +0x1000): overlaps [0x10000, 0x10fff] -> 0x7f000 rw: iovatree: range overlaps an existing mapping
	// unmapped [0x10000, 0x10fff] -> 0x7f000 rw
	// unmapped [0x11000, 0x11fff] -> 0x3000 r-
	// 1 mapping left
}

// Allocating IOVA space: the lowest free, aligned hole inside bounds.
func ExampleTree_FreeRange() {
	var t iovatree.Tree
	_ = t.Insert(iovatree.Mapping{IOVA: 0x1000, Size: 0x3000, Addr: 0x1000, Perm: iovatree.PermRW})

	// 0x2000 bytes, 0x2000-aligned, in [0x1000, 0xffff]: 0x1000 and 0x2000
	// are taken, so 0x4000.
	a, err := t.FreeRange(0x1000, 0xffff, 0x2000, 0x2000)
	fmt.Printf("%#x %v\n", a, err)

	// Nothing fits in [0x1000, 0x3fff].
	_, err = t.FreeRange(0x1000, 0x3fff, 0x1000, 1)
	fmt.Println(errors.Is(err, iovatree.ErrNoSpace))
	// Output:
	// 0x4000 <nil>
	// true
}

// Walking the mappings that overlap a range, for example to replay them to
// a newly registered consumer; the Span form takes inclusive bounds and
// can name the whole 2^64 space.
func ExampleTree_Span() {
	var t iovatree.Tree
	for i := uint64(0); i < 4; i++ {
		_ = t.Insert(iovatree.Mapping{IOVA: i * 0x2000, Size: 0x1000, Addr: 0x80000 + i*0x1000, Perm: iovatree.PermRead})
	}
	_ = t.Insert(iovatree.Mapping{IOVA: 1<<64 - 0x1000, Size: 0x1000, Addr: 0, Perm: iovatree.PermWrite})

	for m := range t.Span(0x3000, 1<<64-1) {
		fmt.Println(m)
	}
	// Output:
	// [0x4000, 0x4fff] -> 0x82000 r-
	// [0x6000, 0x6fff] -> 0x83000 r-
	// [0xfffffffffffff000, 0xffffffffffffffff] -> 0x0 -w
}

// Caching-mode shadowing: after a page-selective invalidation, compare what
// consumers were told (the tree) with what the guest's page table now says.
func ExampleTree_Overlap() {
	var shadow iovatree.Tree
	_ = shadow.Insert(iovatree.Mapping{IOVA: 0x5000, Size: 0x1000, Addr: 0x9000, Perm: iovatree.PermRW})

	now := iovatree.Mapping{IOVA: 0x5000, Size: 0x1000, Addr: 0xa000, Perm: iovatree.PermRW} // the guest remapped it
	switch old, ok := shadow.Overlap(now.IOVA, now.Size); {
	case ok && old == now:
		fmt.Println("unchanged: nothing to send")
	case ok:
		shadow.Remove(old.IOVA, old.Size, nil)
		fmt.Println("UNMAP", old)
		fallthrough
	default:
		_ = shadow.Insert(now)
		fmt.Println("MAP", now)
	}
	// Output:
	// UNMAP [0x5000, 0x5fff] -> 0x9000 rw
	// MAP [0x5000, 0x5fff] -> 0xa000 rw
}

// The permission bits are dma.Access's, so converting between them is a
// plain type conversion.
func TestPermMatchesDMAAccess(t *testing.T) {
	tests := []struct {
		p iovatree.Perm
		a dma.Access
	}{
		{iovatree.PermRead, dma.Read},
		{iovatree.PermWrite, dma.Write},
		{iovatree.PermRW, dma.ReadWrite},
	}
	for _, tc := range tests {
		if uint8(tc.p) != uint8(tc.a) {
			t.Errorf("%v = %d, %v = %d", tc.p, tc.p, tc.a, tc.a)
		}
	}
}
