package iovatree

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// Benchmark workloads. "4k": N mappings of 4 KiB, each followed by an
// unmapped 4 KiB hole (so that misses have somewhere to fall). "mixed":
// N mappings of 4 KiB (90%), 2 MiB (9%) and 1 GiB (1%), naturally aligned,
// in ascending order with a hole of the mapping's own size after one in
// four of them. Translated addresses are scattered.
type workload struct {
	maps   []Mapping // ascending
	random []Mapping // the same, shuffled
	hits   []uint64  // random addresses inside mappings
	misses []uint64  // random addresses in holes
	asc    []uint64  // addresses inside mappings, in ascending order
}

var benchSizes = []int{1 << 10, 1 << 16, 1 << 20}

var (
	workloadMu sync.Mutex
	workloads  = map[string]*workload{}
	trees      = map[string]*Tree{}
)

func getWorkload(kind string, n int) *workload {
	workloadMu.Lock()
	defer workloadMu.Unlock()
	key := fmt.Sprint(kind, n)
	if w := workloads[key]; w != nil {
		return w
	}
	rng := rand.New(rand.NewPCG(uint64(n), 42))
	w := &workload{}
	var holes [][2]uint64
	cur := uint64(0x10000000)
	for range n {
		size := uint64(4096)
		if kind == "mixed" {
			switch r := rng.IntN(100); {
			case r == 0:
				size = 1 << 30
			case r < 10:
				size = 2 << 20
			}
		}
		cur = (cur + size - 1) &^ (size - 1)
		w.maps = append(w.maps, Mapping{IOVA: cur, Size: size, Addr: rng.Uint64N(1<<40) &^ 0xfff, Perm: PermRW})
		cur += size
		if kind == "4k" || rng.IntN(4) == 0 {
			holes = append(holes, [2]uint64{cur, size})
			cur += size
		}
	}
	w.random = append([]Mapping(nil), w.maps...)
	rng.Shuffle(len(w.random), func(i, j int) { w.random[i], w.random[j] = w.random[j], w.random[i] })
	q := min(n, 1<<20)
	for i := range q {
		m := w.random[i%n]
		w.hits = append(w.hits, m.IOVA+rng.Uint64N(m.Size))
		h := holes[rng.IntN(len(holes))]
		w.misses = append(w.misses, h[0]+rng.Uint64N(h[1]))
		m = w.maps[i*n/q]
		w.asc = append(w.asc, m.IOVA+rng.Uint64N(m.Size))
	}
	workloads[key] = w
	return w
}

// getTree returns a tree holding the workload, built in random order.
func getTree(b *testing.B, kind string, n int) (*Tree, *workload) {
	w := getWorkload(kind, n)
	workloadMu.Lock()
	defer workloadMu.Unlock()
	key := fmt.Sprint(kind, n)
	if t := trees[key]; t != nil {
		return t, w
	}
	t := new(Tree)
	for _, m := range w.random {
		if err := t.Insert(m); err != nil {
			b.Fatal(err)
		}
	}
	trees[key] = t
	return t, w
}

func forSizes(b *testing.B, fn func(b *testing.B, kind string, n int)) {
	for _, kind := range []string{"4k", "mixed"} {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%s", kind, sizeName(n)), func(b *testing.B) { fn(b, kind, n) })
		}
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dK", n>>10)
	}
	return fmt.Sprint(n)
}

var sink Mapping

func benchFind(b *testing.B, kind string, n int, queries func(*workload) []uint64, wantHit bool) {
	t, w := getTree(b, kind, n)
	qs := queries(w)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, ok := t.Find(qs[i%len(qs)])
		if ok != wantHit {
			b.Fatalf("Find(%#x) = %v", qs[i%len(qs)], ok)
		}
		sink = m
	}
}

// BenchmarkFindHitRandom: lookups of mapped addresses in random order.
func BenchmarkFindHitRandom(b *testing.B) {
	forSizes(b, func(b *testing.B, kind string, n int) {
		benchFind(b, kind, n, func(w *workload) []uint64 { return w.hits }, true)
	})
}

// BenchmarkFindHitAscending: lookups of mapped addresses in ascending
// order, as a DMA stream makes them.
func BenchmarkFindHitAscending(b *testing.B) {
	forSizes(b, func(b *testing.B, kind string, n int) {
		benchFind(b, kind, n, func(w *workload) []uint64 { return w.asc }, true)
	})
}

// BenchmarkFindMissRandom: lookups of unmapped addresses in random order.
func BenchmarkFindMissRandom(b *testing.B) {
	forSizes(b, func(b *testing.B, kind string, n int) {
		benchFind(b, kind, n, func(w *workload) []uint64 { return w.misses }, false)
	})
}

// BenchmarkOverlap: the caching-mode shadowing question "is anything
// mapped in this page?" for random mapped pages.
func BenchmarkOverlap(b *testing.B) {
	forSizes(b, func(b *testing.B, kind string, n int) {
		t, w := getTree(b, kind, n)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			m, ok := t.Overlap(w.hits[i%len(w.hits)]&^0xfff, 0x1000)
			if !ok {
				b.Fatal("no overlap")
			}
			sink = m
		}
	})
}

