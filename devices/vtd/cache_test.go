package vtd

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/govmm/govmm/dma"
)

// TestNonPresentNotCached follows kvm-unit-tests: translation is enabled
// before the tables exist, the device faults, and tables written
// afterwards with no invalidation must be used at once.
func TestNonPresentNotCached(t *testing.T) {
	e := newEnv(t, DefaultConfig(), 8<<20)
	root := e.setRoot()
	e.gcmd(gcmdTE, true)
	dev := sid(0, 3, 0)
	as := e.u.AddressSpace(dev)
	if got := faultOf(t, e, as, 0x0, dma.Read); got != FaultRootNotPresent {
		t.Fatalf("fault %v, want root not present", got)
	}
	pgd := e.page()
	e.setContext(root, dev, ctxLo(pgd, ttMultiLevel, true), ctxHi(1, uint16(dev)))
	if got := faultOf(t, e, as, 0x0, dma.Read); got != 0xff { // FPD: not logged
		t.Fatalf("fault %v, want an unlogged fault", got)
	}
	e.mapPage(pgd, 3, 0, 0x3000, 4096, slR|slW)
	if gpa, _, err := as.Translate(0x10, 4, dma.Write); err != nil || gpa != 0x3010 {
		t.Fatalf("after writing the tables: %#x, %v", gpa, err)
	}
	// Same for a not-present page under a cached context entry.
	if _, _, err := as.Translate(0x200000, 4, dma.Read); err == nil {
		t.Fatal("unmapped page translated")
	}
	e.mapPage(pgd, 3, 0x200000, 0x4000, 4096, slR)
	if gpa, _, err := as.Translate(0x200000, 4, dma.Read); err != nil || gpa != 0x4000 {
		t.Fatalf("new page: %#x, %v", gpa, err)
	}
}

// TestInvalidationGranularity checks which invalidations drop a cached
// translation: a page is translated (and cached), its PTE rewritten
// without invalidation (the stale translation is still used, proving the
// cache), then one invalidation runs and the result shows whether it
// covered the page.
func TestInvalidationGranularity(t *testing.T) {
	devA, devB := sid(0, 3, 0), sid(0, 4, 0)
	tests := []struct {
		name     string
		pageSize uint64
		d        descriptor
		fresh    bool // the new PTE is seen afterwards
	}{
		{"IOTLB global", 4096, iotlbGlobal(), true},
		{"DSI", 4096, iotlbDSI(5), true},
		{"DSI other domain", 4096, iotlbDSI(6), false},
		{"PSI the page", 4096, iotlbPSI(5, 0x4005000, 0, false), true},
		{"PSI with IH", 4096, iotlbPSI(5, 0x4005000, 0, true), true},
		{"PSI next page", 4096, iotlbPSI(5, 0x4006000, 0, false), false},
		{"PSI 16 pages", 4096, iotlbPSI(5, 0x4000000, 4, false), true},
		{"PSI 1 GiB (scan)", 4096, iotlbPSI(5, 0x0, 18, false), true},
		{"PSI 1 GiB elsewhere (scan)", 4096, iotlbPSI(5, 0x40000000, 18, false), false},
		{"PSI other domain", 4096, iotlbPSI(6, 0x4005000, 0, false), false},
		{"PSI a 4K page of a 2M leaf", 2 << 20, iotlbPSI(5, 0x4105000, 0, false), true},
		{"PSI outside a 2M leaf", 2 << 20, iotlbPSI(5, 0x4205000, 0, false), false},
		{"PSI a 4K page of a 1G leaf", 1 << 30, iotlbPSI(5, 0x3ffff000, 0, false), true},
		{"CC global", 4096, ccGlobal(), true},
		{"CC domain", 4096, ccDomain(5), true},
		{"CC other domain", 4096, ccDomain(6), false},
		{"CC device", 4096, ccDevice(5, devA, 0), true},
		{"CC other device", 4096, ccDevice(5, devB, 0), false},
		{"CC device by function mask", 4096, ccDevice(5, devA|7, 3), true},
		{"CC device, mask too narrow", 4096, ccDevice(5, devA|4, 1), true},
		{"CC device, mask excludes", 4096, ccDevice(5, devA|2, 1), false},
		{"device-TLB", 4096, devTLB(devA, 0x4005000, false), false},
		{"IEC", 4096, descriptor{lo: 0x14}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, root, pgd := translationEnv(t, DefaultConfig(), 4)
			e.setContext(root, devB, ctxLo(e.page(), ttMultiLevel, false), ctxHi(2, 6))
			q := e.enableQI()
			iova := uint64(0x4005000)
			base := iova &^ (tc.pageSize - 1)
			e.mapPage(pgd, 4, base, 0x40000000, tc.pageSize, slR|slW)
			as := e.u.AddressSpace(devA)
			want := 0x40000000 + iova - base
			for i := 0; i < 2; i++ {
				if gpa, _, err := as.Translate(iova, 1, dma.Read); err != nil || gpa != want {
					t.Fatalf("Translate = %#x, %v; want %#x", gpa, err, want)
				}
			}
			e.mapPage(pgd, 4, base, 0x80000000, tc.pageSize, slR|slW)
			if gpa, _, _ := as.Translate(iova, 1, dma.Read); gpa != want {
				t.Fatalf("uninvalidated change seen at once (%#x): nothing was cached", gpa)
			}
			q.submit(tc.d)
			if tc.fresh {
				want = 0x80000000 + iova - base
			}
			if gpa, _, err := as.Translate(iova, 1, dma.Read); err != nil || gpa != want {
				t.Errorf("after %s: Translate = %#x, %v; want %#x", tc.name, gpa, err, want)
			}
		})
	}
}

