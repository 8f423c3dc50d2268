package notifier

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type block struct{ IOVA, Size uint64 }

func collectSplit(first, last uint64) []block {
	var out []block
	for iova, size := range Split(first, last) {
		out = append(out, block{iova, size})
	}
	return out
}

func TestSplit(t *testing.T) {
	const max64 = ^uint64(0)
	tests := []struct {
		name        string
		first, last uint64
		want        []block
	}{
		{"one page", 0x1000, 0x1fff, []block{{0x1000, 0x1000}}},
		{"two pages unaligned pair", 0x1000, 0x2fff, []block{{0x1000, 0x1000}, {0x2000, 0x1000}}},
		{"three pages", 0x1000, 0x3fff, []block{{0x1000, 0x1000}, {0x2000, 0x2000}}},
		{"aligned 2 MiB", 0x200000, 0x3fffff, []block{{0x200000, 0x200000}}},
		{"bytes 1..6", 1, 6, []block{{1, 1}, {2, 2}, {4, 2}, {6, 1}}},
		{"single byte at 0", 0, 0, []block{{0, 1}}},
		{"last byte of the space", max64, max64, []block{{max64, 1}}},
		{"whole space", 0, max64, []block{{0, 1 << 63}, {1 << 63, 1 << 63}}},
		{"upper half", 1 << 63, max64, []block{{1 << 63, 1 << 63}}},
		{"lower half minus one byte", 0, 1<<63 - 2, func() []block {
			// 2^62, 2^61, ..., 2, then one byte at 2^63-2: 63 blocks.
			var bs []block
			at := uint64(0)
			for k := 62; k >= 1; k-- {
				bs = append(bs, block{at, 1 << k})
				at += 1 << k
			}
			return append(bs, block{at, 1})
		}()},
		{"top 12 KiB", max64 - 0x2fff, max64, []block{{max64 - 0x2fff, 0x1000}, {max64 - 0x1fff, 0x2000}}},
		{"first > last", 2, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := collectSplit(tt.first, tt.last)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Split(%#x, %#x) mismatch (-want +got):\n%s", tt.first, tt.last, diff)
			}
		})
	}
}

// checkTiling verifies the Split contract for [first, last]: aligned powers of
// two, adjacent, covering exactly the range, and maximal.
func checkTiling(t testing.TB, first, last uint64, bs []block) {
	t.Helper()
	if len(bs) == 0 {
		t.Fatalf("[%#x, %#x]: no blocks", first, last)
	}
	if len(bs) > 128 {
		t.Errorf("[%#x, %#x]: %d blocks, more than 128", first, last, len(bs))
	}
	next := first
	for i, b := range bs {
		if b.Size == 0 || b.Size&(b.Size-1) != 0 {
			t.Fatalf("[%#x, %#x] block %d: size %#x is not a power of two", first, last, i, b.Size)
		}
		if b.IOVA%b.Size != 0 {
			t.Fatalf("[%#x, %#x] block %d: IOVA %#x not aligned to %#x", first, last, i, b.IOVA, b.Size)
		}
		if b.IOVA != next {
			t.Fatalf("[%#x, %#x] block %d: starts at %#x, want %#x", first, last, i, b.IOVA, next)
		}
		end := b.IOVA + b.Size - 1
		if end < b.IOVA || end > last {
			t.Fatalf("[%#x, %#x] block %d: [%#x, +%#x] passes the end", first, last, i, b.IOVA, b.Size)
		}
		// Maximal: the aligned block twice as large that contains this one
		// must not lie inside the range.
		if b.Size < 1<<63 {
			big := b.Size * 2
			start := b.IOVA &^ (big - 1)
			if start >= first && start+big-1 <= last && start+big-1 >= start {
				t.Fatalf("[%#x, %#x] block %d: [%#x, +%#x] is not maximal, [%#x, +%#x] fits", first, last, i, b.IOVA, b.Size, start, big)
			}
		}
		next = end + 1
		if i == len(bs)-1 && end != last {
			t.Fatalf("[%#x, %#x]: blocks end at %#x", first, last, end)
		}
	}
}

func randRange(r *rand.Rand) (uint64, uint64) {
	var a, b uint64
	switch r.IntN(4) {
	case 0: // page-granular, small
		a = r.Uint64N(1<<20) << 12
		b = a + r.Uint64N(1<<12)<<12 + 0xfff
	case 1: // anywhere, any length
		a, b = r.Uint64(), r.Uint64()
	case 2: // near the top
		a = ^uint64(0) - r.Uint64N(1<<16)
		b = ^uint64(0) - r.Uint64N(^uint64(0)-a+1)
	default: // byte-granular, small
		a = r.Uint64N(1 << 16)
		b = a + r.Uint64N(1<<16)
	}
	if a > b {
		a, b = b, a
	}
	return a, b
}

func TestSplitProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		first, last := randRange(r)
		checkTiling(t, first, last, collectSplit(first, last))
	}
}

// Any block of another range's split that lies inside [first, last] lies
// inside one block of the split of [first, last]: mapping with one range and
// unmapping with a range that covers it never bisects a block.
func TestSplitNests(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		first, last := randRange(r)
		outer := collectSplit(first, last)
		// A sub-range of [first, last].
		a := first + r.Uint64N(last-first+1)
		b := a + r.Uint64N(last-a+1)
		if last-first == ^uint64(0) {
			a, b = r.Uint64(), r.Uint64()
			if a > b {
				a, b = b, a
			}
		}
		for iova, size := range Split(a, b) {
			end := iova + size - 1
			inside := false
			for _, o := range outer {
				if o.IOVA <= iova && end <= o.IOVA+o.Size-1 {
					inside = true
					break
				}
			}
			if !inside {
				t.Fatalf("block [%#x, +%#x] of [%#x, %#x] straddles the split of [%#x, %#x]: %x", iova, size, a, b, first, last, outer)
			}
		}
	}
}

func TestSplitStopsEarly(t *testing.T) {
	n := 0
	for range Split(1, 1<<20) {
		n++
		if n == 3 {
			break
		}
	}
	if n != 3 {
		t.Fatalf("iterated %d blocks after break at 3", n)
	}
}
