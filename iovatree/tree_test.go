package iovatree

import (
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
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

func TestFindAddr(t *testing.T) {
	tr := build(t,
		mp(0x1000, 0x1000, 0x50000, PermRW),
		mp(0x8000, 0x1000, 0x50000, PermRead), // aliases the first: lowest IOVA wins
		mp(0x9000, 0x2000, 0x60000, PermRW),
		mp(0xa0000, 1, maxU, PermRW),
	)
	tests := []struct {
		addr uint64
		want uint64 // IOVA of the expected mapping
		ok   bool
	}{
		{0x50000, 0x1000, true},
		{0x50fff, 0x1000, true},
		{0x51000, 0, false},
		{0x61fff, 0x9000, true},
		{0x62000, 0, false},
		{maxU, 0xa0000, true},
		{0, 0, false},
	}
	for _, tc := range tests {
		got, ok := tr.FindAddr(tc.addr)
		if ok != tc.ok || (ok && got.IOVA != tc.want) {
			t.Errorf("FindAddr(%#x) = %v, %v; want IOVA %#x, %v", tc.addr, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFreeRange(t *testing.T) {
	tr := build(t,
		mp(0, 0x1000, 0, PermRW),
		mp(0x2000, 0x1000, 0, PermRW),
		mp(0x3000, 0x5000, 0, PermRW),
		mp(maxU-0xfff, 0x1000, 0, PermRW),
	)
	tests := []struct {
		name               string
		lo, hi, size, alig uint64
		want               uint64
		err                error
	}{
		{"first hole", 0, maxU, 0x1000, 0x1000, 0x1000, nil},
		{"too big for the first hole", 0, maxU, 0x1001, 1, 0x8000, nil},
		{"alignment skips ahead", 0, maxU, 0x1000, 0x10000, 0x10000, nil},
		{"align 0 means 1", 0x1800, maxU, 0x100, 0, 0x1800, nil},
		{"non power of two alignment", 0x8002, maxU, 1, 3, 0x8004, nil},
		{"hi is inclusive", 0x1000, 0x1fff, 0x1000, 1, 0x1000, nil},
		{"hi one short", 0x1000, 0x1ffe, 0x1000, 1, 0, ErrNoSpace},
		{"lo above hi", 0x2000, 0x1000, 1, 1, 0, ErrNoSpace},
		{"zero size", 0, maxU, 0, 1, 0, ErrZeroSize},
		{"nothing above the top mapping", maxU - 0xfff, maxU, 1, 1, 0, ErrNoSpace},
		{"just below the top mapping", maxU - 0x1fff, maxU, 0x1000, 0x1000, maxU - 0x1fff, nil},
		{"alignment rounds past 2^64", maxU - 0x10, maxU, 1, 1 << 63, 0, ErrNoSpace},
		{"size 2^64-1 never fits", 0, maxU, maxU, 1, 0, ErrNoSpace},
		{"half the space", 0, maxU, 1 << 63, 1 << 63, 1 << 63, ErrNoSpace}, // the top mapping is in the way
		{"below 2^63", 0x10000, 1<<63 - 1, 1 << 62, 1 << 62, 1 << 62, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tr.FreeRange(tc.lo, tc.hi, tc.size, tc.alig)
			if !errors.Is(err, tc.err) || (err == nil && got != tc.want) {
				t.Fatalf("FreeRange(%#x, %#x, %#x, %#x) = %#x, %v; want %#x, %v", tc.lo, tc.hi, tc.size, tc.alig, got, err, tc.want, tc.err)
			}
			if err != nil {
				var re *RangeError
				if !errors.As(err, &re) || re.Lo != tc.lo || re.Hi != tc.hi || re.Size != tc.size {
					t.Errorf("error %#v does not name the request", err)
				}
				if !strings.Contains(err.Error(), "free range") {
					t.Errorf("message %q", err)
				}
				return
			}
			if _, hit := tr.Overlap(got, tc.size); hit {
				t.Errorf("FreeRange returned %#x, which is mapped", got)
			}
		})
	}
	var empty Tree
	if a, err := empty.FreeRange(0, maxU, maxU, 1); err != nil || a != 0 {
		t.Errorf("empty tree: FreeRange(whole space) = %#x, %v", a, err)
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

func TestZeroAllocs(t *testing.T) {
	var tr Tree
	for i := range uint64(5000) {
		_ = tr.Insert(mp(i*0x2000, 0x1000, i, PermRW))
	}
	var dst []Mapping
	tests := []struct {
		name string
		fn   func()
	}{
		{"Find hit", func() { tr.Find(0x2000 * 1234) }},
		{"Find miss", func() { tr.Find(0x2000*1234 + 0x1000) }},
		{"Overlap", func() { tr.Overlap(0x1000, 0x10000) }},
		{"OverlapSpan", func() { tr.OverlapSpan(0, maxU) }},
		{"FindAddr", func() { tr.FindAddr(4000) }},
		{"FreeRange", func() { _, _ = tr.FreeRange(0, maxU, 0x1000, 0x1000) }},
		{"Remove and Insert, dst reused", func() {
			dst = tr.Remove(0x2000*77, 1, dst[:0])
			_ = tr.Insert(dst[0])
		}},
	}
	for _, tc := range tests {
		if a := testing.AllocsPerRun(100, tc.fn); a != 0 {
			t.Errorf("%s: %v allocations", tc.name, a)
		}
	}
}

// TestMemoryBytesMatchesHeap checks that MemoryBytes is byte-accurate:
// it equals what the Go allocator handed out while the tree was built.
func TestMemoryBytesMatchesHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for _, n := range []int{1, 100, 5000, 100_000} {
		ms := make([]Mapping, n)
		for i := range ms {
			ms[i] = mp(uint64(i)*0x2000, 0x1000, 0, PermRW)
		}
		rand.New(rand.NewPCG(uint64(n), 0)).Shuffle(n, func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
		tr := new(Tree)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, m := range ms {
			if err := tr.Insert(m); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		got := after.TotalAlloc - before.TotalAlloc
		objs := after.Mallocs - before.Mallocs
		if got != tr.MemoryBytes() || objs != uint64(tr.leaves+tr.inners) {
			t.Errorf("%d mappings: allocated %d bytes in %d objects, MemoryBytes %d in %d nodes",
				n, got, objs, tr.MemoryBytes(), tr.leaves+tr.inners)
		}
		if per := float64(tr.MemoryBytes()) / float64(n); n >= 5000 && per > 40 {
			t.Errorf("%d mappings inserted in random order: %.1f bytes per mapping", n, per)
		}
	}
}

// TestLeafLayout checks the alignment that lets a lookup read one block
// as one cache line per array.
func TestLeafLayout(t *testing.T) {
	var tr Tree
	for i := range uint64(10000) {
		_ = tr.Insert(mp(i*0x1000, 0x1000, 0, PermRW))
	}
	var leaves []*leaf
	var inners []*inner
	var walk func(nd *inner, d int)
	walk = func(nd *inner, d int) {
		inners = append(inners, nd)
		for c := range nd.n {
			if d == tr.height-1 {
				leaves = append(leaves, nd.leaves[c])
			} else {
				walk(nd.kids[c], d+1)
			}
		}
	}
	walk(tr.rootInner, 0)
	for _, l := range leaves {
		for _, p := range []uintptr{uintptr(unsafe.Pointer(&l.iova)), uintptr(unsafe.Pointer(&l.last)), uintptr(unsafe.Pointer(&l.addr)), uintptr(unsafe.Pointer(&l.perm))} {
			if p%64 != 0 {
				t.Fatalf("leaf array at %#x is not 64-byte aligned", p)
			}
		}
	}
	for _, nd := range inners {
		for _, p := range []uintptr{uintptr(unsafe.Pointer(&nd.keys)), uintptr(unsafe.Pointer(&nd.sums))} {
			if p%64 != 0 {
				t.Fatalf("inner array at %#x is not 64-byte aligned", p)
			}
		}
	}
}

// TestConcurrentReaders runs lookups from several goroutines under a
// read lock while a writer changes the tree under the write lock, as the
// concurrency contract allows; run it with -race.
func TestConcurrentReaders(t *testing.T) {
	var mu sync.RWMutex
	var tr Tree
	for i := range uint64(20000) {
		_ = tr.Insert(mp(i*0x1000, 0x1000, i*0x1000, PermRW))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range uint64(20000) {
				x := (i*7919 + uint64(g)*5003) % 20000 * 0x1000
				if g%2 == 0 {
					x = i * 0x1000 // an ascending stream, which moves the finger
				}
				mu.RLock()
				m, ok := tr.Find(x)
				mu.RUnlock()
				if ok && m.Addr != m.IOVA {
					t.Errorf("Find(%#x) = %v", x, m)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range uint64(2000) {
			x := i * 7 % 20000 * 0x1000
			mu.Lock()
			if ms := tr.Remove(x, 1, nil); len(ms) == 1 {
				_ = tr.Insert(ms[0])
			}
			mu.Unlock()
		}
	}()
	wg.Wait()
	if err := tr.check(); err != nil {
		t.Fatal(err)
	}
}

func TestStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{PermNone.String(), "--"},
		{PermRead.String(), "r-"},
		{PermWrite.String(), "-w"},
		{PermRW.String(), "rw"},
		{Perm(9).String(), "perm(0x9)"},
		{mp(0x1000, 0x1000, 0x5000, PermRW).String(), "[0x1000, 0x1fff] -> 0x5000 rw"},
		{mp(maxU, 1, 0, PermRead).String(), "[0xffffffffffffffff, 0xffffffffffffffff] -> 0x0 r-"},
		{mp(7, 0, 0, PermRead).String(), "[0x7, +0) -> 0x0 r-"},
		{(&RangeError{Op: "free range", Size: 0x1000, Lo: 1, Hi: 2, Align: 4, Err: ErrNoSpace}).Error(),
			"iovatree: free range of size 0x1000 aligned to 0x4 in [0x1, 0x2]: iovatree: no free range"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestMappingHelpers(t *testing.T) {
	m := mp(maxU-0xfff, 0x1000, 0x40000, PermRW)
	tests := []struct {
		iova uint64
		in   bool
		tr   uint64
	}{
		{maxU - 0x1000, false, 0},
		{maxU - 0xfff, true, 0x40000},
		{maxU, true, 0x40fff},
	}
	for _, tc := range tests {
		if got := m.Contains(tc.iova); got != tc.in {
			t.Errorf("Contains(%#x) = %v", tc.iova, got)
		}
		if tc.in && m.Translate(tc.iova) != tc.tr {
			t.Errorf("Translate(%#x) = %#x, want %#x", tc.iova, m.Translate(tc.iova), tc.tr)
		}
	}
	if m.Last() != maxU {
		t.Errorf("Last() = %#x", m.Last())
	}
	if (Mapping{IOVA: 5}).Contains(5) {
		t.Error("a zero-size mapping contains nothing")
	}
}
