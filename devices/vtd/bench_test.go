package vtd

import (
	"fmt"
	"testing"

	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/notifier"
)

// benchEnv maps n 4 KiB pages at IOVA [0, n*4 KiB) to GPAs from 4 GiB in
// the 4-level tables of device 00:03.0 (domain 5), writing the level-1
// tables directly.
func benchEnv(b *testing.B, n int) (*shadowEnv, *AddressSpace) {
	b.Helper()
	tables := n/512 + 64
	e, root, pgd := translationEnv2(b, DefaultConfig(), (tables+2)*4096+(2<<20))
	for i := 0; i < n; i += 512 {
		e.mapPage(pgd, 4, uint64(i)<<12, 1<<32, 4096, slR|slW) // creates the L1 table
		l1 := e.entryAddr(pgd, 4, uint64(i)<<12, 1)
		for j := 0; j < 512 && i+j < n; j++ {
			e.store(l1+uint64(j)*8, (1<<32+uint64(i+j)<<12)|slR|slW)
		}
	}
	s := &shadowEnv{testEnv: e, root: root, pgd: pgd, q: e.enableQI(), as: e.u.AddressSpace(testDev)}
	return s, s.as
}

// translationEnv2 is translationEnv for benchmarks, with a RAM size.
func translationEnv2(b *testing.B, cfg Config, ram int) (*testEnv, uint64, uint64) {
	e := newEnv(b, cfg, ram)
	root := e.setRoot()
	pgd := e.page()
	e.setContext(root, testDev, ctxLo(pgd, ttMultiLevel, false), ctxHi(2, 5))
	e.gcmd(gcmdTE, true)
	return e, root, pgd
}

// BenchmarkTranslate measures Translate on its paths: the address space's
// first-level cache (the same page again; 32 pages in turn), the unit's
// IOTLB (64 pages whose first-level slots collide, so every call goes to
// the IOTLB), an IOTLB miss (a page walk on every call: more pages than
// the IOTLB holds, in turn), and the IOTLB from parallel device goroutines.
func BenchmarkTranslate(b *testing.B) {
	s, as := benchEnv(b, 4*IOTLBEntries)
	b.Run("l1-hit-same-page", func(b *testing.B) {
		as.Translate(0x5000, 64, dma.Read)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, _, err := as.Translate(0x5000+uint64(i&63), 64, dma.Read); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("l1-hit-32-pages", func(b *testing.B) {
		for p := uint64(0); p < l1Slots; p++ {
			as.Translate(p<<12, 64, dma.Write)
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, _, err := as.Translate(uint64(i&(l1Slots-1))<<12, 64, dma.Write); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("iotlb-hit", func(b *testing.B) {
		page := func(i int) uint64 { return uint64(i&63) * l1Slots << 12 } // all in L1 slot 0
		for i := 0; i < 64; i++ {
			as.Translate(page(i), 64, dma.Write)
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, _, err := as.Translate(page(i), 64, dma.Write); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("iotlb-miss-walk", func(b *testing.B) {
		b.ReportAllocs()
		pages := uint64(4 * IOTLBEntries)
		for i := 0; i < b.N; i++ {
			// A stride that visits every page before returning to one.
			p := uint64(i) * 2053 % pages
			if _, _, err := as.Translate(p<<12, 64, dma.Read); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("iotlb-hit-parallel", func(b *testing.B) {
		page := func(i uint64) uint64 { return (i & 63) * l1Slots << 12 }
		for p := uint64(0); p < 64; p++ {
			as.Translate(page(p), 64, dma.Read)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := uint64(0)
			for pb.Next() {
				if _, _, err := as.Translate(page(i), 64, dma.Read); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
	_ = s
}

// BenchmarkPSI measures one page-selective invalidation of a 4 KiB page in
// an address space with n live shadowed mappings and a MAP notifier: the
// guest changes the page (UNMAP and MAP are notified) or leaves it (no
// event). One op is an IQT write carrying the PSI and a wait descriptor.
// The cost must not grow with n.
func BenchmarkPSI(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 20} {
		s, as := benchEnv(b, n)
		events := 0
		if _, err := as.Register(notifier.Func(func(notifier.Event) error { events++; return nil }), notifier.Map|notifier.Unmap, 0, ^uint64(0)); err != nil {
			b.Fatal(err)
		}
		if as.Mappings() != n {
			b.Fatalf("shadow holds %d mappings, want %d", as.Mappings(), n)
		}
		page := uint64(n/2) << 12
		pte := s.entryAddr(s.pgd, 4, page, 1)
		flip := uint64(0)
		for _, changed := range []bool{false, true} {
			b.Run(fmt.Sprintf("mappings=%d/changed=%v", n, changed), func(b *testing.B) {
				events = 0
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if changed {
						flip++
						s.store(pte, (2<<32+flip&1<<12)|slR|slW)
					}
					s.q.submit(iotlbPSI(5, page, 0, false))
				}
				if changed && events != 2*b.N {
					b.Fatalf("%d events for %d changes", events, b.N)
				}
			})
		}
	}
}

// BenchmarkDSIResync measures a domain-selective invalidation that
// resynchronises an address space of 2^20 unchanged 4 KiB mappings (a
// full walk of its tables against the shadow; no events).
func BenchmarkDSIResync(b *testing.B) {
	s, as := benchEnv(b, 1<<20)
	events := 0
	if _, err := as.Register(notifier.Func(func(notifier.Event) error { events++; return nil }), notifier.Map|notifier.Unmap, 0, ^uint64(0)); err != nil {
		b.Fatal(err)
	}
	events = 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.q.submit(iotlbDSI(5))
	}
	if events != 0 {
		b.Fatalf("%d events for an unchanged address space", events)
	}
}
