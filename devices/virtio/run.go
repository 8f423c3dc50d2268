package virtio

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/govmm/govmm/dma"
)

// run is one activation's set of queue goroutines.
type run struct {
	stop   atomic.Bool
	wg     sync.WaitGroup
	failed []bool // per inline queue (see NotifyServer); t.mu held
}

// activate builds the enabled queues, activates the device and starts
// one goroutine per queue that is not served inline; t.mu held.
func (t *Transport) activate() error {
	f := t.common.driverFeatures
	as := dma.AddressSpace(dma.Identity{})
	if f&FeatureAccessPlatform != 0 {
		as = t.dma
	}
	qs := make([]*Queue, len(t.common.queues))
	for i, r := range t.common.queues {
		if !r.enable {
			continue
		}
		if r.size > r.maxSize {
			return fmt.Errorf("virtio: queue %d: size %d is larger than the maximum %d", i, r.size, r.maxSize)
		}
		q, err := NewQueue(QueueConfig{
			Index: i, Size: r.size, Desc: r.desc, Driver: r.driver, Device: r.device,
			Features: f, Memory: t.mem, DMA: as, Interrupt: func() error { return t.queueInterrupt(i) },
		})
		if err != nil {
			return err
		}
		if !t.isInline(i) {
			q.wake = func() { t.kick(i) }
		}
		qs[i] = q
	}
	if err := t.dev.Activate(&Activation{Features: f, Queues: qs, Memory: t.mem, DMA: as, Transport: t}); err != nil {
		return fmt.Errorf("virtio: activating the %v device: %w", t.dev.Type(), err)
	}
	t.negotiated, t.activeQs = f, qs
	r := &run{failed: make([]bool, len(qs))}
	t.run = r
	for i, q := range qs {
		if q != nil && !t.isInline(i) {
			r.wg.Add(1)
			go t.serve(r, q)
		}
	}
	return nil
}

// serve is queue q's goroutine: it processes the queue, raises the
// interrupt, and waits for the next notification, until the run stops or
// the queue fails.
func (t *Transport) serve(r *run, q *Queue) {
	defer r.wg.Done()
	bell := t.bells[q.Index()]
	for !r.stop.Load() {
		if err := t.dev.Process(q); err != nil {
			t.Fail(err)
			return
		}
		if err := q.Interrupt(); err != nil && q.Err() != nil {
			t.Fail(err)
			return
		}
		if !bell.wait() {
			return
		}
	}
}

// stop ends the current run and waits for its goroutines; t.mu held.
func (t *Transport) stop() {
	r := t.run
	if r == nil {
		return
	}
	r.stop.Store(true)
	for i, q := range t.activeQs {
		if q != nil {
			t.kick(i)
		}
	}
	r.wg.Wait()
	t.run, t.activeQs = nil, nil
}

// reset is a device reset (virtio 1.2 §2.4, §4.1.4.3.1); t.mu held.
func (t *Transport) reset() {
	t.stop()
	t.dev.Reset()
	t.common.reset()
	t.resetVectors()
	t.negotiated = 0
	t.isr.reset()
	t.status.Store(0)
}

func (t *Transport) resetVectors() {
	t.configVector.Store(NoVector)
	for i := range t.queueVector {
		t.queueVector[i].Store(NoVector)
	}
}