// TestContextCacheUsed checks that a cached context entry is used until a
// context-cache invalidation covers it.
func TestContextCacheUsed(t *testing.T) {
	e, root, pgd := translationEnv(t, DefaultConfig(), 4)
	dev := sid(0, 3, 0)
	q := e.enableQI()
	e.mapPage(pgd, 4, 0x1000, 0x5000, 4096, slR)
	pgd2 := e.page()
	e.mapPage(pgd2, 4, 0x1000, 0x6000, 4096, slR)
	as := e.u.AddressSpace(dev)
	as.Translate(0x1000, 1, dma.Read)
	e.setContext(root, dev, ctxLo(pgd2, ttMultiLevel, false), ctxHi(2, 7))
	q.submit(iotlbGlobal()) // the IOTLB alone: the context cache still says domain 5
	if gpa, _, _ := as.Translate(0x1000, 1, dma.Read); gpa != 0x5000 {
		t.Errorf("Translate = %#x, want the cached context's 0x5000", gpa)
	}
	q.submit(ccDevice(5, dev, 0))
	if gpa, _, _ := as.Translate(0x1000, 1, dma.Read); gpa != 0x6000 {
		t.Errorf("after CC device: Translate = %#x, want 0x6000", gpa)
	}
}

// TestIOTLBEviction fills the IOTLB past its capacity and checks it stays
// bounded, keeps almost all of its entries (evictions are single entries,
// never a flush), and still translates correctly.
func TestIOTLBEviction(t *testing.T) {
	e, _, pgd := translationEnv(t, DefaultConfig(), 4)
	as := e.u.AddressSpace(sid(0, 3, 0))
	const pages = 2 * IOTLBEntries
	for i := uint64(0); i < pages; i += 512 {
		e.mapPage(pgd, 4, i<<12, 0, 4096, slR) // builds the L1 table
	}
	for i := uint64(0); i < pages; i++ {
		a := e.entryAddr(pgd, 4, i<<12, 1)
		e.store(a, (i+0x100)<<12|slR)
	}
	for round := 0; round < 2; round++ {
		for i := uint64(0); i < pages; i++ {
			gpa, _, err := as.Translate(i<<12, 1, dma.Read)
			if err != nil || gpa != (i+0x100)<<12 {
				t.Fatalf("page %d: %#x, %v", i, gpa, err)
			}
			if i%512 == 511 {
				if n := e.u.tlb.len(); n > IOTLBEntries {
					t.Fatalf("IOTLB holds %d entries, capacity %d", n, IOTLBEntries)
				}
			}
		}
		if n := e.u.tlb.len(); n < IOTLBEntries*9/10 {
			t.Errorf("round %d: IOTLB holds %d entries of %d: entries were flushed, not evicted", round, n, IOTLBEntries)
		}
	}
	before := e.u.tlb.len()
	e.enableQI().submit(iotlbPSI(5, uint64(pages-1)<<12, 0, false))
	if after := e.u.tlb.len(); after < before-1 {
		t.Errorf("PSI of one page removed %d entries", before-after)
	}
}

// TestFlushPagesMatchesScan checks the probing page-selective
// invalidation against a brute-force scan on random contents.
func TestFlushPagesMatchesScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for round := 0; round < 200; round++ {
		var a, b iotlb
		gen := new(atomic.Uint64)
		for i := 0; i < 300; i++ {
			level := 1 + rng.IntN(3)
			size := uint64(1) << slShift(level)
			iova := rng.Uint64N(1<<34) &^ (size - 1)
			did, sid := uint16(rng.IntN(3)), uint16(rng.IntN(2))
			mk := func() *tlbEntry {
				return &tlbEntry{iova: iova, mask: size - 1, did: did, sid: sid, level: uint8(level)}
			}
			a.insert(mk(), 0, gen)
			b.insert(mk(), 0, gen)
		}
		am := uint8(rng.IntN(19))
		size := uint64(1) << (12 + am)
		first := rng.Uint64N(1<<34) &^ (size - 1)
		last := first + size - 1
		a.flushPages(1, first, last)
		b.mu.Lock()
		b.removeIfLocked(func(p *tlbEntry) bool { return p.did == 1 && p.iova <= last && p.last() >= first })
		b.mu.Unlock()
		for s := range a.slot {
			for w := range a.slot[s] {
				pa, pb := a.slot[s][w].Load(), b.slot[s][w].Load()
				if (pa == nil) != (pb == nil) || pa != nil && (pa.iova != pb.iova || pa.did != pb.did || pa.level != pb.level) {
					t.Fatalf("round %d (AM %d at %#x): set %d way %d differs: %+v vs %+v", round, am, first, s, w, pa, pb)
				}
			}
		}
	}
}
