package virtio

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/memory"
)

// MaxQueueSize is the largest split virtqueue (virtio 1.2 §2.7: Queue
// Size is a power of 2, at most 32768).
const MaxQueueSize = 32768

// Split virtqueue ring flags (virtio 1.2 §2.7.6, §2.7.8).
const (
	AvailFNoInterrupt uint16 = 1 // VIRTQ_AVAIL_F_NO_INTERRUPT: the driver wants no used-buffer notification
	UsedFNoNotify     uint16 = 1 // VIRTQ_USED_F_NO_NOTIFY: the device wants no available-buffer notification
)

// Ring sizes in bytes for a queue of n entries (virtio 1.2 §2.7, "Queue
// Size" table, including the event-index fields).
func descTableSize(n uint16) uint64 { return DescriptorSize * uint64(n) }
func availRingSize(n uint16) uint64 { return 6 + 2*uint64(n) }
func usedRingSize(n uint16) uint64  { return 6 + 8*uint64(n) }

// QueueConfig is what a driver programmed for one split virtqueue (the
// queue_* fields of the common configuration, virtio 1.2 §4.1.4.3) plus
// the device's means to reach guest memory and interrupt the driver.
type QueueConfig struct {
	Index int    // queue index (queue_select)
	Size  uint16 // queue_size: a power of 2, 1–32768
	// Desc, Driver and Device are the IOVAs of the descriptor table
	// (16-byte aligned), the available ring ("driver area", 2-byte
	// aligned) and the used ring ("device area", 4-byte aligned).
	Desc, Driver, Device uint64
	// Features is the negotiated feature set; FeatureEventIdx and
	// FeatureIndirectDesc change how the queue behaves.
	Features uint64
	// Memory is guest RAM; DMA translates every ring and buffer address
	// (dma.Identity when the device is not behind an IOMMU).
	Memory *memory.Memory
	DMA    dma.AddressSpace
	// Interrupt raises the queue's used-buffer notification (its MSI-X
	// vector); nil means the queue never interrupts.
	Interrupt func() error
}

// Queue is one split virtqueue as the device sees it (virtio 1.2 §2.7):
// it takes descriptor chains from the available ring (Pop), returns them
// on the used ring (Push) and notifies the driver when the driver asked
// for it (Interrupt), honouring VIRTIO_F_EVENT_IDX (§2.7.7, §2.7.10) and
// VIRTQ_AVAIL_F_NO_INTERRUPT.
//
// Every read and write of the rings and the descriptor tables goes
// through the queue's dma.AddressSpace at the time of the access; nothing
// is cached across calls except the device's own indices.
//
// A Queue is safe for concurrent use: Pop, Push and Interrupt serialise on
// the queue. Once the driver breaks a rule the queue fails for good: Pop
// and Push return the same error (also available from Err) until the
// device is reset.
type Queue struct {
	index              int
	size               uint16
	desc, avail, used  uint64
	eventIdx, indirect bool
	g                  guest
	irq                func() error
	wake               func() // set by the Transport: signal the queue's goroutine

	mu        sync.Mutex
	lastAvail uint16 // next available-ring entry to take
	usedIdx   uint16 // used->idx as last published
	signalled uint16 // used->idx at the last notification decision
	err       error
}

// NewQueue returns the device side of a split virtqueue. It fails if Size
// is not a power of 2 in [1, 32768], a ring address is not aligned as
// virtio 1.2 §2.7 requires (descriptor table 16, available ring 2, used
// ring 4 bytes) or a ring wraps past 2^64, or Memory or DMA is nil.
func NewQueue(c QueueConfig) (*Queue, error) {
	switch {
	case c.Memory == nil || c.DMA == nil:
		return nil, fmt.Errorf("virtio: queue %d needs guest memory and an address space", c.Index)
	case c.Size == 0 || c.Size&(c.Size-1) != 0:
		return nil, fmt.Errorf("virtio: queue %d: size %d is not a power of 2", c.Index, c.Size)
	case c.Desc%16 != 0 || c.Driver%2 != 0 || c.Device%4 != 0:
		return nil, fmt.Errorf("virtio: queue %d: misaligned rings: descriptors %#x (16), available %#x (2), used %#x (4)", c.Index, c.Desc, c.Driver, c.Device)
	}
	for _, r := range [...]struct {
		addr, size uint64
	}{{c.Desc, descTableSize(c.Size)}, {c.Driver, availRingSize(c.Size)}, {c.Device, usedRingSize(c.Size)}} {
		if r.addr+r.size-1 < r.addr {
			return nil, fmt.Errorf("virtio: queue %d: ring [%#x, +%#x) wraps", c.Index, r.addr, r.size)
		}
	}
	return &Queue{
		index: c.Index, size: c.Size,
		desc: c.Desc, avail: c.Driver, used: c.Device,
		eventIdx: c.Features&FeatureEventIdx != 0, indirect: c.Features&FeatureIndirectDesc != 0,
		g: guest{as: c.DMA, mem: c.Memory}, irq: c.Interrupt,
	}, nil
}

// Index returns the queue's index.
func (q *Queue) Index() int { return q.index }

// Size returns the queue size (entries).
func (q *Queue) Size() uint16 { return q.size }

// Wake asks the goroutine serving the queue to run Device.Process again,
// as a guest notification would. Devices whose buffers are completed by
// another event source (a tap device, console input, an IOMMU fault) call
// it from their own goroutines. It never blocks; wake-ups coalesce. On a
// queue made with NewQueue (no Transport) it does nothing.
func (q *Queue) Wake() {
	if q.wake != nil {
		q.wake()
	}
}

