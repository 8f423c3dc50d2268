package iovatree

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

const maxU = math.MaxUint64

func mp(iova, size, addr uint64, p Perm) Mapping {
	return Mapping{IOVA: iova, Size: size, Addr: addr, Perm: p}
}

// build returns a tree holding ms, failing the test on any error.
func build(t *testing.T, ms ...Mapping) *Tree {
	t.Helper()
	tr := new(Tree)
	for _, m := range ms {
		if err := tr.Insert(m); err != nil {
			t.Fatalf("Insert(%v): %v", m, err)
		}
	}
	if err := tr.check(); err != nil {
		t.Fatal(err)
	}
	return tr
}

// edgeSet is a set of mappings touching every edge of the address space:
// the first byte, single bytes, adjacent ranges, a huge range and the
// last byte 2^64-1.
var edgeSet = []Mapping{
	mp(0, 1, 0x100, PermRead),                 // [0, 0]
	mp(1, 0xfff, 0x101, PermRW),               // [1, 0xfff], adjacent to it
	mp(0x1000, 0x1000, 0x9000, PermWrite),     // [0x1000, 0x1fff], adjacent again
	mp(0x3000, 1, 0x3000, PermRW),             // one byte after a hole
	mp(1<<40, 1<<62, 0, PermRW),               // huge
	mp(maxU-0x1fff, 0x1000, 0x7000, PermRead), // [2^64-0x2000, 2^64-0x1001]
	mp(maxU-0xfff, 0xfff, 0x8000, PermRW),     // [2^64-0x1000, 2^64-2]
	mp(maxU, 1, maxU, PermRead),               // the last byte, translated to the last byte
}

func TestFindEdges(t *testing.T) {
	tr := build(t, edgeSet...)
	tests := []struct {
		iova uint64
		want Mapping
		ok   bool
	}{
		{0, edgeSet[0], true},
		{1, edgeSet[1], true},
		{0xfff, edgeSet[1], true},
		{0x1000, edgeSet[2], true},
		{0x1fff, edgeSet[2], true},
		{0x2000, Mapping{}, false},
		{0x2fff, Mapping{}, false},
		{0x3000, edgeSet[3], true},
		{0x3001, Mapping{}, false},
		{1<<40 - 1, Mapping{}, false},
		{1 << 40, edgeSet[4], true},
		{1<<40 + 1<<62 - 1, edgeSet[4], true},
		{1<<40 + 1<<62, Mapping{}, false},
		{maxU - 0x2000, Mapping{}, false},
		{maxU - 0x1fff, edgeSet[5], true},
		{maxU - 0x1000, edgeSet[5], true},
		{maxU - 0xfff, edgeSet[6], true},
		{maxU - 1, edgeSet[6], true},
		{maxU, edgeSet[7], true},
	}
	for _, tc := range tests {
		got, ok := tr.Find(tc.iova)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Find(%#x) = %v, %v; want %v, %v", tc.iova, got, ok, tc.want, tc.ok)
		}
	}
	var empty Tree
	if m, ok := empty.Find(0); ok {
		t.Errorf("empty tree: Find(0) = %v", m)
	}
}

