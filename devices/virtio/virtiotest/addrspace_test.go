package virtiotest

import (
	"errors"
	"testing"

	"github.com/govmm/govmm/dma"
)

func TestPagePermutation(t *testing.T) {
	for _, pages := range []int{2, 3, 17, 256} {
		p := NewPagePermutation(1<<40, 0x1000, pages, uint64(pages))
		seen := map[uint64]bool{}
		for i := range pages {
			gpa, n, err := p.Translate(1<<40+uint64(i)*4096+5, 1<<20, dma.Read)
			if err != nil {
				t.Fatal(err)
			}
			if n != 4096-5 {
				t.Fatalf("translation of %d bytes crosses a page", n)
			}
			page := (gpa - 0x1000) / 4096
			if page == uint64(i) || seen[page] || page >= uint64(pages) || gpa%4096 != 5 {
				t.Fatalf("%d pages: IOVA page %d -> GPA %#x", pages, i, gpa)
			}
			seen[page] = true
		}
		var f *dma.Fault
		if _, _, err := p.Translate(1<<40+p.Size(), 1, dma.Write); !errors.As(err, &f) {
			t.Fatalf("past the end: %v", err)
		}
		if _, _, err := p.Translate(0, 1, dma.Write); !errors.As(err, &f) {
			t.Fatalf("below the start: %v", err)
		}
	}
}

func TestFaulting(t *testing.T) {
	f := &Faulting{AS: dma.Identity{}}
	f.SetFault(0x1000, 0x2000, dma.Write)
	tests := []struct {
		iova, n uint64
		acc     dma.Access
		fault   bool
		length  uint64
	}{
		{0x1800, 4, dma.Write, true, 0},
		{0x1800, 4, dma.Read, false, 4},
		{0x800, 0x1000, dma.Write, false, 0x800}, // cut at the faulting range
		{0x2000, 0x10, dma.Write, false, 0x10},
	}
	for _, tc := range tests {
		_, n, err := f.Translate(tc.iova, tc.n, tc.acc)
		if (err != nil) != tc.fault || (err == nil && n != tc.length) {
			t.Errorf("Translate(%#x, %#x, %v) = %#x, %v", tc.iova, tc.n, tc.acc, n, err)
		}
	}
	if f.Faults() != 1 {
		t.Errorf("%d faults counted", f.Faults())
	}
	c := &Counting{AS: Offset{Delta: 0x100}}
	if gpa, _, err := c.Translate(0x180, 1, dma.Read); err != nil || gpa != 0x80 {
		t.Fatalf("offset: %#x %v", gpa, err)
	}
	c.Translate(0x180, 1, dma.Write)
	if r, w := c.Counts(); r != 1 || w != 1 {
		t.Fatalf("counts %d %d", r, w)
	}
}