// Err returns the error that stopped the queue, or nil.
func (q *Queue) Err() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

// fail records err as the queue's permanent error and returns it.
func (q *Queue) fail(err error) error {
	if q.err == nil {
		q.err = err
	}
	return q.err
}

// Pop takes the next descriptor chain from the available ring into c and
// reports whether there was one. With VIRTIO_F_EVENT_IDX it publishes
// avail_event before reporting an empty ring and looks again, so that a
// buffer made available meanwhile is never missed (§2.7.10).
//
// It fails, and the queue stops, if the driver's idx moved more than the
// queue size past the device's, a ring cannot be read through the
// address space (the wrapped *dma.Fault or *memory.AccessError), or the
// chain is malformed (*ChainError). The device should then set
// DEVICE_NEEDS_RESET.
func (q *Queue) Pop(c *Chain) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return false, q.err
	}
	idx, err := q.availIdx()
	if err != nil {
		return false, q.fail(err)
	}
	if idx == q.lastAvail && q.eventIdx {
		ev := q.used + 4 + 8*uint64(q.size)
		if err := q.g.store16(ev, q.lastAvail); err != nil {
			return false, q.fail(fmt.Errorf("virtio: queue %d: writing avail_event at IOVA %#x: %w", q.index, ev, err))
		}
		fence()
		if idx, err = q.availIdx(); err != nil {
			return false, q.fail(err)
		}
	}
	if idx == q.lastAvail {
		return false, nil
	}
	if n := idx - q.lastAvail; n > q.size {
		return false, q.fail(fmt.Errorf("virtio: queue %d: available idx %d is %d entries past the device's %d, more than the queue size %d", q.index, idx, n, q.lastAvail, q.size))
	}
	slot := q.avail + 4 + 2*uint64(q.lastAvail%q.size)
	head, err := q.g.load16(slot)
	if err != nil {
		return false, q.fail(fmt.Errorf("virtio: queue %d: reading available ring entry at IOVA %#x: %w", q.index, slot, err))
	}
	q.lastAvail++
	if err := walkChain(c, q.g, q.index, q.desc, q.size, head, q.indirect); err != nil {
		return false, q.fail(err)
	}
	return true, nil
}

func (q *Queue) availIdx() (uint16, error) {
	idx, err := q.g.loadIdx(q.avail + 2)
	if err != nil {
		return 0, fmt.Errorf("virtio: queue %d: reading available idx at IOVA %#x: %w", q.index, q.avail+2, err)
	}
	return idx, nil
}

// Push returns the chain with the given head to the driver on the used
// ring, with written the number of bytes the device wrote into its
// writable buffers (virtio 1.2 §2.7.8, §2.7.14), and publishes the new
// used idx. It does not notify the driver: call Interrupt after a batch.
// It fails, and the queue stops, if the used ring cannot be written.
func (q *Queue) Push(head uint16, written uint32) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	var e [8]byte
	binary.LittleEndian.PutUint32(e[:], uint32(head))
	binary.LittleEndian.PutUint32(e[4:], written)
	slot := q.used + 4 + 8*uint64(q.usedIdx%q.size)
	if err := q.g.write(e[:], slot); err != nil {
		return q.fail(fmt.Errorf("virtio: queue %d: writing used ring entry at IOVA %#x: %w", q.index, slot, err))
	}
	q.usedIdx++
	// flags (always 0: the device never asks to be spared notifications
	// other than through avail_event) and idx in one ordered store.
	if err := q.g.storeWord(q.used, uint32(q.usedIdx)<<16); err != nil {
		return q.fail(fmt.Errorf("virtio: queue %d: writing used idx at IOVA %#x: %w", q.index, q.used+2, err))
	}
	return nil
}

// Interrupt sends the queue's used-buffer notification if buffers were
// used since the last one and the driver wants it: with
// VIRTIO_F_EVENT_IDX when used idx has passed used_event (vring_need_event,
// §2.7.10), otherwise unless the driver set VIRTQ_AVAIL_F_NO_INTERRUPT
// (§2.7.7). It returns the error of reading the available ring (the queue
// stops) or of the interrupt itself.
func (q *Queue) Interrupt() error {
	q.mu.Lock()
	need, err := q.needInterrupt()
	q.mu.Unlock()
	if err != nil || !need || q.irq == nil {
		return err
	}
	return q.irq()
}

// needInterrupt decides whether to notify; q.mu held.
func (q *Queue) needInterrupt() (bool, error) {
	if q.err != nil {
		return false, q.err
	}
	if q.signalled == q.usedIdx {
		return false, nil // nothing used since the last decision
	}
	old := q.signalled
	q.signalled = q.usedIdx
	if q.eventIdx {
		fence()
		at := q.avail + 4 + 2*uint64(q.size)
		ue, err := q.g.load16(at)
		if err != nil {
			return false, q.fail(fmt.Errorf("virtio: queue %d: reading used_event at IOVA %#x: %w", q.index, at, err))
		}
		return NeedEvent(ue, q.usedIdx, old), nil
	}
	flags, err := q.g.load16(q.avail)
	if err != nil {
		return false, q.fail(fmt.Errorf("virtio: queue %d: reading available flags at IOVA %#x: %w", q.index, q.avail, err))
	}
	return flags&AvailFNoInterrupt == 0, nil
}

// NeedEvent is vring_need_event (virtio 1.2 §2.7.10): whether moving an
// index from old to new passes event, i.e. whether the other side asked to
// be notified at event. All arithmetic is modulo 2^16.
func NeedEvent(event, new, old uint16) bool { return new-event-1 < new-old }