func TestInsertErrors(t *testing.T) {
	existing := []Mapping{mp(0x1000, 0x1000, 0, PermRW), mp(0x4000, 0x2000, 0, PermRW), mp(maxU-0xfff, 0x1000, 0, PermRW)}
	tests := []struct {
		name     string
		m        Mapping
		want     error
		conflict Mapping
		msg      string // must appear in the message
	}{
		{"zero size", mp(0x8000, 0, 0, PermRW), ErrZeroSize, Mapping{}, "[0x8000, +0x0)"},
		{"wraps", mp(maxU-0xfff, 0x1001, 0, PermRW), ErrWrap, Mapping{}, "[0xfffffffffffff000, +0x1001)"},
		{"size 2^64-1 from 1 is fine but from 2 wraps", mp(2, maxU, 0, PermRW), ErrWrap, Mapping{}, "[0x2, +0xffffffffffffffff)"},
		{"translated range wraps", mp(0x8000, 0x1000, maxU-0xffe, PermRW), ErrWrap, Mapping{}, "translated range [0xfffffffffffff001, +0x1000)"},
		{"no permission", mp(0x8000, 0x1000, 0, PermNone), ErrNoPerm, Mapping{}, "permission --"},
		{"unknown permission bit", mp(0x8000, 0x1000, 0, 4), ErrNoPerm, Mapping{}, "permission perm(0x4)"},
		{"same range", mp(0x1000, 0x1000, 0, PermRead), ErrOverlap, existing[0], "overlaps [0x1000, 0x1fff]"},
		{"last byte overlaps first byte", mp(0, 0x1001, 0, PermRead), ErrOverlap, existing[0], "[0x0, +0x1001)"},
		{"first byte overlaps last byte", mp(0x1fff, 1, 0, PermRead), ErrOverlap, existing[0], "[0x1fff, +0x1)"},
		{"inside", mp(0x4800, 0x10, 0, PermRead), ErrOverlap, existing[1], "overlaps [0x4000, 0x5fff]"},
		{"covering two reports the lowest", mp(0, 0x10000, 0, PermRead), ErrOverlap, existing[0], "overlaps [0x1000, 0x1fff]"},
		{"reaching the last byte", mp(maxU-0x1fff, 0x2000, 0, PermRead), ErrOverlap, existing[2], "overlaps [0xfffffffffffff000, 0xffffffffffffffff]"},
		{"the last byte", mp(maxU, 1, 0, PermRead), ErrOverlap, existing[2], "[0xffffffffffffffff, +0x1)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := build(t, existing...)
			err := tr.Insert(tc.m)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Insert(%v) = %v, want %v", tc.m, err, tc.want)
			}
			for _, s := range []error{ErrOverlap, ErrZeroSize, ErrWrap, ErrNoPerm, ErrNoSpace} {
				if s != tc.want && errors.Is(err, s) {
					t.Errorf("error %v also matches %v", err, s)
				}
			}
			var re *RangeError
			if !errors.As(err, &re) {
				t.Fatalf("error %T is not a *RangeError", err)
			}
			if re.IOVA != tc.m.IOVA || re.Size != tc.m.Size || re.Conflict != tc.conflict {
				t.Errorf("RangeError %+v: want IOVA %#x Size %#x Conflict %v", re, tc.m.IOVA, tc.m.Size, tc.conflict)
			}
			if !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "iovatree: insert ") {
				t.Errorf("message %q lacks %q", err, tc.msg)
			}
			if got := slices.Collect(tr.All()); !slices.Equal(got, existing) {
				t.Errorf("failed Insert changed the tree: %v", got)
			}
		})
	}
}

