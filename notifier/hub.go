package notifier

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Hub fans the events of one device address space out to the consumers
// registered on it. There is one Hub per requester (VT-d source ID,
// virtio-iommu endpoint); the address space that owns it supplies the SID and
// the Replayer.
//
// The zero value is a usable hub with SID 0 and nothing to replay. A Hub must
// not be copied after first use.
//
// All methods are safe for concurrent use; see the package documentation for
// the locking contract with the owner's lock and with Notifiers.
type Hub struct {
	sid    uint32
	replay Replayer

	kinds atomic.Uint32 // Kind: union of regs[*].kinds, readable without mu

	mu   sync.Mutex
	regs []registration // in increasing handle order
	last Handle         // the last handle given out
}

// registration is one Register call.
type registration struct {
	id          Handle
	n           Notifier
	kinds       Kind
	first, last uint64 // inclusive IOVA range
}

// NewHub returns a hub for the requester sid (VT-d source ID bus<<8|devfn,
// or virtio-iommu endpoint ID), which it writes into every delivered
// Event.SID. replay enumerates the owner's current mappings when a Map
// registration is added; nil means there is never anything to replay.
func NewHub(sid uint32, replay Replayer) *Hub {
	return &Hub{sid: sid, replay: replay}
}

// SID returns the requester ID the hub writes into every event.
func (h *Hub) SID() uint32 { return h.sid }

// Kinds returns the union of the kind masks of all current registrations,
// 0 when there are none. It does not take the hub's lock (a single atomic
// load), so a hot path can ask "does anyone want Map events?" before doing
// the work of producing them. The answer can be stale by the time it is
// used unless the caller holds the owner's lock that also guards Register
// and Unregister (the locking contract in the package documentation).
func (h *Hub) Kinds() Kind { return Kind(h.kinds.Load()) }

// Len returns the number of current registrations.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.regs)
}

// Register adds n as a consumer of the events whose kind is in kinds,
// cropped to the inclusive IOVA range [first, last] ([0, 2^64-1] for the
// whole space), and returns the handle that Unregister takes.
//
// If kinds includes Map and the hub has a Replayer, the current mappings are
// replayed to n (and to no other registration) before Register returns:
// each cropped to [first, last] and split as Notify splits, with Kind Map and
// the hub's SID. Nothing is unmapped first, so a consumer that is already
// mapped sees no window without translations. If the replay fails (n
// returned an error, the Replayer returned one, or the Replayer yielded an
// invalid mapping), every block already replayed to n is unmapped again
// (delivered to n as Unmap), the registration is not added, and the error
// is returned, wrapping the *DeliveryError when n failed. The rollback
// unmaps the replayed ranges, adjacent ones merged, block by block as Split
// cuts them; when more than 1024 separate ranges were replayed, the ranges
// past the 1024th are unmapped as the one range that covers them all,
// holes included (an unmap of a hole is harmless for VFIO type1 and vhost;
// iommufd reports ENOENT for a block with nothing mapped in it).
// Either way no unmap bisects a replayed block.
//
// Errors before anything is delivered: ErrNilNotifier; ErrKind when kinds is
// 0 or has bits outside AllKinds; ErrRange when first > last.
func (h *Hub) Register(n Notifier, kinds Kind, first, last uint64) (Handle, error) {
	if n == nil {
		return 0, fmt.Errorf("notifier: register [%#x, %#x] for SID %#x: %w", first, last, h.sid, ErrNilNotifier)
	}
	if kinds == 0 || kinds&^AllKinds != 0 {
		return 0, fmt.Errorf("notifier: register [%#x, %#x] for SID %#x with kinds %v: %w", first, last, h.sid, kinds, ErrKind)
	}
	if first > last {
		return 0, fmt.Errorf("notifier: register [%#x, %#x] for SID %#x: %w", first, last, h.sid, ErrRange)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	h.last++
	reg := registration{id: h.last, n: n, kinds: kinds, first: first, last: last}
	if kinds&Map != 0 && h.replay != nil {
		if err := h.replayTo(&reg); err != nil {
			return 0, err
		}
	}
	h.regs = append(h.regs, reg)
	h.publishKinds()
	return reg.id, nil
}

// Unregister removes the registration id. It reports whether id was
// registered; false for 0, for an unknown handle and for a second
// Unregister. Once Unregister returns, the Notifier of that registration
// receives no more events from this hub. Nothing is unmapped: a consumer
// that holds mappings tears them down itself.
func (h *Hub) Unregister(id Handle) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.regs {
		if h.regs[i].id == id {
			copy(h.regs[i:], h.regs[i+1:])
			h.regs[len(h.regs)-1] = registration{} // drop the Notifier reference
			h.regs = h.regs[:len(h.regs)-1]
			h.publishKinds()
			return true
		}
	}
	return false
}