// benchBuild inserts the workload into fresh trees, order given; ns/op is
// the mean cost of one Insert while the tree grows from 0 to n mappings.
// It reports the final tree's memory as B/entry.
func benchBuild(b *testing.B, kind string, n int, order func(*workload) []Mapping) {
	w := getWorkload(kind, n)
	ms := order(w)
	t := new(Tree)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % n
		if j == 0 && i > 0 {
			b.StopTimer()
			t = new(Tree)
			b.StartTimer()
		}
		if err := t.Insert(ms[j]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if t.Len() < n {
		t = new(Tree)
		for _, m := range ms {
			_ = t.Insert(m)
		}
	}
	b.ReportMetric(float64(t.MemoryBytes())/float64(t.Len()), "B/entry")
}

// BenchmarkInsertRandom: Insert in random order.
func BenchmarkInsertRandom(b *testing.B) {
	forSizes(b, func(b *testing.B, kind string, n int) {
		benchBuild(b, kind, n, func(w *workload) []Mapping { return w.random })
	})
}

// BenchmarkInsertAscending: Insert in ascending order (a guest mapping its
// RAM page by page).
func BenchmarkInsertAscending(b *testing.B) {
	forSizes(b, func(b *testing.B, kind string, n int) {
		benchBuild(b, kind, n, func(w *workload) []Mapping { return w.maps })
	})
}

// BenchmarkRemoveRandom: removal of single mappings in random order from a
// full tree; ns/op is the mean cost while the tree shrinks from n to 0.
func BenchmarkRemoveRandom(b *testing.B) {
	forSizes(b, func(b *testing.B, kind string, n int) {
		w := getWorkload(kind, n)
		build := func() *Tree {
			t := new(Tree)
			for _, m := range w.maps {
				_ = t.Insert(m)
			}
			return t
		}
		b.StopTimer()
		t := build()
		var dst [4]Mapping
		b.ReportAllocs()
		b.ResetTimer()
		b.StartTimer()
		for i := 0; i < b.N; i++ {
			j := i % n
			if j == 0 && i > 0 {
				b.StopTimer()
				t = build()
				b.StartTimer()
			}
			m := w.random[j]
			if got := t.Remove(m.IOVA, m.Size, dst[:0]); len(got) != 1 {
				b.Fatalf("removed %v", got)
			}
		}
	})
}

// BenchmarkIterate: a full ascending iteration; ns/op is per mapping.
func BenchmarkIterate(b *testing.B) {
	forSizes(b, func(b *testing.B, kind string, n int) {
		t, _ := getTree(b, kind, n)
		b.ReportAllocs()
		b.ResetTimer()
		seen := 0
		for seen < b.N {
			for m := range t.All() {
				sink = m
				seen++
				if seen == b.N {
					break
				}
			}
		}
	})
}

// BenchmarkFreeRange: allocating from a random starting point. "hole":
// a 4 KiB, 4 KiB-aligned hole, found next to the starting mapping (one
// descent). "skip64": a range that fits nowhere within the next 64
// mappings, so the search steps over all of them and fails (the one
// allocation is the error).
func BenchmarkFreeRange(b *testing.B) {
	for _, name := range []string{"hole", "skip64"} {
		b.Run(name, func(b *testing.B) {
			forSizes(b, func(b *testing.B, kind string, n int) {
				if kind != "4k" {
					b.Skip("the 4k workload has a 4 KiB hole after every mapping")
				}
				t, w := getTree(b, kind, n)
				los, his := make([]uint64, 1<<16), make([]uint64, 1<<16)
				for i := range los {
					j := int(w.hits[i%len(w.hits)]>>12) % (n - 64)
					los[i], his[i] = w.maps[j].IOVA, w.maps[j+64].IOVA
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					lo, hi := los[i&(1<<16-1)], his[i&(1<<16-1)]
					if name == "hole" {
						if _, err := t.FreeRange(lo, ^uint64(0), 0x1000, 0x1000); err != nil {
							b.Fatal(err)
						}
					} else if _, err := t.FreeRange(lo, hi, 0x2000, 0x1000); err == nil {
						b.Fatal("found space")
					}
				}
			})
		})
	}
}

// BenchmarkFindAddr: the reverse lookup, a linear scan; it also reports
// the cost per mapping scanned, assuming a lookup scans half the tree (the
// sought mappings are uniformly spread). That holds for the 4k workload;
// in the mixed one a 1 GiB mapping met early often contains the address,
// which makes the per-mapping figure look smaller than it is.
func BenchmarkFindAddr(b *testing.B) {
	forSizes(b, func(b *testing.B, kind string, n int) {
		t, w := getTree(b, kind, n)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			m := w.random[i%n]
			if _, ok := t.FindAddr(m.Addr); !ok {
				b.Fatal("not found")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n/2), "ns/mapping")
	})
}

// BenchmarkCalibrationSortedKeys is not the tree: it is a binary search of
// a sorted []uint64 of the workload's first IOVAs (keys only, no values),
// the calibration figure the targets were set against. Run it next to the
// tree's benchmarks to judge how loaded the machine is.
func BenchmarkCalibrationSortedKeys(b *testing.B) {
	forSizes(b, func(b *testing.B, kind string, n int) {
		if kind != "4k" {
			b.Skip("4k only")
		}
		w := getWorkload(kind, n)
		keys := make([]uint64, n)
		for i, m := range w.maps {
			keys[i] = m.IOVA
		}
		b.ReportAllocs()
		b.ResetTimer()
		s := 0
		for i := 0; i < b.N; i++ {
			j, _ := slices.BinarySearch(keys, w.hits[i%len(w.hits)])
			s += j
		}
		sink.IOVA = uint64(s)
	})
}
