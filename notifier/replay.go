package notifier

import (
	"errors"
	"fmt"
)

// replayTo replays the owner's mappings to the registration being added,
// undoing the replayed blocks if anything fails. Called with mu held.
func (h *Hub) replayTo(reg *registration) error {
	var (
		done   spans // what reg.n has been mapped, coalesced
		failed error // the first failure seen inside yield
	)
	err := h.replay(func(ev Event) error {
		if failed != nil {
			return failed // the Replayer kept going after an error
		}
		if err := checkReplayed(ev); err != nil {
			failed = fmt.Errorf("notifier: replay yielded an invalid mapping: %w", err)
			return failed
		}
		lo, hi, ok := crop(ev.IOVA, ev.Last(), reg.first, reg.last)
		if !ok {
			return nil
		}
		c := splitter{next: lo, last: hi}
		for {
			iova, size, ok := c.step()
			if !ok {
				break
			}
			blk := Event{Kind: Map, SID: h.sid, IOVA: iova, Size: size, Addr: ev.Addr + (iova - ev.IOVA), Perm: ev.Perm}
			if err := reg.n.Notify(blk); err != nil {
				if iova > lo {
					done.add(lo, iova-1)
				}
				failed = &DeliveryError{Handle: reg.id, Kind: Map, SID: h.sid, First: ev.IOVA, Last: ev.Last(), Block: blk, Err: err}
				return failed
			}
		}
		done.add(lo, hi)
		return nil
	})
	if err == nil {
		err = failed // a Replayer that dropped the error still aborts
	}
	if err == nil {
		return nil
	}

	var rb errCollector
	for _, s := range done {
		h.unmapBlocks(reg.n, Unmap, s.first, s.last, func(ev Event, err error) { rb.add(ev, err) })
	}
	rbErr := rb.err()
	var de *DeliveryError
	if rbErr != nil && errors.As(err, &de) && de.Handle == reg.id {
		de.Rollback, rbErr = rbErr, nil
	}
	err = fmt.Errorf("notifier: replay to registration %d (IOVA [%#x, %#x], SID %#x): %w", reg.id, reg.first, reg.last, h.sid, err)
	if rbErr != nil {
		err = fmt.Errorf("%w; rollback: %w", err, rbErr)
	}
	return err
}

// checkReplayed validates one mapping yielded by a Replayer. Kind 0 is
// taken as Map.
func checkReplayed(ev Event) error {
	switch {
	case ev.Kind != Map && ev.Kind != 0:
		return fmt.Errorf("%v: %w", ev, ErrKind)
	case ev.Size == 0:
		return fmt.Errorf("%v: %w", ev, ErrZeroSize)
	case ev.IOVA+(ev.Size-1) < ev.IOVA:
		return fmt.Errorf("IOVA %#x size %#x: %w", ev.IOVA, ev.Size, ErrWrap)
	}
	return checkMap(ev)
}

// maxRollbackSpans bounds the memory a replay keeps for its rollback.
const maxRollbackSpans = 1024

// spans records what a replay delivered, for the rollback: inclusive IOVA
// ranges, adjacent ranges coalesced. Past maxRollbackSpans separate ranges,
// new ranges are merged into the last one, which then also covers the holes
// between them; its split still contains every delivered block whole (see
// Split), so unmapping it never bisects one.
type spans []span

type span struct{ first, last uint64 }

func (s *spans) add(first, last uint64) {
	n := len(*s)
	if n > 0 {
		p := &(*s)[n-1]
		if p.last != ^uint64(0) && p.last+1 == first {
			p.last = last
			return
		}
		if n >= maxRollbackSpans {
			p.first = min(p.first, first)
			p.last = max(p.last, last)
			return
		}
	}
	*s = append(*s, span{first, last})
}
