package virtioiommu

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/govmm/govmm/devices/virtio"
)

// FaultReason is the reason field of a fault record (virtio 1.3
// §5.13.6.9).
type FaultReason uint8

// Fault reasons, VIRTIO_IOMMU_FAULT_R_*.
const (
	FaultReasonUnknown FaultReason = 0 // an error no other reason describes
	FaultReasonDomain  FaultReason = 1 // the endpoint is not attached to a domain (and not in bypass mode)
	FaultReasonMapping FaultReason = 2 // the address is not mapped, or the mapping does not permit the access
)

// String returns "unknown", "domain" or "mapping" (Linux's wording), or
// "reason(N)".
func (r FaultReason) String() string {
	switch r {
	case FaultReasonUnknown:
		return "unknown"
	case FaultReasonDomain:
		return "domain"
	case FaultReasonMapping:
		return "mapping"
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Fault record flags, VIRTIO_IOMMU_FAULT_F_* (virtio 1.3 §5.13.6.9).
const (
	FaultFRead    uint32 = 1 << 0 // the faulting access was a read
	FaultFWrite   uint32 = 1 << 1 // the faulting access was a write
	FaultFAddress uint32 = 1 << 8 // Address is valid
)

// FaultRecordSize is the size of struct virtio_iommu_fault, one event on
// the event queue.
const FaultRecordSize = 24

// EventBacklog is the number of fault records the device holds while the
// driver has no event buffer available. Faults past it are dropped and
// counted in Stats.FaultsDropped (virtio 1.3 §5.13.6.9: the device may
// wait for a buffer or drop the event).
const EventBacklog = 256

// Fault is one translation fault as reported on the event queue, struct
// virtio_iommu_fault (virtio 1.3 §5.13.6.9): reason, flags (FaultF*),
// the endpoint that faulted and the faulting IOVA (valid with
// FaultFAddress, which the device always sets). The reserved fields are
// written as zero.
type Fault struct {
	Reason   FaultReason
	Flags    uint32
	Endpoint uint32
	Address  uint64
}

// String formats the fault as Linux logs it, e.g.
// "mapping fault from EP 24 at 0x1000 [W]".
func (f Fault) String() string {
	rw := ""
	if f.Flags&FaultFRead != 0 {
		rw += "R"
	}
	if f.Flags&FaultFWrite != 0 {
		rw += "W"
	}
	return fmt.Sprintf("%v fault from EP %d at %#x [%s]", f.Reason, f.Endpoint, f.Address, rw)
}

// encode writes the record into the FaultRecordSize bytes of b.
func (f Fault) encode(b *[FaultRecordSize]byte) {
	clear(b[:])
	le := binary.LittleEndian
	b[0] = byte(f.Reason)
	le.PutUint32(b[4:], f.Flags)
	le.PutUint32(b[8:], f.Endpoint)
	le.PutUint64(b[16:], f.Address)
}

// eventQueue is the device side of the event virtqueue (queue 1): a
// bounded FIFO of fault records waiting for buffers, filled by Translate
// on device goroutines and drained by the event queue's goroutine.
//
// Records are never split: each one goes whole into one buffer whose
// device-writable part has at least FaultRecordSize bytes, with used
// length FaultRecordSize. A smaller buffer is returned unwritten (used
// length 0) and the record waits for the next one. While the driver has
// not enabled the queue (before DRIVER_OK, after a reset) faults are
// dropped.
type eventQueue struct {
	mu      sync.Mutex
	q       *virtio.Queue // the active event queue, nil if none
	backlog [EventBacklog]Fault
	head, n int

	chain    virtio.Chain // used by the event queue's goroutine only
	reported atomic.Uint64
	dropped  atomic.Uint64
}

// post queues f and wakes the event queue. It never blocks on the driver.
func (e *eventQueue) post(f Fault) {
	e.mu.Lock()
	q := e.q
	if q == nil || e.n == len(e.backlog) {
		e.mu.Unlock()
		e.dropped.Add(1)
		return
	}
	e.backlog[(e.head+e.n)%len(e.backlog)] = f
	e.n++
	e.mu.Unlock()
	q.Wake()
}

// peek returns the oldest pending record.
func (e *eventQueue) peek() (Fault, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == 0 {
		return Fault{}, false
	}
	return e.backlog[e.head], true
}

// drop removes the oldest pending record (the one peek returned: only the
// event queue's goroutine removes records).
func (e *eventQueue) drop() {
	e.mu.Lock()
	e.head = (e.head + 1) % len(e.backlog)
	e.n--
	e.mu.Unlock()
}

// pending returns the number of records waiting for a buffer.
func (e *eventQueue) pending() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

// process moves pending records into the driver's buffers until either
// runs out. Its error is the queue's (a ring the driver broke).
func (e *eventQueue) process(q *virtio.Queue) error {
	var rec [FaultRecordSize]byte
	for {
		f, ok := e.peek()
		if !ok {
			return nil
		}
		ok, err := q.Pop(&e.chain)
		if err != nil || !ok {
			return err
		}
		if e.chain.WritableLen() < FaultRecordSize {
			if err := q.Push(e.chain.Head, 0); err != nil {
				return err
			}
			continue
		}
		f.encode(&rec)
		if err := e.chain.WriteAt(rec[:], 0); err != nil {
			// The buffer is not guest memory: the record is lost.
			e.drop()
			e.dropped.Add(1)
			if err := q.Push(e.chain.Head, 0); err != nil {
				return err
			}
			continue
		}
		e.drop()
		e.reported.Add(1)
		if err := q.Push(e.chain.Head, FaultRecordSize); err != nil {
			return err
		}
	}
}

// activate starts reporting into q (nil: the driver did not enable the
// event queue).
func (e *eventQueue) activate(q *virtio.Queue) {
	e.mu.Lock()
	e.q = q
	e.mu.Unlock()
}

// reset stops reporting and forgets the pending records. The event
// queue's goroutine has stopped.
func (e *eventQueue) reset() {
	e.mu.Lock()
	e.q = nil
	e.head, e.n = 0, 0
	e.mu.Unlock()
}
