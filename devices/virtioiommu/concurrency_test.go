package virtioiommu

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/notifier"
	"github.com/govmm/govmm/notifier/checker"
)

// TestConcurrentTranslate runs translations of two endpoints on several
// goroutines while the request queue attaches, maps, unmaps, detaches and
// resets, and the event queue drains faults. Every mapping sends IOVA x to
// x+delta, so a translation that succeeds must say exactly that; one
// that fails must be a *dma.Fault. eps0 stays attached to domain 1, whose
// pages 64-127 stay mapped (re-made after each reset), while pages 0-63
// and eps1 churn. Its purpose is the race detector: run with -race.
func TestConcurrentTranslate(t *testing.T) {
	const delta = 0x100000
	cfg := testConfig()
	cfg.BypassDefault = false
	h := newHarness(t, cfg, 0)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var hits, faults atomic.Int64
	errc := make(chan error, 8)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			as := []*AddressSpace{h.as(eps0), h.as(eps1)}[g%2]
			for !stop.Load() {
				iova := r.Uint64N(128) << 12
				acc := dma.Access(1 + r.IntN(3))
				gpa, n, err := as.Translate(iova+r.Uint64N(0x1000), 0x2000, acc)
				switch {
				case err == nil:
					if gpa-iova-delta >= 0x1000 || n == 0 || n > 0x2000 {
						errc <- errors.New("translation outside every mapping")
						return
					}
					hits.Add(1)
				default:
					var f *dma.Fault
					if !errors.As(err, &f) {
						errc <- err
						return
					}
					faults.Add(1)
				}
			}
		}()
	}
	stable := func() {
		h.must(StatusOK, attachReq(1, eps0, 0))
		h.must(StatusOK, mapReq(1, 64<<12, 128<<12-1, 64<<12+delta, rw))
	}
	stable()
	// A consumer on eps0, for the notifier paths.
	register(t, h, eps0, &checker.Type1{}, notifier.Map|notifier.Unmap)
	// The event queue, served on its own goroutine as the transport does.
	var evMu sync.Mutex // the harness's ring is not safe for concurrent use
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			evMu.Lock()
			if h.evPosted-h.evUsed < 8 {
				h.postEvents(1, FaultRecordSize)
			}
			h.takeEvents()
			evMu.Unlock()
		}
	}()
	r := rand.New(rand.NewPCG(42, 42))
	for i := range 3000 {
		if i%500 == 499 {
			// The transport resets with the queue goroutines stopped.
			evMu.Lock()
			h.d.Reset()
			h.activate()
			evMu.Unlock()
			stable()
			continue
		}
		dom := uint32(1 + r.IntN(2))
		page := r.Uint64N(64) << 12
		switch r.IntN(7) {
		case 0:
			h.do(attachReq(dom, eps1, 0))
		case 1:
			h.do(detachReq(dom, eps1))
		case 2, 3, 4:
			n := 1 + r.Uint64N(4)
			h.do(mapReq(dom, page, page+n<<12-1, page+delta, uint32(1+r.IntN(3))))
		case 5, 6:
			h.do(unmapReq(dom, page, page+r.Uint64N(8)<<12+0xfff))
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	checkInvariants(t, h.d)
	t.Logf("%d translations hit, %d faulted", hits.Load(), faults.Load())
}