// publishKinds recomputes the kind union. Called with mu held.
func (h *Hub) publishKinds() {
	var k Kind
	for i := range h.regs {
		k |= h.regs[i].kinds
	}
	h.kinds.Store(uint32(k))
}

// Notify delivers ev to every registration whose kind mask includes
// ev.Kind and whose range overlaps [ev.IOVA, ev.IOVA+ev.Size-1]: the range is
// cropped to the registration's range and split into aligned power-of-two
// blocks (see Split), each delivered as its own Event with the hub's SID, the
// same Kind and Perm, and Addr advanced by the block's offset from ev.IOVA.
// For Unmap and DevIOTLBUnmap, Addr and Perm are delivered as 0. Delivery
// goes registration by registration in Register order, blocks in ascending
// IOVA order.
//
// ev must have Kind exactly one of Map, Unmap, DevIOTLBUnmap (else ErrKind),
// Size >= 1 (else ErrZeroSize) and a range that does not pass 2^64-1 (else
// ErrWrap); a Map must also have Perm non-zero within PermRW (else ErrPerm)
// and an Addr range that does not wrap (else ErrWrap). These errors are
// returned, wrapped with the event, before anything is delivered.
//
// A Map stops at the first Notifier error and is rolled back: every block
// already delivered, to the failing registration and to the ones before it,
// is delivered again to the same registration as an Unmap of the same block
// (regardless of whether that registration asked for Unmap events), failing
// registration first, then the earlier ones latest first. Notify then
// returns a *DeliveryError naming the range and the failed block, whose
// Rollback field carries any errors of the compensating unmaps.
//
// An unmap kind is delivered in full even when Notifiers fail; the result is
// one *DeliveryError per failing registration (its first failed block),
// joined with errors.Join when there are several.
//
// Notify does not allocate unless it returns an error.
func (h *Hub) Notify(ev Event) error {
	if err := checkEvent(ev); err != nil {
		return err
	}
	if h.Kinds()&ev.Kind == 0 {
		return nil // no registration wants this kind
	}
	last := ev.Last()
	h.mu.Lock()
	defer h.mu.Unlock()
	if ev.Kind == Map {
		return h.deliverMap(ev, last)
	}
	return h.deliverUnmap(ev.Kind, ev.IOVA, last)
}

// NotifyRange delivers an unmap-kind event (Unmap or DevIOTLBUnmap, else
// ErrKind) over the inclusive range [first, last] (first <= last, else
// ErrRange), which may be the whole space [0, 2^64-1] that Event.Size
// cannot express; the whole space reaches a full-range registration as two
// blocks of 2^63 bytes. Cropping, splitting, ordering and error reporting
// are those of Notify for an unmap kind.
func (h *Hub) NotifyRange(kind Kind, first, last uint64) error {
	if kind != Unmap && kind != DevIOTLBUnmap {
		return fmt.Errorf("notifier: range notification of [%#x, %#x] for SID %#x with kind %v: %w", first, last, h.sid, kind, ErrKind)
	}
	if first > last {
		return fmt.Errorf("notifier: range notification of [%#x, %#x] for SID %#x: %w", first, last, h.sid, ErrRange)
	}
	if h.Kinds()&kind == 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.deliverUnmap(kind, first, last)
}

// checkEvent validates an event given to Notify.
func checkEvent(ev Event) error {
	switch {
	case !ev.Kind.single():
		return fmt.Errorf("notifier: %v: %w", ev, ErrKind)
	case ev.Size == 0:
		return fmt.Errorf("notifier: %v: %w", ev, ErrZeroSize)
	case ev.IOVA+(ev.Size-1) < ev.IOVA:
		return fmt.Errorf("notifier: IOVA %#x size %#x: %w", ev.IOVA, ev.Size, ErrWrap)
	}
	if ev.Kind == Map {
		return checkMap(ev)
	}
	return nil
}

