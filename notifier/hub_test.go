package notifier

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// recorder is a Notifier that records every event it accepts, and every
// event it refuses separately. fail decides whether to refuse an event.
type recorder struct {
	mu       sync.Mutex
	name     string
	log      *[]string // optional shared log of "name:kind@iova", for ordering checks
	fail     func(ev Event) error
	events   []Event
	refused  []Event
	attempts int
}

func (r *recorder) Notify(ev Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	if r.fail != nil {
		if err := r.fail(ev); err != nil {
			r.refused = append(r.refused, ev)
			return err
		}
	}
	r.events = append(r.events, ev)
	if r.log != nil {
		*r.log = append(*r.log, fmt.Sprintf("%s:%s@%#x", r.name, ev.Kind, ev.IOVA))
	}
	return nil
}

func (r *recorder) got() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

type regSpec struct {
	kinds       Kind
	first, last uint64
}

const max64 = ^uint64(0)

func mustRegister(t *testing.T, h *Hub, n Notifier, kinds Kind, first, last uint64) Handle {
	t.Helper()
	id, err := h.Register(n, kinds, first, last)
	if err != nil {
		t.Fatalf("Register(%v, [%#x, %#x]): %v", kinds, first, last, err)
	}
	return id
}

func TestNotifyCropSplitDeliver(t *testing.T) {
	const sid = 0x10
	tests := []struct {
		name string
		regs []regSpec
		ev   Event
		want [][]Event
	}{
		{
			name: "map split into aligned blocks with addresses",
			regs: []regSpec{{Map | Unmap, 0, max64}},
			ev:   Event{Kind: Map, SID: 0x99, IOVA: 0x1000, Size: 0x3000, Addr: 0x10000, Perm: PermRW},
			want: [][]Event{{
				{Kind: Map, SID: sid, IOVA: 0x1000, Size: 0x1000, Addr: 0x10000, Perm: PermRW},
				{Kind: Map, SID: sid, IOVA: 0x2000, Size: 0x2000, Addr: 0x11000, Perm: PermRW},
			}},
		},
		{
			name: "cropped to each registration around the interrupt window",
			regs: []regSpec{{Map | Unmap, 0, 0xfedfffff}, {Map | Unmap, 0xfef00000, max64}},
			ev:   Event{Kind: Map, IOVA: 0xfed00000, Size: 0x300000, Addr: 0x40000000, Perm: PermRead},
			want: [][]Event{
				{{Kind: Map, SID: sid, IOVA: 0xfed00000, Size: 0x100000, Addr: 0x40000000, Perm: PermRead}},
				{{Kind: Map, SID: sid, IOVA: 0xfef00000, Size: 0x100000, Addr: 0x40200000, Perm: PermRead}},
			},
		},
		{
			name: "only registrations of the event's kind",
			regs: []regSpec{{Unmap, 0, max64}, {DevIOTLBUnmap, 0, max64}, {Map, 0, max64}},
			ev:   Event{Kind: Map, IOVA: 0x4000, Size: 0x1000, Addr: 0x8000, Perm: PermWrite},
			want: [][]Event{nil, nil, {{Kind: Map, SID: sid, IOVA: 0x4000, Size: 0x1000, Addr: 0x8000, Perm: PermWrite}}},
		},
		{
			name: "unmap delivered with zero address and permission",
			regs: []regSpec{{Unmap, 0, max64}, {DevIOTLBUnmap, 0, max64}, {Map, 0, max64}},
			ev:   Event{Kind: Unmap, IOVA: 0x3000, Size: 0x2000, Addr: 0x5000, Perm: PermRW},
			want: [][]Event{{
				{Kind: Unmap, SID: sid, IOVA: 0x3000, Size: 0x1000},
				{Kind: Unmap, SID: sid, IOVA: 0x4000, Size: 0x1000},
			}, nil, nil},
		},
		{
			name: "device-IOTLB invalidation",
			regs: []regSpec{{Unmap, 0, max64}, {DevIOTLBUnmap, 0, max64}},
			ev:   Event{Kind: DevIOTLBUnmap, IOVA: 0x200000, Size: 0x200000},
			want: [][]Event{nil, {{Kind: DevIOTLBUnmap, SID: sid, IOVA: 0x200000, Size: 0x200000}}},
		},
		{
			name: "event outside the registration",
			regs: []regSpec{{Map | Unmap, 0x100000, 0x1fffff}},
			ev:   Event{Kind: Map, IOVA: 0x200000, Size: 0x1000, Addr: 0x1000, Perm: PermRW},
			want: [][]Event{nil},
		},
		{
			name: "byte-granular registration range",
			regs: []regSpec{{Unmap, 0x1001, 0x1006}},
			ev:   Event{Kind: Unmap, IOVA: 0, Size: 0x10000},
			want: [][]Event{{
				{Kind: Unmap, SID: sid, IOVA: 0x1001, Size: 1},
				{Kind: Unmap, SID: sid, IOVA: 0x1002, Size: 2},
				{Kind: Unmap, SID: sid, IOVA: 0x1004, Size: 2},
				{Kind: Unmap, SID: sid, IOVA: 0x1006, Size: 1},
			}},
		},
		{
			name: "map ending at the last byte of the space",
			regs: []regSpec{{Map, 0, max64}},
			ev:   Event{Kind: Map, IOVA: max64 - 0x1fff, Size: 0x2000, Addr: 0x2000, Perm: PermRW},
			want: [][]Event{{{Kind: Map, SID: sid, IOVA: max64 - 0x1fff, Size: 0x2000, Addr: 0x2000, Perm: PermRW}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHub(sid, nil)
			recs := make([]*recorder, len(tt.regs))
			for i, r := range tt.regs {
				recs[i] = &recorder{}
				mustRegister(t, h, recs[i], r.kinds, r.first, r.last)
			}
			if err := h.Notify(tt.ev); err != nil {
				t.Fatalf("Notify(%v): %v", tt.ev, err)
			}
			for i, r := range recs {
				if diff := cmp.Diff(tt.want[i], r.got()); diff != "" {
					t.Errorf("registration %d events (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

func TestNotifyRejectsInvalidEvents(t *testing.T) {
	tests := []struct {
		name    string
		ev      Event
		want    error
		wantMsg string
	}{
		{"no kind", Event{Kind: 0, IOVA: 0x1000, Size: 0x1000}, ErrKind, "0x1000"},
		{"two kinds", Event{Kind: Map | Unmap, IOVA: 0x1000, Size: 0x1000, Perm: PermRW}, ErrKind, "0x1fff"},
		{"undefined kind", Event{Kind: 0x8, IOVA: 0x1000, Size: 0x1000}, ErrKind, "0x1fff"},
		{"zero size", Event{Kind: Unmap, IOVA: 0x2000}, ErrZeroSize, "0x2000"},
		{"wraps", Event{Kind: Unmap, IOVA: max64, Size: 2}, ErrWrap, "0xffffffffffffffff"},
		{"map without permission", Event{Kind: Map, IOVA: 0x3000, Size: 0x1000, Addr: 0x1000}, ErrPerm, "0x3fff"},
		{"map with undefined permission", Event{Kind: Map, IOVA: 0x3000, Size: 0x1000, Perm: 0x4}, ErrPerm, "0x3000"},
		{"map address wraps", Event{Kind: Map, IOVA: 0x3000, Size: 0x2000, Addr: max64 - 0xfff, Perm: PermRW}, ErrWrap, "0xfffffffffffff000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHub(1, nil)
			rec := &recorder{}
			mustRegister(t, h, rec, AllKinds, 0, max64)
			err := h.Notify(tt.ev)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Notify(%v) = %v, want %v", tt.ev, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not name %s", err, tt.wantMsg)
			}
			if rec.attempts != 0 {
				t.Errorf("%d events delivered for an invalid request", rec.attempts)
			}
		})
	}
}

func TestNotifyMapRollback(t *testing.T) {
	errRefused := errors.New("refused")
	errRollback := errors.New("rollback refused")
	blocks := []Event{ // the split of [0x1000, 0x7fff]
		{Kind: Map, SID: 7, IOVA: 0x1000, Size: 0x1000, Addr: 0xa1000, Perm: PermRW},
		{Kind: Map, SID: 7, IOVA: 0x2000, Size: 0x2000, Addr: 0xa2000, Perm: PermRW},
		{Kind: Map, SID: 7, IOVA: 0x4000, Size: 0x4000, Addr: 0xa4000, Perm: PermRW},
	}
	asUnmap := func(evs ...Event) []Event {
		var out []Event
		for _, ev := range evs {
			out = append(out, Event{Kind: Unmap, SID: ev.SID, IOVA: ev.IOVA, Size: ev.Size})
		}
		return out
	}
	concat := func(a, b []Event) []Event { return append(append([]Event(nil), a...), b...) }
	tests := []struct {
		name      string
		failAt    uint64 // IOVA of the block the third registration refuses
		rollback  bool   // whether the first registration also refuses unmaps
		want      [3][]Event
		wantOrder []string
	}{
		{
			name:   "fails at the second block",
			failAt: 0x2000,
			want: [3][]Event{
				concat(blocks, asUnmap(blocks...)),
				concat(blocks, asUnmap(blocks...)),
				concat(blocks[:1], asUnmap(blocks[0])),
			},
			wantOrder: []string{
				"a:map@0x1000", "a:map@0x2000", "a:map@0x4000",
				"b:map@0x1000", "b:map@0x2000", "b:map@0x4000",
				"c:map@0x1000",
				"c:unmap@0x1000",
				"b:unmap@0x1000", "b:unmap@0x2000", "b:unmap@0x4000",
				"a:unmap@0x1000", "a:unmap@0x2000", "a:unmap@0x4000",
			},
		},
		{
			name:   "fails at the first block",
			failAt: 0x1000,
			want: [3][]Event{
				concat(blocks, asUnmap(blocks...)),
				concat(blocks, asUnmap(blocks...)),
				nil,
			},
		},
		{
			name:     "rollback refused too",
			failAt:   0x4000,
			rollback: true,
			want: [3][]Event{
				blocks,
				concat(blocks, asUnmap(blocks...)),
				concat(blocks[:2], asUnmap(blocks[:2]...)),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var order []string
			h := NewHub(7, nil)
			a := &recorder{name: "a", log: &order}
			if tt.rollback {
				a.fail = func(ev Event) error {
					if ev.Kind == Unmap {
						return errRollback
					}
					return nil
				}
			}
			b := &recorder{name: "b", log: &order}
			c := &recorder{name: "c", log: &order, fail: func(ev Event) error {
				if ev.Kind == Map && ev.IOVA == tt.failAt {
					return errRefused
				}
				return nil
			}}
			mustRegister(t, h, a, Map|Unmap, 0, max64)
			mustRegister(t, h, b, Map, 0, max64) // rolled back although it asked for Map only
			hc := mustRegister(t, h, c, Map|Unmap, 0, max64)

			err := h.Notify(Event{Kind: Map, IOVA: 0x1000, Size: 0x7000, Addr: 0xa1000, Perm: PermRW})
			var de *DeliveryError
			if !errors.As(err, &de) {
				t.Fatalf("Notify = %v, want a *DeliveryError", err)
			}
			if !errors.Is(err, errRefused) {
				t.Errorf("error %v does not wrap the Notifier's error", err)
			}
			if de.Handle != hc || de.Kind != Map || de.SID != 7 || de.First != 0x1000 || de.Last != 0x7fff || de.Block.IOVA != tt.failAt {
				t.Errorf("DeliveryError = %+v, want handle %d, map of [0x1000, 0x7fff], SID 7, failed block at %#x", de, hc, tt.failAt)
			}
			if got := errors.Is(err, errRollback); got != tt.rollback {
				t.Errorf("errors.Is(err, errRollback) = %v, want %v (err %v)", got, tt.rollback, err)
			}
			if tt.rollback && !strings.Contains(err.Error(), "3 unmaps failed") {
				t.Errorf("error %q does not count the 3 failed rollback unmaps", err)
			}
			if !strings.Contains(err.Error(), "[0x1000, 0x7fff]") {
				t.Errorf("error %q does not name the range", err)
			}
			for i, r := range []*recorder{a, b, c} {
				if diff := cmp.Diff(tt.want[i], r.got()); diff != "" {
					t.Errorf("registration %s (-want +got):\n%s", r.name, diff)
				}
			}
			if tt.wantOrder != nil {
				if diff := cmp.Diff(tt.wantOrder, order); diff != "" {
					t.Errorf("delivery order (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestNotifyUnmapDeliversEverything(t *testing.T) {
	errA := errors.New("a refuses everything")
	errC := errors.New("c refuses one block")
	h := NewHub(3, nil)
	a := &recorder{fail: func(Event) error { return errA }}
	b := &recorder{}
	c := &recorder{fail: func(ev Event) error {
		if ev.IOVA == 0x2000 {
			return errC
		}
		return nil
	}}
	ha := mustRegister(t, h, a, Unmap, 0, max64)
	mustRegister(t, h, b, Unmap, 0, max64)
	hc := mustRegister(t, h, c, Unmap, 0, max64)

	err := h.Notify(Event{Kind: Unmap, IOVA: 0x1000, Size: 0x7000})
	if err == nil {
		t.Fatal("Notify succeeded although two Notifiers failed")
	}
	if a.attempts != 3 || len(b.got()) != 3 || c.attempts != 3 {
		t.Errorf("attempts a=%d b=%d c=%d, want 3 each", a.attempts, len(b.got()), c.attempts)
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok || len(joined.Unwrap()) != 2 {
		t.Fatalf("error %v is not two joined errors", err)
	}
	var handles []Handle
	for _, e := range joined.Unwrap() {
		var de *DeliveryError
		if !errors.As(e, &de) {
			t.Fatalf("%v is not a *DeliveryError", e)
		}
		handles = append(handles, de.Handle)
	}
	if diff := cmp.Diff([]Handle{ha, hc}, handles); diff != "" {
		t.Errorf("failed handles (-want +got):\n%s", diff)
	}
	if !errors.Is(err, errA) || !errors.Is(err, errC) {
		t.Errorf("error %v does not wrap both Notifier errors", err)
	}
}

func TestNotifyRange(t *testing.T) {
	const sid = 0x20
	tests := []struct {
		name        string
		regs        []regSpec
		kind        Kind
		first, last uint64
		wantErr     error
		want        [][]Event
	}{
		{
			name: "whole space",
			regs: []regSpec{{Unmap, 0, max64}},
			kind: Unmap, first: 0, last: max64,
			want: [][]Event{{
				{Kind: Unmap, SID: sid, IOVA: 0, Size: 1 << 63},
				{Kind: Unmap, SID: sid, IOVA: 1 << 63, Size: 1 << 63},
			}},
		},
		{
			name: "whole space cropped to the upper registration",
			regs: []regSpec{{DevIOTLBUnmap, 0xfef00000, max64}, {Unmap, 0, max64}},
			kind: DevIOTLBUnmap, first: 0, last: max64,
			want: [][]Event{func() []Event {
				var evs []Event
				for iova, size := range Split(0xfef00000, max64) {
					evs = append(evs, Event{Kind: DevIOTLBUnmap, SID: sid, IOVA: iova, Size: size})
				}
				return evs
			}(), nil},
		},
		{
			name: "map is not a range kind",
			regs: []regSpec{{AllKinds, 0, max64}},
			kind: Map, first: 0, last: 0xfff,
			wantErr: ErrKind,
			want:    [][]Event{nil},
		},
		{
			name: "first after last",
			regs: []regSpec{{AllKinds, 0, max64}},
			kind: Unmap, first: 0x2000, last: 0x1fff,
			wantErr: ErrRange,
			want:    [][]Event{nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHub(sid, nil)
			recs := make([]*recorder, len(tt.regs))
			for i, r := range tt.regs {
				recs[i] = &recorder{}
				mustRegister(t, h, recs[i], r.kinds, r.first, r.last)
			}
			err := h.NotifyRange(tt.kind, tt.first, tt.last)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("NotifyRange(%v, %#x, %#x) = %v, want %v", tt.kind, tt.first, tt.last, err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("%#x", tt.first)) {
				t.Errorf("error %q does not name the range", err)
			}
			for i, r := range recs {
				if diff := cmp.Diff(tt.want[i], r.got()); diff != "" {
					t.Errorf("registration %d (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

// owner is a minimal address space that owns a Hub the way the contract says:
// its own lock around its state, around Register, and around Notify.
type owner struct {
	mu   sync.Mutex
	maps map[uint64]Event // by IOVA
	hub  *Hub
}

func newOwner(sid uint32, maps ...Event) *owner {
	o := &owner{maps: map[uint64]Event{}}
	for _, m := range maps {
		o.maps[m.IOVA] = m
	}
	o.hub = NewHub(sid, o.replay)
	return o
}

// replay yields in ascending IOVA order.
func (o *owner) replay(yield func(Event) error) error {
	keys := make([]uint64, 0, len(o.maps))
	for k := range o.maps {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	for _, k := range keys {
		if err := yield(o.maps[k]); err != nil {
			return err
		}
	}
	return nil
}

func TestRegisterReplaysToTheNewNotifierOnly(t *testing.T) {
	o := newOwner(0x30,
		Event{Kind: Map, IOVA: 0x1000, Size: 0x2000, Addr: 0x100000, Perm: PermRW},
		Event{Kind: Map, IOVA: 0x10000, Size: 0x1000, Addr: 0x200000, Perm: PermRead},
		Event{Kind: Map, IOVA: 0xfee00000, Size: 0x1000, Addr: 0x300000, Perm: PermRW},
	)
	old := &recorder{}
	mustRegister(t, o.hub, old, Map|Unmap, 0, max64)
	oldSeen := len(old.got())

	tests := []struct {
		name        string
		kinds       Kind
		first, last uint64
		want        []Event
	}{
		{
			name: "below the interrupt window", kinds: Map | Unmap, first: 0, last: 0xfedfffff,
			want: []Event{
				{Kind: Map, SID: 0x30, IOVA: 0x1000, Size: 0x1000, Addr: 0x100000, Perm: PermRW},
				{Kind: Map, SID: 0x30, IOVA: 0x2000, Size: 0x1000, Addr: 0x101000, Perm: PermRW},
				{Kind: Map, SID: 0x30, IOVA: 0x10000, Size: 0x1000, Addr: 0x200000, Perm: PermRead},
			},
		},
		{
			name: "cropped inside a mapping", kinds: Map, first: 0x1800, last: 0x27ff,
			want: []Event{
				{Kind: Map, SID: 0x30, IOVA: 0x1800, Size: 0x800, Addr: 0x100800, Perm: PermRW},
				{Kind: Map, SID: 0x30, IOVA: 0x2000, Size: 0x800, Addr: 0x101000, Perm: PermRW},
			},
		},
		{name: "unmap only: no replay", kinds: Unmap, first: 0, last: max64},
		{name: "device IOTLB only: no replay", kinds: DevIOTLBUnmap, first: 0, last: max64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			o.mu.Lock()
			id, err := o.hub.Register(rec, tt.kinds, tt.first, tt.last)
			o.mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			defer o.hub.Unregister(id)
			if diff := cmp.Diff(tt.want, rec.got()); diff != "" {
				t.Errorf("replayed (-want +got):\n%s", diff)
			}
			if n := len(old.got()); n != oldSeen {
				t.Errorf("the existing registration saw %d replayed events", n-oldSeen)
			}
		})
	}
}

func TestRegisterReplayFailureUndoes(t *testing.T) {
	errNotify := errors.New("map refused")
	errWalk := errors.New("page walk failed")
	maps := []Event{
		{Kind: Map, IOVA: 0x1000, Size: 0x3000, Addr: 0x100000, Perm: PermRW}, // blocks 0x1000, 0x2000(8K)
		{Kind: Map, IOVA: 0x4000, Size: 0x1000, Addr: 0x200000, Perm: PermRW}, // adjacent: coalesced
		{Kind: Map, IOVA: 0x9000, Size: 0x1000, Addr: 0x300000, Perm: PermRW},
		{Kind: Map, IOVA: 0xa000, Size: 0x1000, Addr: 0x400000, Perm: PermRW},
	}
	tests := []struct {
		name       string
		replay     Replayer
		failAt     uint64 // IOVA the new Notifier refuses, 0 for none
		wantErr    error
		wantMapped []uint64 // IOVAs of the blocks mapped, then unmapped in the same order
	}{
		{
			name: "notifier refuses the fourth mapping",
			replay: func(yield func(Event) error) error {
				for _, m := range maps {
					if err := yield(m); err != nil {
						return err
					}
				}
				return nil
			},
			failAt: 0xa000, wantErr: errNotify,
			wantMapped: []uint64{0x1000, 0x2000, 0x4000, 0x9000},
		},
		{
			name: "notifier refuses a block in the middle of a mapping",
			replay: func(yield func(Event) error) error {
				for _, m := range maps {
					if err := yield(m); err != nil {
						return err
					}
				}
				return nil
			},
			failAt: 0x2000, wantErr: errNotify,
			wantMapped: []uint64{0x1000},
		},
		{
			name: "replayer fails on its own",
			replay: func(yield func(Event) error) error {
				for _, m := range maps[:3] {
					if err := yield(m); err != nil {
						return err
					}
				}
				return errWalk
			},
			wantErr:    errWalk,
			wantMapped: []uint64{0x1000, 0x2000, 0x4000, 0x9000},
		},
		{
			name: "replayer yields an invalid mapping",
			replay: func(yield func(Event) error) error {
				if err := yield(maps[0]); err != nil {
					return err
				}
				return yield(Event{Kind: Map, IOVA: 0x8000, Size: 0, Perm: PermRW})
			},
			wantErr:    ErrZeroSize,
			wantMapped: []uint64{0x1000, 0x2000},
		},
		{
			name: "replayer ignores the error and carries on",
			replay: func(yield func(Event) error) error {
				for _, m := range maps {
					_ = yield(m)
				}
				return nil
			},
			failAt: 0x4000, wantErr: errNotify,
			wantMapped: []uint64{0x1000, 0x2000},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHub(0x40, tt.replay)
			hx := mustRegister(t, h, Func(func(Event) error { return nil }), Unmap, 0, max64)
			rec := &recorder{fail: func(ev Event) error {
				if ev.Kind == Map && ev.IOVA == tt.failAt {
					return errNotify
				}
				return nil
			}}
			id, err := h.Register(rec, Map|Unmap, 0, max64)
			if id != 0 || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Register = %d, %v; want 0, %v", id, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "[0x0, 0xffffffffffffffff]") || !strings.Contains(err.Error(), "0x40") {
				t.Errorf("error %q does not name the registration range and SID", err)
			}
			var mapped, unmapped []uint64
			for _, ev := range rec.got() {
				switch ev.Kind {
				case Map:
					mapped = append(mapped, ev.IOVA)
				case Unmap:
					unmapped = append(unmapped, ev.IOVA)
				}
			}
			if diff := cmp.Diff(tt.wantMapped, mapped); diff != "" {
				t.Errorf("mapped blocks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantMapped, unmapped); diff != "" {
				t.Errorf("unmapped blocks (-want +got):\n%s", diff)
			}
			if h.Len() != 1 || h.Kinds() != Unmap {
				t.Errorf("after the failed Register: Len %d Kinds %v, want 1 and unmap", h.Len(), h.Kinds())
			}
			// The failed registration receives nothing more.
			before := rec.attempts
			if err := h.Notify(Event{Kind: Unmap, IOVA: 0, Size: 0x10000}); err != nil {
				t.Fatal(err)
			}
			if rec.attempts != before {
				t.Errorf("the undone registration still receives events")
			}
			// Handles are not reused.
			id2 := mustRegister(t, h, &recorder{}, Unmap, 0, 0)
			if id2 <= hx+1 {
				t.Errorf("handle %d reused after the failed registration (previous %d)", id2, hx)
			}
		})
	}
}

func TestRegisterReplayRollbackFailure(t *testing.T) {
	errMap := errors.New("map refused")
	errUnmap := errors.New("unmap refused")
	h := NewHub(1, func(yield func(Event) error) error {
		return yield(Event{Kind: Map, IOVA: 0x1000, Size: 0x3000, Addr: 0x1000, Perm: PermRW})
	})
	rec := &recorder{fail: func(ev Event) error {
		if ev.Kind == Unmap {
			return errUnmap
		}
		if ev.IOVA == 0x2000 {
			return errMap
		}
		return nil
	}}
	_, err := h.Register(rec, Map|Unmap, 0, max64)
	var de *DeliveryError
	if !errors.As(err, &de) || !errors.Is(err, errMap) || !errors.Is(err, errUnmap) {
		t.Fatalf("Register = %v, want a *DeliveryError wrapping both errors", err)
	}
	if de.Rollback == nil || de.Block.IOVA != 0x2000 {
		t.Errorf("DeliveryError %+v: want Rollback set and the failed block at 0x2000", de)
	}
}

func TestRegisterRejectsInvalid(t *testing.T) {
	tests := []struct {
		name        string
		n           Notifier
		kinds       Kind
		first, last uint64
		want        error
	}{
		{"nil notifier", nil, Map, 0, max64, ErrNilNotifier},
		{"no kinds", &recorder{}, 0, 0, max64, ErrKind},
		{"undefined kind bit", &recorder{}, Unmap | 0x10, 0, max64, ErrKind},
		{"first after last", &recorder{}, Unmap, 0x2000, 0x1000, ErrRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			h := NewHub(1, func(func(Event) error) error { called = true; return nil })
			id, err := h.Register(tt.n, tt.kinds, tt.first, tt.last)
			if id != 0 || !errors.Is(err, tt.want) {
				t.Fatalf("Register = %d, %v; want 0, %v", id, err, tt.want)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%#x", tt.first)) {
				t.Errorf("error %q does not name the range", err)
			}
			if called || h.Len() != 0 || h.Kinds() != 0 {
				t.Errorf("a refused registration had effects: replay %v, Len %d, Kinds %v", called, h.Len(), h.Kinds())
			}
		})
	}
}

func TestUnregisterAndKinds(t *testing.T) {
	var h Hub // the zero value is usable
	a, b, c := &recorder{}, &recorder{}, &recorder{}
	ha := mustRegister(t, &h, a, Map, 0, max64)
	hb := mustRegister(t, &h, b, Unmap, 0, max64)
	hc := mustRegister(t, &h, c, DevIOTLBUnmap, 0, max64)
	if ha != 1 || hb != 2 || hc != 3 {
		t.Fatalf("handles %d %d %d, want 1 2 3", ha, hb, hc)
	}
	steps := []struct {
		unregister Handle
		wantOK     bool
		wantKinds  Kind
	}{
		{0, false, AllKinds},
		{42, false, AllKinds},
		{hb, true, Map | DevIOTLBUnmap},
		{hb, false, Map | DevIOTLBUnmap},
		{ha, true, DevIOTLBUnmap},
		{hc, true, 0},
	}
	for _, s := range steps {
		if ok := h.Unregister(s.unregister); ok != s.wantOK {
			t.Errorf("Unregister(%d) = %v, want %v", s.unregister, ok, s.wantOK)
		}
		if k := h.Kinds(); k != s.wantKinds {
			t.Errorf("after Unregister(%d): Kinds = %v, want %v", s.unregister, k, s.wantKinds)
		}
		for _, kind := range []Kind{Map, Unmap, DevIOTLBUnmap} {
			if err := h.Notify(Event{Kind: kind, IOVA: 0x1000, Size: 0x1000, Addr: 0x1000, Perm: PermRW}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Each recorder saw one event per step while it was registered.
	if got := []int{len(a.got()), len(b.got()), len(c.got())}; !cmp.Equal(got, []int{4, 2, 5}) {
		t.Errorf("events seen by a, b, c = %v, want [4 2 5]", got)
	}
	if h.SID() != 0 || h.Len() != 0 {
		t.Errorf("zero hub: SID %d Len %d", h.SID(), h.Len())
	}
}

// A Notifier may ask the hub's kinds while being called (it is lock-free).
func TestNotifierMayCallKinds(t *testing.T) {
	h := NewHub(1, nil)
	var seen Kind
	mustRegister(t, h, Func(func(Event) error { seen = h.Kinds(); return nil }), Map|Unmap, 0, max64)
	if err := h.Notify(Event{Kind: Unmap, IOVA: 0, Size: 1}); err != nil {
		t.Fatal(err)
	}
	if seen != Map|Unmap {
		t.Errorf("Kinds inside Notify = %v, want map|unmap", seen)
	}
}

// shadow is a Notifier that keeps the set of blocks it was mapped, failing on
// a Map of something already mapped, an Unmap that bisects a block (like VFIO
// type1 v2), and an Unmap of a block it does not hold.
type shadow struct {
	mu     sync.Mutex
	blocks map[uint64]Event
	errs   []error
}

func (s *shadow) Notify(ev Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := func(format string, args ...any) error {
		err := fmt.Errorf(format, args...)
		s.errs = append(s.errs, err)
		return err
	}
	switch ev.Kind {
	case Map:
		for _, b := range s.blocks {
			if b.IOVA <= ev.Last() && ev.IOVA <= b.Last() {
				return fail("%v overlaps %v", ev, b)
			}
		}
		s.blocks[ev.IOVA] = ev
	case Unmap:
		if b, ok := s.blocks[ev.IOVA]; !ok || b.Size != ev.Size {
			// The owner in these tests unmaps only what it mapped, and the
			// same range splits the same way: every unmapped block must be
			// one this registration holds.
			return fail("%v is not a block this registration was mapped", ev)
		}
		for k, b := range s.blocks {
			if b.IOVA <= ev.Last() && ev.IOVA <= b.Last() {
				if b.IOVA < ev.IOVA || b.Last() > ev.Last() {
					return fail("%v bisects %v", ev, b)
				}
				delete(s.blocks, k)
			}
		}
	}
	return nil
}

// blocks returns the owner's mappings as the hub splits them: block IOVA ->
// {size, addr}. Called with o.mu held.
func (o *owner) blocks() map[uint64][2]uint64 {
	out := map[uint64][2]uint64{}
	for _, m := range o.maps {
		for iova, size := range Split(m.IOVA, m.Last()) {
			out[iova] = [2]uint64{size, m.Addr + iova - m.IOVA}
		}
	}
	return out
}

// snapshot returns the blocks the shadow holds: IOVA -> {size, addr}.
func (s *shadow) snapshot() map[uint64][2]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[uint64][2]uint64{}
	for iova, b := range s.blocks {
		out[iova] = [2]uint64{b.Size, b.Addr}
	}
	return out
}

// Registrations come and go while the owner maps and unmaps pages; every
// registration must see a consistent stream: its replay plus the later events
// never map twice or bisect, and at the end it holds exactly the owner's
// mappings.
func TestConcurrentRegisterAndNotify(t *testing.T) {
	o := newOwner(0x50,
		Event{Kind: Map, IOVA: 0x200000, Size: 0x3000, Addr: 0x7000, Perm: PermRead},
		Event{Kind: Map, IOVA: 0x400000, Size: 0x200000, Addr: 0x40000000, Perm: PermRW},
	)
	const pages = 64
	var wg sync.WaitGroup
	mapper := func(seed uint64) {
		defer wg.Done()
		x := seed
		for range 2000 {
			x = x*6364136223846793005 + 1442695040888963407
			iova := (x >> 33) % pages * 0x1000
			size := uint64(0x1000) << ((x >> 20) % 3)
			if iova+size > pages*0x1000 {
				size = 0x1000
			}
			o.mu.Lock()
			free := true
			for _, m := range o.maps {
				if m.IOVA < iova+size && iova <= m.Last() {
					free = false
				}
			}
			var err error
			if m, ok := o.maps[iova]; ok {
				delete(o.maps, iova)
				err = o.hub.Notify(Event{Kind: Unmap, IOVA: m.IOVA, Size: m.Size})
			} else if free {
				m := Event{Kind: Map, IOVA: iova, Size: size, Addr: 0x100000 + iova, Perm: PermRW}
				o.maps[iova] = m
				err = o.hub.Notify(m)
			}
			o.mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
		}
	}
	var live []*shadow
	var liveMu sync.Mutex
	registrar := func() {
		defer wg.Done()
		var mine []Handle
		for i := range 300 {
			s := &shadow{blocks: map[uint64]Event{}}
			o.mu.Lock()
			id, err := o.hub.Register(s, Map|Unmap, 0, max64)
			if err == nil {
				// Right after Register, under the owner's lock, the replay
				// has given the new registration exactly the owner's state.
				if diff := cmp.Diff(o.blocks(), s.snapshot()); diff != "" {
					err = fmt.Errorf("replay differs from the owner (-owner +replayed):\n%s", diff)
				}
			}
			o.mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
			if i%3 == 0 {
				liveMu.Lock()
				live = append(live, s)
				liveMu.Unlock()
				continue
			}
			mine = append(mine, id)
			if len(mine) > 4 {
				o.mu.Lock()
				ok := o.hub.Unregister(mine[0])
				o.mu.Unlock()
				if !ok {
					t.Errorf("Unregister(%d) = false", mine[0])
				}
				mine = mine[1:]
			}
		}
	}
	wg.Add(3)
	go mapper(1)
	go mapper(2)
	go registrar()
	wg.Wait()

	o.mu.Lock()
	defer o.mu.Unlock()
	want := o.blocks()
	for i, s := range live {
		s.mu.Lock()
		if len(s.errs) > 0 {
			t.Errorf("registration %d: %d inconsistent events, first: %v", i, len(s.errs), s.errs[0])
		}
		s.mu.Unlock()
		if diff := cmp.Diff(want, s.snapshot()); diff != "" {
			t.Errorf("registration %d holds a different set (-owner +shadow):\n%s", i, diff)
		}
	}
}

// A replay of more separate ranges than the rollback keeps exactly is still
// undone completely, and no rollback unmap bisects a replayed block.
func TestRegisterReplayRollbackManyRanges(t *testing.T) {
	const entries = 3000 // past maxRollbackSpans separate ranges
	errFull := errors.New("entry limit")
	h := NewHub(1, func(yield func(Event) error) error {
		for i := range uint64(entries) {
			// 4 KiB and 8 KiB mappings with holes between them.
			size := uint64(0x1000) << (i % 2)
			if err := yield(Event{Kind: Map, IOVA: i * 0x10000, Size: size, Addr: i * 0x10000, Perm: PermRW}); err != nil {
				return err
			}
		}
		return nil
	})
	rec := &recorder{fail: func(ev Event) error {
		if ev.Kind == Map && ev.IOVA == (entries-1)*0x10000 {
			return errFull
		}
		return nil
	}}
	if _, err := h.Register(rec, Map|Unmap, 0, max64); !errors.Is(err, errFull) {
		t.Fatalf("Register = %v, want %v", err, errFull)
	}
	var mapped, unmapped []Event
	for _, ev := range rec.got() {
		if ev.Kind == Map {
			mapped = append(mapped, ev)
		} else {
			unmapped = append(unmapped, ev)
		}
	}
	if len(mapped) != entries-1 {
		t.Fatalf("%d blocks mapped, want %d", len(mapped), entries-1)
	}
	if len(unmapped) >= len(mapped)+128 {
		t.Errorf("%d unmaps for %d mapped blocks", len(unmapped), len(mapped))
	}
	for _, m := range mapped {
		covered := false
		for _, u := range unmapped {
			overlap := u.IOVA <= m.Last() && m.IOVA <= u.Last()
			inside := u.IOVA <= m.IOVA && m.Last() <= u.Last()
			if overlap && !inside {
				t.Fatalf("rollback %v bisects replayed %v", u, m)
			}
			covered = covered || inside
		}
		if !covered {
			t.Fatalf("replayed %v was not unmapped", m)
		}
	}
}
