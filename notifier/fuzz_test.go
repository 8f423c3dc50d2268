package notifier

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzNotify drives a hub with two registrations of arbitrary kinds and
// ranges and one arbitrary event, optionally making the second registration
// refuse one Map block, and checks the delivery invariants: every block is a
// power of two, aligned, inside its registration's range; a registration's
// blocks tile the cropped range exactly; Addr advances with the offset; a Map
// and an Unmap of the same range split identically; a replay of the same
// mapping splits identically too; a refused Map is rolled back block for
// block; invalid events are refused with nothing delivered. Nothing panics.
func FuzzNotify(f *testing.F) {
	f.Add(uint64(0), max64, uint8(Map|Unmap), uint64(0), uint64(0xfedfffff), uint8(AllKinds),
		uint8(Map), uint64(0x1000), uint64(0x3000), uint64(0x10000), uint8(PermRW), uint8(255))
	f.Add(uint64(0), uint64(0xfedfffff), uint8(Map|Unmap), uint64(0xfef00000), max64, uint8(Map|Unmap),
		uint8(Map), uint64(0xfed00000), uint64(0x300000), uint64(0x40000000), uint8(PermRead), uint8(0))
	f.Add(uint64(0x1001), uint64(0x1006), uint8(Unmap), uint64(0), max64, uint8(DevIOTLBUnmap),
		uint8(Unmap), uint64(0), uint64(0x10000), uint64(0), uint8(0), uint8(255))
	f.Add(uint64(0), max64, uint8(Map), uint64(0), max64, uint8(Map),
		uint8(Map), uint64(1), max64, uint64(0), uint8(PermWrite), uint8(5))
	f.Add(uint64(5), uint64(1), uint8(0), uint64(0), max64, uint8(0xff),
		uint8(DevIOTLBUnmap), max64, uint64(1), uint64(0), uint8(0), uint8(1))
	f.Add(uint64(0), max64, uint8(Map), uint64(0), max64, uint8(Map),
		uint8(Map), uint64(0x1000), uint64(0x1000), max64-0x800, uint8(PermRW), uint8(255))
	f.Add(uint64(0), max64, uint8(Map), uint64(0), max64, uint8(Map),
		uint8(Map|Unmap), uint64(0x1000), uint64(0), uint64(0), uint8(7), uint8(255))

	f.Fuzz(func(t *testing.T, f1, l1 uint64, k1 uint8, f2, l2 uint64, k2 uint8,
		kind uint8, iova, size, addr uint64, perm uint8, failAt uint8) {
		const sid = 0x1234
		regs := []regSpec{normalize(f1, l1, k1), normalize(f2, l2, k2)}
		ev := Event{Kind: Kind(kind), SID: 0xdead, IOVA: iova, Size: size, Addr: addr, Perm: Perm(perm)}

		h := NewHub(sid, nil)
		recs := []*recorder{{}, {}}
		refused := false
		recs[1].fail = func(e Event) error {
			if e.Kind == Map && !refused && failAt != 255 && recs[1].attempts-1 == int(failAt) {
				refused = true
				return errors.New("refused")
			}
			return nil
		}
		for i, r := range regs {
			mustRegister(t, h, recs[i], r.kinds, r.first, r.last)
		}

		err := h.Notify(ev)
		if wantErr := expectedError(ev); wantErr != nil {
			if !errors.Is(err, wantErr) {
				t.Fatalf("Notify(%v) = %v, want %v", ev, err, wantErr)
			}
			for i, r := range recs {
				if r.attempts != 0 {
					t.Fatalf("registration %d got %d events for an invalid event", i, r.attempts)
				}
			}
			return
		}
		if refused != (err != nil) {
			t.Fatalf("Notify(%v) = %v, but refused = %v", ev, err, refused)
		}
		if refused {
			checkRollback(t, ev, regs, recs, err)
			return
		}

		// Every registration got exactly the split of its cropped range.
		firstPass := make([][]block, len(recs))
		for i, r := range regs {
			got := recs[i].got()
			lo, hi, overlaps := crop(ev.IOVA, ev.Last(), r.first, r.last)
			if r.kinds&ev.Kind == 0 || !overlaps {
				if len(got) != 0 {
					t.Fatalf("registration %d (%v [%#x, %#x]) got %d events for %v", i, r.kinds, r.first, r.last, len(got), ev)
				}
				continue
			}
			bs := checkBlocks(t, ev, got, lo, hi)
			firstPass[i] = bs
		}

		// The opposite kind over the same range splits the same way.
		if ev.Kind == Map {
			for _, r := range recs {
				r.events = nil
			}
			if err := h.Notify(Event{Kind: Unmap, IOVA: ev.IOVA, Size: ev.Size}); err != nil {
				t.Fatal(err)
			}
			for i, r := range regs {
				if r.kinds&Map == 0 || r.kinds&Unmap == 0 {
					continue
				}
				var second []block
				for _, e := range recs[i].got() {
					second = append(second, block{e.IOVA, e.Size})
				}
				if diff := cmp.Diff(firstPass[i], second); diff != "" {
					t.Fatalf("registration %d: map and unmap of %v split differently (-map +unmap):\n%s", i, ev, diff)
				}
			}

			// A replay of the same mapping splits the same way.
			rh := NewHub(sid, func(yield func(Event) error) error { return yield(ev) })
			for i, r := range regs {
				if r.kinds&Map == 0 {
					continue
				}
				rec := &recorder{}
				if _, err := rh.Register(rec, Map, r.first, r.last); err != nil {
					t.Fatal(err)
				}
				var replayed []block
				for _, e := range rec.got() {
					replayed = append(replayed, block{e.IOVA, e.Size})
				}
				if diff := cmp.Diff(firstPass[i], replayed); diff != "" {
					t.Fatalf("registration %d: notify and replay of %v split differently (-notify +replay):\n%s", i, ev, diff)
				}
			}
		}
	})
}