// checkMap validates the translation part of a Map event with a valid range.
func checkMap(ev Event) error {
	if ev.Perm == 0 || ev.Perm&^PermRW != 0 {
		return fmt.Errorf("notifier: %v: %w", ev, ErrPerm)
	}
	if ev.Addr+(ev.Size-1) < ev.Addr {
		return fmt.Errorf("notifier: %v: address %#x size %#x: %w", ev, ev.Addr, ev.Size, ErrWrap)
	}
	return nil
}

// crop intersects [first, last] with [lo, hi].
func crop(first, last, lo, hi uint64) (uint64, uint64, bool) {
	first = max(first, lo)
	last = min(last, hi)
	return first, last, first <= last
}

// deliverMap fans a valid Map out, rolling back on failure. Called with mu
// held.
func (h *Hub) deliverMap(ev Event, last uint64) error {
	for i := range h.regs {
		r := &h.regs[i]
		if r.kinds&Map == 0 {
			continue
		}
		lo, hi, ok := crop(ev.IOVA, last, r.first, r.last)
		if !ok {
			continue
		}
		c := splitter{next: lo, last: hi}
		for {
			iova, size, ok := c.step()
			if !ok {
				break
			}
			blk := Event{Kind: Map, SID: h.sid, IOVA: iova, Size: size, Addr: ev.Addr + (iova - ev.IOVA), Perm: ev.Perm}
			if err := r.n.Notify(blk); err != nil {
				return &DeliveryError{
					Handle: r.id, Kind: Map, SID: h.sid, First: ev.IOVA, Last: last,
					Block: blk, Err: err, Rollback: h.rollbackMap(ev.IOVA, last, i, iova),
				}
			}
		}
	}
	return nil
}

// rollbackMap unmaps what deliverMap delivered of [first, last] before
// registration index failed at block failedIOVA. Called with mu held.
func (h *Hub) rollbackMap(first, last uint64, failed int, failedIOVA uint64) error {
	var errs errCollector
	for i := failed; i >= 0; i-- {
		r := &h.regs[i]
		if r.kinds&Map == 0 {
			continue
		}
		lo, hi, ok := crop(first, last, r.first, r.last)
		if !ok {
			continue
		}
		if i == failed {
			if failedIOVA == lo {
				continue // the very first block failed: nothing was mapped
			}
			hi = failedIOVA - 1
		}
		h.unmapBlocks(r.n, Unmap, lo, hi, func(ev Event, err error) { errs.add(ev, err) })
	}
	return errs.err()
}

// deliverUnmap delivers an unmap kind over [first, last] to every matching
// registration, collecting the first error of each. Called with mu held.
func (h *Hub) deliverUnmap(kind Kind, first, last uint64) error {
	var errs []error
	for i := range h.regs {
		r := &h.regs[i]
		if r.kinds&kind == 0 {
			continue
		}
		lo, hi, ok := crop(first, last, r.first, r.last)
		if !ok {
			continue
		}
		var de *DeliveryError
		h.unmapBlocks(r.n, kind, lo, hi, func(ev Event, err error) {
			if de == nil {
				de = &DeliveryError{Handle: r.id, Kind: kind, SID: h.sid, First: first, Last: last, Block: ev, Err: err}
			}
		})
		if de != nil {
			errs = append(errs, de)
		}
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}

// unmapBlocks delivers kind over every block of [lo, hi] to n, reporting
// each failure to fail and carrying on.
func (h *Hub) unmapBlocks(n Notifier, kind Kind, lo, hi uint64, fail func(Event, error)) {
	c := splitter{next: lo, last: hi}
	for {
		iova, size, ok := c.step()
		if !ok {
			return
		}
		ev := Event{Kind: kind, SID: h.sid, IOVA: iova, Size: size}
		if err := n.Notify(ev); err != nil {
			fail(ev, err)
		}
	}
}

// errCollector keeps the first of a series of errors and counts them all,
// so a rollback that fails for every block of a large range still returns
// a short error.
type errCollector struct {
	first error
	n     int
}

func (c *errCollector) add(ev Event, err error) {
	if c.first == nil {
		c.first = fmt.Errorf("%v: %w", ev, err)
	}
	c.n++
}

func (c *errCollector) err() error {
	switch c.n {
	case 0:
		return nil
	case 1:
		return c.first
	}
	return fmt.Errorf("%d unmaps failed, the first: %w", c.n, c.first)
}