func TestInsertAdjacent(t *testing.T) {
	// Mappings that touch but do not overlap are all accepted, in any
	// order, including the whole space cut in two.
	tests := [][]Mapping{
		{mp(0, 0x1000, 0, PermRW), mp(0x1000, 0x1000, 0, PermRW), mp(0x2000, 0x1000, 0, PermRW)},
		{mp(0x2000, 0x1000, 0, PermRW), mp(0, 0x1000, 0, PermRW), mp(0x1000, 0x1000, 0, PermRW)},
		{mp(0, 1<<63, 0, PermRW), mp(1<<63, 1<<63-1, 0, PermRW), mp(maxU, 1, 0, PermRW)},
		{mp(maxU, 1, 0, PermRW), mp(0, maxU, 0, PermRW)},
	}
	for _, ms := range tests {
		tr := build(t, ms...)
		want := slices.SortedFunc(slices.Values(ms), func(a, b Mapping) int { return cmpU(a.IOVA, b.IOVA) })
		if got := slices.Collect(tr.All()); !slices.Equal(got, want) {
			t.Errorf("All() = %v, want %v", got, want)
		}
	}
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestOverlap(t *testing.T) {
	tr := build(t, edgeSet...)
	tests := []struct {
		iova, size uint64
		want       Mapping
		ok         bool
	}{
		{0, 0, Mapping{}, false},           // empty range
		{0x2000, 0x1000, Mapping{}, false}, // the hole
		{0x2000, 0x1001, edgeSet[3], true}, // reaches the one-byte mapping
		{0x1fff, 0x2000, edgeSet[2], true}, // lowest first
		{0, maxU, edgeSet[0], true},        // almost everything
		{maxU, 1, edgeSet[7], true},        // last byte
		{maxU, 100, edgeSet[7], true},      // wraps: cut at 2^64-1
		{maxU - 0x2fff, 0x1000, Mapping{}, false},
		{1<<40 + 1<<62, maxU, edgeSet[5], true}, // wraps past the huge one
	}
	for _, tc := range tests {
		got, ok := tr.Overlap(tc.iova, tc.size)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Overlap(%#x, %#x) = %v, %v; want %v, %v", tc.iova, tc.size, got, ok, tc.want, tc.ok)
		}
	}
	spans := []struct {
		first, last uint64
		want        Mapping
		ok          bool
	}{
		{0, maxU, edgeSet[0], true},
		{maxU, maxU, edgeSet[7], true},
		{5, 4, Mapping{}, false}, // first > last
		{0x2000, 0x2fff, Mapping{}, false},
	}
	for _, tc := range spans {
		got, ok := tr.OverlapSpan(tc.first, tc.last)
		if got != tc.want || ok != tc.ok {
			t.Errorf("OverlapSpan(%#x, %#x) = %v, %v; want %v, %v", tc.first, tc.last, got, ok, tc.want, tc.ok)
		}
	}
}

func TestClearAndReuse(t *testing.T) {
	tr := build(t, edgeSet...)
	tr.Clear()
	if tr.Len() != 0 || tr.MemoryBytes() != 0 {
		t.Fatalf("after Clear: Len %d, MemoryBytes %d", tr.Len(), tr.MemoryBytes())
	}
	if m, ok := tr.Find(0); ok {
		t.Fatalf("Find after Clear = %v", m)
	}
	if err := tr.Insert(edgeSet[0]); err != nil {
		t.Fatal(err)
	}
	if got := slices.Collect(tr.All()); !slices.Equal(got, edgeSet[:1]) {
		t.Fatalf("after Clear and Insert: %v", got)
	}
}

// TestDeepTree grows a tree to three inner levels and shrinks it again, in random
// order, comparing with the model and checking the invariants on the way.
func TestDeepTree(t *testing.T) {
	n := 300_000
	if testing.Short() {
		n = 100_000
	}
	rng := rand.New(rand.NewPCG(1, 2))
	perm := rng.Perm(n)
	var tr Tree
	var md model
	md.m = make([]Mapping, n)
	for i, k := range perm {
		// Distinct, non-overlapping: every insertion succeeds.
		m := mp(uint64(k)*0x3000, 0x1000+uint64(k%3)*0x1000, uint64(i)<<12, Perm(1+k%3))
		if err := tr.Insert(m); err != nil {
			t.Fatalf("Insert(%v) = %v", m, err)
		}
		md.m[k] = m
		if i%1000 == 0 {
			// The same mapping again must fail.
			if err := tr.Insert(m); !errors.Is(err, ErrOverlap) {
				t.Fatalf("second Insert(%v) = %v", m, err)
			}
		}
	}
	if got := slices.Collect(tr.All()); !slices.Equal(got, md.m) {
		t.Fatal("All() differs from the inserted mappings")
	}
	if tr.height < 3 {
		t.Fatalf("height %d: the test wants at least 3 inner levels", tr.height)
	}
	if err := tr.check(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20000; i++ {
		x := rng.Uint64N(uint64(n) * 0x3000)
		g, gok := tr.Find(x)
		w, wok := md.find(x)
		if g != w || gok != wok {
			t.Fatalf("Find(%#x) = %v %v, model %v %v", x, g, gok, w, wok)
		}
	}
	// Remove in random runs until empty.
	for tr.Len() > 0 {
		a := md.m[rng.IntN(len(md.m))].IOVA - rng.Uint64N(0x3000*4)
		s := rng.Uint64N(0x3000 * 64)
		got, want := tr.Remove(a, s, nil), md.removeSpan(a, lastOf(a, max(s, 1)))
		if s == 0 {
			want = nil
		}
		if !slices.Equal(got, want) {
			t.Fatalf("Remove(%#x, %#x): %d removed, model %d", a, s, len(got), len(want))
		}
		if tr.Len() < 5000 && rng.IntN(20) == 0 {
			if err := tr.check(); err != nil {
				t.Fatal(err)
			}
		}
		if tr.Len() > 0 && rng.IntN(1000) == 0 {
			// finish off with whole-space removals now and then
			tr.RemoveSpan(0, maxU, nil)
			md.m = nil
		}
	}
	if err := tr.check(); err != nil {
		t.Fatal(err)
	}
	if tr.MemoryBytes() != 0 {
		t.Errorf("empty tree holds %d bytes", tr.MemoryBytes())
	}
}