// normalize turns arbitrary fuzz input into a valid registration.
func normalize(first, last uint64, kinds uint8) regSpec {
	if first > last {
		first, last = last, first
	}
	k := Kind(kinds) & AllKinds
	if k == 0 {
		k = Unmap
	}
	return regSpec{k, first, last}
}

// expectedError is the sentinel Notify must return for ev, or nil.
func expectedError(ev Event) error {
	switch {
	case ev.Kind != Map && ev.Kind != Unmap && ev.Kind != DevIOTLBUnmap:
		return ErrKind
	case ev.Size == 0:
		return ErrZeroSize
	case ev.IOVA > max64-(ev.Size-1):
		return ErrWrap
	case ev.Kind == Map && (ev.Perm == 0 || ev.Perm > PermRW):
		return ErrPerm
	case ev.Kind == Map && ev.Addr > max64-(ev.Size-1):
		return ErrWrap
	}
	return nil
}

// checkBlocks verifies that got tiles [lo, hi] with maximal aligned
// power-of-two blocks that carry ev's kind, the hub SID and the right
// translation, and returns the blocks.
func checkBlocks(t *testing.T, ev Event, got []Event, lo, hi uint64) []block {
	t.Helper()
	bs := make([]block, 0, len(got))
	for _, e := range got {
		if e.Kind != ev.Kind || e.SID != 0x1234 {
			t.Fatalf("%v delivered as %v", ev, e)
		}
		if ev.Kind == Map {
			if e.Addr != ev.Addr+(e.IOVA-ev.IOVA) || e.Perm != ev.Perm {
				t.Fatalf("%v delivered block %v with the wrong translation", ev, e)
			}
		} else if e.Addr != 0 || e.Perm != 0 {
			t.Fatalf("%v delivered as %v with an address or permission", ev, e)
		}
		bs = append(bs, block{e.IOVA, e.Size})
	}
	checkTiling(t, lo, hi, bs)
	return bs
}

// checkRollback verifies that a refused Map was undone block for block.
func checkRollback(t *testing.T, ev Event, regs []regSpec, recs []*recorder, err error) {
	t.Helper()
	var de *DeliveryError
	if !errors.As(err, &de) || de.Handle != 2 || de.First != ev.IOVA || de.Last != ev.Last() {
		t.Fatalf("Notify(%v) = %v, want a *DeliveryError for registration 2 over the event's range", ev, err)
	}
	for i, r := range regs {
		var mapped, unmapped []block
		for _, e := range recs[i].got() {
			switch e.Kind {
			case Map:
				mapped = append(mapped, block{e.IOVA, e.Size})
			case Unmap:
				unmapped = append(unmapped, block{e.IOVA, e.Size})
			default:
				t.Fatalf("registration %d got %v during a Map", i, e)
			}
		}
		if diff := cmp.Diff(mapped, unmapped); diff != "" {
			t.Fatalf("registration %d: rollback of %v does not undo the maps (-mapped +unmapped):\n%s", i, ev, diff)
		}
		if i == 0 && r.kinds&Map != 0 {
			if lo, hi, ok := crop(ev.IOVA, ev.Last(), r.first, r.last); ok {
				checkTiling(t, lo, hi, mapped) // registration 1 got everything before 2 failed
			}
		}
	}
}
