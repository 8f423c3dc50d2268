package iovatree

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRemove(t *testing.T) {
	tests := []struct {
		name        string
		iova, size  uint64
		wantRemoved []Mapping
	}{
		{"nothing: zero size", 0x1000, 0, nil},
		{"nothing: hole", 0x2000, 0x1000, nil},
		{"one byte of a mapping removes all of it", 0x1800, 1, edgeSet[2:3]},
		{"adjacent pair", 0xfff, 2, edgeSet[1:3]},
		{"first byte", 0, 1, edgeSet[0:1]},
		{"low run", 0, 0x4000, edgeSet[0:4]},
		{"huge from its middle", 1 << 50, 1, edgeSet[4:5]},
		{"wrapping range is cut at 2^64-1", maxU - 0x1fff, maxU, edgeSet[5:8]},
		{"last byte", maxU, 1, edgeSet[7:8]},
		{"all but the last byte", 0, maxU, edgeSet[0:7]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := build(t, edgeSet...)
			got := tr.Remove(tc.iova, tc.size, nil)
			if !slices.Equal(got, tc.wantRemoved) {
				t.Errorf("Remove(%#x, %#x) = %v, want %v", tc.iova, tc.size, got, tc.wantRemoved)
			}
			rest := slices.DeleteFunc(slices.Clone(edgeSet), func(m Mapping) bool { return slices.Contains(tc.wantRemoved, m) })
			if left := slices.Collect(tr.All()); !slices.Equal(left, rest) {
				t.Errorf("left %v, want %v", left, rest)
			}
			if tr.Len() != len(rest) {
				t.Errorf("Len() = %d, want %d", tr.Len(), len(rest))
			}
			if err := tr.check(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestRemoveSpanWholeSpace(t *testing.T) {
	tr := build(t, edgeSet...)
	dst := make([]Mapping, 1, 16)
	got := tr.RemoveSpan(0, maxU, dst)
	if diff := cmp.Diff(append([]Mapping{{}}, edgeSet...), got); diff != "" {
		t.Errorf("RemoveSpan(0, 2^64-1) (-want +got):\n%s", diff)
	}
	if tr.Len() != 0 || tr.MemoryBytes() != 0 {
		t.Errorf("after removing everything: Len %d, MemoryBytes %d", tr.Len(), tr.MemoryBytes())
	}
	if got := tr.RemoveSpan(0, maxU, nil); got != nil {
		t.Errorf("RemoveSpan on an empty tree = %v", got)
	}
}

func TestRangeSpanAll(t *testing.T) {
	tr := build(t, edgeSet...)
	tests := []struct {
		name string
		seq  func() []Mapping
		want []Mapping
	}{
		{"All", func() []Mapping { return slices.Collect(tr.All()) }, edgeSet},
		{"Range low", func() []Mapping { return slices.Collect(tr.Range(0, 0x1001)) }, edgeSet[0:3]},
		{"Range hole", func() []Mapping { return slices.Collect(tr.Range(0x2000, 0x1000)) }, nil},
		{"Range zero size", func() []Mapping { return slices.Collect(tr.Range(0, 0)) }, nil},
		{"Range wraps", func() []Mapping { return slices.Collect(tr.Range(maxU, 2)) }, edgeSet[7:8]},
		{"Span top", func() []Mapping { return slices.Collect(tr.Span(maxU-0x1000, maxU)) }, edgeSet[5:8]},
		{"Span inverted", func() []Mapping { return slices.Collect(tr.Span(1, 0)) }, nil},
	}
	for _, tc := range tests {
		if got := tc.seq(); !slices.Equal(got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, got, tc.want)
		}
	}
	// Early exit from a loop stops the iteration.
	n := 0
	for range tr.All() {
		n++
		if n == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("break after 3 saw %d", n)
	}
}

func TestIterateWhileChanging(t *testing.T) {
	var ms []Mapping
	for i := range uint64(300) {
		ms = append(ms, mp(i*0x2000, 0x1000, i, PermRW))
	}
	tests := []struct {
		name   string
		change func(tr *Tree, m Mapping)
		want   func(seen []Mapping) bool
	}{
		{"remove each yielded mapping", func(tr *Tree, m Mapping) { tr.Remove(m.IOVA, 1, nil) },
			func(seen []Mapping) bool { return slices.Equal(seen, ms) }},
		{"remove the next mapping", func(tr *Tree, m Mapping) { tr.Remove(m.IOVA+0x2000, 1, nil) },
			func(seen []Mapping) bool {
				for i, m := range seen {
					if m != ms[2*i] {
						return false
					}
				}
				return len(seen) == 150
			}},
		{"insert into the hole behind", func(tr *Tree, m Mapping) {
			if m.IOVA > 0 {
				_ = tr.Insert(mp(m.IOVA-0x1000, 0x1000, 7, PermRead))
			}
		}, func(seen []Mapping) bool { return slices.Equal(seen, ms) }},
		{"insert into the hole ahead", func(tr *Tree, m Mapping) {
			if m.Size == 0x1000 && m.IOVA < ms[len(ms)-1].IOVA {
				_ = tr.Insert(mp(m.IOVA+0x1000, 0x800, 7, PermRead))
			}
		}, func(seen []Mapping) bool {
			for i, m := range seen {
				if (i%2 == 0 && m != ms[i/2]) || (i%2 == 1 && m != mp(ms[i/2].IOVA+0x1000, 0x800, 7, PermRead)) {
					return false
				}
			}
			return len(seen) == 2*len(ms)-1
		}},
		{"clear", func(tr *Tree, m Mapping) { tr.Clear() },
			func(seen []Mapping) bool { return len(seen) == 1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := build(t, ms...)
			var seen []Mapping
			for m := range tr.All() {
				seen = append(seen, m)
				tc.change(tr, m)
				if len(seen) > 1000 {
					t.Fatal("iteration does not end")
				}
			}
			if !tc.want(seen) {
				t.Errorf("saw %d mappings: %v", len(seen), seen)
			}
			if err := tr.check(); err != nil {
				t.Error(err)
			}
		})
	}
}
