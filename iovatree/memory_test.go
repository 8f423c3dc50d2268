package iovatree

import (
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"unsafe"
)

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
		// Another goroutine of the test binary could allocate while the
		// tree is built; a real discrepancy shows up on every attempt.
		var tr *Tree
		var got, objs uint64
		for range 3 {
			tr = new(Tree)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for _, m := range ms {
				if err := tr.Insert(m); err != nil {
					t.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			got, objs = after.TotalAlloc-before.TotalAlloc, after.Mallocs-before.Mallocs
			if got == tr.MemoryBytes() && objs == uint64(tr.leaves+tr.inners) {
				break
			}
		}
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
