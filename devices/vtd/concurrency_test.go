package vtd

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/notifier"
)

// TestConcurrentTranslateInvalidate has device goroutines translate while
// the vCPU goroutine remaps pages and invalidates them with PSI, DSI,
// global and context invalidations. Version k of a page maps it to a GPA
// that encodes k; once the invalidation for version k has completed, no
// translation that starts afterwards may return an older version.
func TestConcurrentTranslateInvalidate(t *testing.T) {
	e, _, pgd := translationEnv(t, DefaultConfig(), 4)
	q := e.enableQI()
	dev := sid(0, 3, 0)
	as := e.u.AddressSpace(dev)
	// A MAP notifier makes every invalidation walk too.
	if _, err := as.Register(&recorder{}, notifier.Map|notifier.Unmap, 0, ^uint64(0)); err != nil {
		t.Fatal(err)
	}
	pages := []struct {
		iova, size uint64
	}{{0x1000, 4096}, {0x200000, 2 << 20}, {0x40000000, 1 << 30}}
	gpaOf := func(p, k uint64) uint64 { return (k*3 + p + 8) << 30 }
	versionOf := func(p, gpa uint64) uint64 { return (gpa>>30 - p - 8) / 3 }
	for p, pg := range pages {
		e.mapPage(pgd, 4, pg.iova, gpaOf(uint64(p), 0), pg.size, slR|slW)
	}
	var published [3]atomic.Uint64
	var stop atomic.Bool
	var translations atomic.Uint64
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	report := func(s string) {
		select {
		case errs <- s:
		default:
		}
	}
	workers := 3
	if runtime.NumCPU() < 2 {
		workers = 2
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				p := uint64((i/16 + w) % len(pages)) // dwell on a page: the first-level cache
				k0 := published[p].Load()
				off := uint64(i*4096) % pages[p].size
				gpa, _, err := as.Translate(pages[p].iova+off, 8, dma.Read)
				translations.Add(1)
				if err != nil {
					report(err.Error())
					continue
				}
				if k := versionOf(p, gpa-off); k < k0 {
					report(fmt.Sprintf("page %d: version %d after version %d was invalidated", p, k, k0))
				}
				if i%64 == 0 {
					runtime.Gosched() // leave the vCPU goroutine room on small machines
				}
			}
		}(w)
	}
	invs := func(k uint64, p int) []descriptor {
		switch k % 5 {
		case 0:
			return []descriptor{iotlbDSI(5)}
		case 1:
			return []descriptor{iotlbGlobal()}
		case 2:
			return []descriptor{ccDevice(5, dev, 0), iotlbDSI(5)}
		}
		return []descriptor{iotlbPSI(5, pages[p].iova, uint8(pages[p].size>>13), false)}
	}
	for k := uint64(1); k <= 200; k++ {
		p := int(k % 3)
		e.mapPage(pgd, 4, pages[p].iova, gpaOf(uint64(p), k), pages[p].size, slR|slW)
		q.submit(invs(k, p)...)
		published[p].Store(k)
		// Let the devices translate a few times before the next change.
		for c := translations.Load(); translations.Load() < c+uint64(2*workers); {
			runtime.Gosched()
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestConcurrentAddressSpaces creates address spaces and registers
// notifiers from several goroutines while the guest invalidates.
func TestConcurrentAddressSpaces(t *testing.T) {
	e, _, pgd := translationEnv(t, DefaultConfig(), 4)
	q := e.enableQI()
	e.mapPage(pgd, 4, 0x1000, 0x100000, 4096, slR|slW)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				as := e.u.AddressSpace(uint16(g*64 + i%8))
				h, err := as.Register(&recorder{}, notifier.Map|notifier.Unmap, 0, ^uint64(0))
				if err != nil {
					t.Error(err)
					return
				}
				as.Translate(0x1000, 4, dma.Read)
				as.Unregister(h)
			}
		}(g)
	}
	for i := 0; i < 50; i++ {
		q.submit(iotlbPSI(5, 0x1000, 0, false), ccGlobal())
	}
	wg.Wait()
}
