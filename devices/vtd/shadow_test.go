package vtd

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/govmm/govmm/notifier"
)

// recorder is a Notifier that records events; it refuses the failMap-th
// MAP (counting from 1) when failMap is set.
type recorder struct {
	mu      sync.Mutex
	evs     []notifier.Event
	maps    int
	failMap int
}

var errRefused = errors.New("refused by test notifier")

func (r *recorder) Notify(ev notifier.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ev.Kind == notifier.Map {
		r.maps++
		if r.maps == r.failMap {
			return errRefused
		}
	}
	r.evs = append(r.evs, ev)
	return nil
}

// take returns and forgets the events recorded so far.
func (r *recorder) take() []notifier.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs := r.evs
	r.evs = nil
	return evs
}

const testDev = 0x18 // 00:03.0

func mapEv(iova, size, addr uint64, perm notifier.Perm) notifier.Event {
	return notifier.Event{Kind: notifier.Map, SID: testDev, IOVA: iova, Size: size, Addr: addr, Perm: perm}
}

func unmapEv(iova, size uint64) notifier.Event {
	return notifier.Event{Kind: notifier.Unmap, SID: testDev, IOVA: iova, Size: size}
}

// shadowEnv is an enabled unit with device 00:03.0 in domain 5 (4-level
// table at pgd) and queued invalidation.
type shadowEnv struct {
	*testEnv
	root, pgd uint64
	q         *qi
	as        *AddressSpace
	rec       *recorder
	errs      []error
}

func newShadowEnv(t *testing.T, cfg Config) *shadowEnv {
	t.Helper()
	e, root, pgd := translationEnv(t, cfg, 4)
	s := &shadowEnv{testEnv: e, root: root, pgd: pgd, q: e.enableQI(), as: e.u.AddressSpace(testDev), rec: &recorder{}}
	e.u.SetErrorHook(func(err error) { s.errs = append(s.errs, err) })
	return s
}

func (s *shadowEnv) register(kinds notifier.Kind) notifier.Handle {
	s.t.Helper()
	h, err := s.as.Register(s.rec, kinds, 0, ^uint64(0))
	if err != nil {
		s.t.Fatal(err)
	}
	return h
}

func (s *shadowEnv) expect(what string, want ...notifier.Event) {
	s.t.Helper()
	got := s.rec.take()
	if diff := cmp.Diff(want, got); diff != "" {
		s.t.Errorf("%s: events (-want +got):\n%s", what, diff)
	}
}

func TestShadowEvents(t *testing.T) {
	s := newShadowEnv(t, DefaultConfig())
	rw, r := notifier.PermRW, notifier.PermRead
	s.mapPage(s.pgd, 4, 0x1000, 0x100000, 4096, slR|slW)
	s.mapPage(s.pgd, 4, 0x200000, 0x400000, 2<<20, slR)
	s.register(notifier.Map | notifier.Unmap)
	s.expect("replay on register", mapEv(0x1000, 0x1000, 0x100000, rw), mapEv(0x200000, 0x200000, 0x400000, r))

	s.q.submit(iotlbPSI(5, 0x1000, 0, false))
	s.expect("PSI of an unchanged page")

	s.mapPage(s.pgd, 4, 0x5000, 0x500000, 4096, slR|slW)
	s.q.submit(iotlbPSI(5, 0x5000, 0, false))
	s.expect("new page", mapEv(0x5000, 0x1000, 0x500000, rw))

	s.mapPage(s.pgd, 4, 0x1000, 0x300000, 4096, slR|slW)
	s.q.submit(iotlbPSI(5, 0x1000, 0, false))
	s.expect("changed address", unmapEv(0x1000, 0x1000), mapEv(0x1000, 0x1000, 0x300000, rw))

	s.mapPage(s.pgd, 4, 0x1000, 0x300000, 4096, slR)
	s.q.submit(iotlbPSI(5, 0x1000, 0, false))
	s.expect("changed permission", unmapEv(0x1000, 0x1000), mapEv(0x1000, 0x1000, 0x300000, r))

	s.store(s.entryAddr(s.pgd, 4, 0x5000, 1), 0)
	s.q.submit(iotlbPSI(5, 0x5000, 0, false))
	s.expect("gone", unmapEv(0x5000, 0x1000))

	s.q.submit(iotlbPSI(5, 0x7000, 0, false))
	s.expect("never mapped")

	s.q.submit(iotlbPSI(6, 0x1000, 4, false))
	s.store(s.entryAddr(s.pgd, 4, 0x1000, 1), 0)
	s.q.submit(iotlbPSI(6, 0x1000, 4, false))
	s.expect("PSI of another domain")
	s.q.submit(iotlbDSI(5))
	s.expect("DSI", unmapEv(0x1000, 0x1000))

	// A wide unmap: the 1 GiB table holding three leaves goes; a PSI of one
	// page reports them all.
	s.mapPage(s.pgd, 4, 0x40000000, 0x600000, 4096, slR|slW)
	s.mapPage(s.pgd, 4, 0x40003000, 0x603000, 4096, slR|slW)
	s.mapPage(s.pgd, 4, 0x40200000, 0x800000, 2<<20, slR|slW)
	s.q.submit(iotlbPSI(5, 0x40000000, 10, false))
	s.expect("three new leaves", mapEv(0x40000000, 0x1000, 0x600000, rw), mapEv(0x40003000, 0x1000, 0x603000, rw), mapEv(0x40200000, 0x200000, 0x800000, rw))
	s.store(s.entryAddr(s.pgd, 4, 0x40000000, 3), 0)
	s.q.submit(iotlbPSI(5, 0x40003000, 0, false))
	s.expect("wide unmap", unmapEv(0x40000000, 0x1000), unmapEv(0x40003000, 0x1000), unmapEv(0x40200000, 0x200000))

	if got := s.as.Mappings(); got != 1 {
		t.Errorf("Mappings() = %d, want 1 (the 2 MiB page)", got)
	}
	if len(s.errs) != 0 {
		t.Errorf("errors: %v", s.errs)
	}
}

// TestShadowRewalksUncovered checks that removing an old mapping that
// reaches beyond the invalidated range walks the rest of it: a 2 MiB leaf
// replaced by a table of 4 KiB leaves, with a PSI of one page only.
func TestShadowRewalksUncovered(t *testing.T) {
	s := newShadowEnv(t, DefaultConfig())
	rw := notifier.PermRW
	s.mapPage(s.pgd, 4, 0x200000, 0x400000, 2<<20, slR|slW)
	s.register(notifier.Map | notifier.Unmap)
	s.expect("replay", mapEv(0x200000, 0x200000, 0x400000, rw))
	s.mapPage(s.pgd, 4, 0x200000, 0x900000, 4096, slR|slW) // replaces the leaf by a table
	s.mapPage(s.pgd, 4, 0x202000, 0x902000, 4096, slR|slW)
	s.mapPage(s.pgd, 4, 0x3ff000, 0xaff000, 4096, slR|slW)
	s.q.submit(iotlbPSI(5, 0x202000, 0, false))
	// The invalidated page first, then the rest of the old leaf below and
	// above it.
	s.expect("PSI inside the old leaf", unmapEv(0x200000, 0x200000), mapEv(0x202000, 0x1000, 0x902000, rw), mapEv(0x200000, 0x1000, 0x900000, rw), mapEv(0x3ff000, 0x1000, 0xaff000, rw))
}

// TestShadowContextChanges checks domain switches, context removal,
// translation and root table changes, and reset.
func TestShadowContextChanges(t *testing.T) {
	s := newShadowEnv(t, DefaultConfig())
	rw := notifier.PermRW
	s.mapPage(s.pgd, 4, 0x1000, 0x100000, 4096, slR|slW)
	pgd2 := s.page()
	s.mapPage(pgd2, 4, 0x1000, 0x200000, 4096, slR|slW)
	s.mapPage(pgd2, 4, 0x2000, 0x201000, 4096, slR|slW)
	s.register(notifier.Map | notifier.Unmap)
	s.expect("replay", mapEv(0x1000, 0x1000, 0x100000, rw))

	s.setContext(s.root, testDev, ctxLo(pgd2, ttMultiLevel, false), ctxHi(2, 9))
	s.q.submit(ccDevice(5, testDev, 0), iotlbDSI(5))
	s.expect("switch to domain 9", unmapEv(0x1000, 0x1000), mapEv(0x1000, 0x1000, 0x200000, rw), mapEv(0x2000, 0x1000, 0x201000, rw))

	s.setContext(s.root, testDev, ctxLo(s.pgd, ttMultiLevel, false), ctxHi(2, 5))
	s.q.submit(ccDomain(8))
	s.expect("domain-selective invalidation of another domain")
	s.q.submit(ccDomain(9))
	s.expect("domain-selective invalidation of the old domain", unmapEv(0x1000, 0x1000), mapEv(0x1000, 0x1000, 0x100000, rw), unmapEv(0x2000, 0x1000))

	s.setContext(s.root, testDev, 0, 0)
	s.q.submit(ccDevice(5, testDev, 0))
	s.expect("context removed", unmapEv(0x1000, 0x1000))

	s.setContext(s.root, testDev, ctxLo(s.pgd, ttMultiLevel, false), ctxHi(2, 5))
	s.q.submit(ccDomain(5))
	s.expect("domain-selective invalidation of the new entry's domain: nothing was cached")
	s.q.submit(ccDomain(0))
	s.expect("domain-selective invalidation of DID 0 (caching mode)", mapEv(0x1000, 0x1000, 0x100000, rw))
	s.setContext(s.root, testDev, 0, 0)
	s.q.submit(ccDevice(5, testDev, 0))
	s.expect("context removed again", unmapEv(0x1000, 0x1000))

	s.setContext(s.root, testDev, ctxLo(0, ttPassThrough, false), ctxHi(2, 5))
	s.q.submit(ccGlobal())
	ram := uint64(len(s.ram))
	s.expect("pass-through", mapEv(0, ram, 0, rw))

	s.setContext(s.root, testDev, ctxLo(s.pgd, ttMultiLevel, false), ctxHi(2, 5))
	s.q.submit(ccGlobal())
	s.expect("back to tables", unmapEv(0, ram), mapEv(0x1000, 0x1000, 0x100000, rw))

	s.gcmd(gcmdTE, false)
	s.expect("translation off", unmapEv(0x1000, 0x1000), mapEv(0, ram, 0, rw))
	s.gcmd(gcmdTE, true)
	s.expect("translation on", unmapEv(0, ram), mapEv(0x1000, 0x1000, 0x100000, rw))

	s.gcmd(gcmdSRTP, true)
	s.expect("SRTP of the same root table")
	root2 := s.page()
	s.w64(RegRTADDR, root2)
	s.gcmd(gcmdSRTP, true)
	s.expect("SRTP of an empty root table", unmapEv(0x1000, 0x1000))
	s.w64(RegRTADDR, s.root)
	s.gcmd(gcmdSRTP, true)
	s.expect("SRTP back", mapEv(0x1000, 0x1000, 0x100000, rw))

	s.u.Reset()
	s.expect("reset", unmapEv(0x1000, 0x1000), mapEv(0, ram, 0, rw))
	if s.r32(RegGSTS) != 0 || s.r64(RegRTADDR) != 0 {
		t.Errorf("after Reset: GSTS %#x RTADDR %#x", s.r32(RegGSTS), s.r64(RegRTADDR))
	}
}

// TestShadowRegisterDisabled checks a MAP registration while translation
// is off is replayed the identity over RAM.
func TestShadowRegisterDisabled(t *testing.T) {
	e := newEnv(t, DefaultConfig(), 1<<20)
	rec := &recorder{}
	as := e.u.AddressSpace(testDev)
	if _, err := as.Register(rec, notifier.Map, 0, ^uint64(0)); err != nil {
		t.Fatal(err)
	}
	want := []notifier.Event{mapEv(0, 1<<20, 0, notifier.PermRW)}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("replay (-want +got):\n%s", diff)
	}
}

// TestShadowUnmapOnly checks notifiers without MAP: raw PSI ranges and
// whole-space UNMAPs for DSI and global invalidations, no page walk.
func TestShadowUnmapOnly(t *testing.T) {
	s := newShadowEnv(t, DefaultConfig())
	s.mapPage(s.pgd, 4, 0x1000, 0x100000, 4096, slR|slW)
	s.register(notifier.Unmap)
	s.expect("registration (no replay)")
	s.q.submit(iotlbPSI(5, 0x4000, 2, false))
	s.expect("PSI", unmapEv(0x4000, 0x4000))
	s.q.submit(iotlbDSI(5))
	s.expect("DSI", unmapEv(0, 1<<63), unmapEv(1<<63, 1<<63))
	s.q.submit(iotlbGlobal())
	s.expect("global", unmapEv(0, 1<<63), unmapEv(1<<63, 1<<63))
	s.q.submit(iotlbDSI(6))
	s.expect("DSI of another domain")
	if s.as.Mappings() != 0 {
		t.Errorf("Mappings() = %d: the tables were walked", s.as.Mappings())
	}
}

// TestShadowDeviceTLB checks DEVIOTLB_UNMAP events and the decoding of the
// device-TLB descriptor's size bit.
func TestShadowDeviceTLB(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DeviceIOTLB = true
	s := newShadowEnv(t, cfg)
	s.register(notifier.DevIOTLBUnmap)
	dev := func(first, size uint64) notifier.Event {
		return notifier.Event{Kind: notifier.DevIOTLBUnmap, SID: testDev, IOVA: first, Size: size}
	}
	tests := []struct {
		addr uint64
		s    bool
		want []notifier.Event
	}{
		{0x5000, false, []notifier.Event{dev(0x5000, 0x1000)}},
		{0x4000, true, []notifier.Event{dev(0x4000, 0x2000)}},
		{0x5000, true, []notifier.Event{dev(0x4000, 0x4000)}},
		{0x7000, true, []notifier.Event{dev(0, 0x10000)}},
		{0x1_2345_7fff_f000, true, []notifier.Event{dev(0x1_2345_0000_0000, 0x1_0000_0000)}},
		{0x3fff_ffff_ffff_f000, true, []notifier.Event{dev(0, 1<<63)}},
		{0x7fff_ffff_ffff_f000, true, []notifier.Event{dev(0, 1<<63), dev(1<<63, 1<<63)}},
		{0xffff_ffff_ffff_f000, true, []notifier.Event{dev(0, 1<<63), dev(1<<63, 1<<63)}},
	}
	for _, tc := range tests {
		s.q.submit(devTLB(testDev, tc.addr, tc.s))
		s.expect(fmt.Sprintf("device-TLB %#x S=%v", tc.addr, tc.s), tc.want...)
	}
	s.q.submit(devTLB(testDev+1, 0x5000, false))
	s.expect("another device")
	s.q.submit(iotlbPSI(5, 0x5000, 0, false))
	s.expect("IOTLB PSI")
}

// TestShadowRegistrationErrors checks the notifier kinds a unit refuses.
func TestShadowRegistrationErrors(t *testing.T) {
	tests := []struct {
		cfg   string
		kinds notifier.Kind
		want  error
	}{
		{"caching-mode=off", notifier.Map | notifier.Unmap, ErrNoCachingMode},
		{"caching-mode=off", notifier.Unmap, nil},
		{"device-iotlb=off", notifier.DevIOTLBUnmap, ErrNoDeviceIOTLB},
		{"device-iotlb=on", notifier.DevIOTLBUnmap, nil},
		{"", 0, notifier.ErrKind},
	}
	for _, tc := range tests {
		cfg, err := ParseConfig(tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		e := newEnv(t, cfg, 1<<20)
		_, err = e.u.AddressSpace(testDev).Register(&recorder{}, tc.kinds, 0, ^uint64(0))
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%q kinds %v: error %v, want %v", tc.cfg, tc.kinds, err, tc.want)
		}
	}
}

// TestShadowMapFailure checks that a refused MAP is left out of the shadow
// and retried by the next synchronisation, and that the failure is
// reported.
func TestShadowMapFailure(t *testing.T) {
	s := newShadowEnv(t, DefaultConfig())
	rw := notifier.PermRW
	s.register(notifier.Map | notifier.Unmap)
	s.rec.failMap = 1
	s.mapPage(s.pgd, 4, 0x1000, 0x100000, 4096, slR|slW)
	s.q.submit(iotlbPSI(5, 0x1000, 0, false))
	s.expect("refused MAP (the hub rolls it back)")
	if len(s.errs) != 1 || !errors.Is(s.errs[0], errRefused) || s.as.Mappings() != 0 {
		t.Fatalf("errors %v, mappings %d", s.errs, s.as.Mappings())
	}
	s.q.submit(iotlbDSI(5))
	s.expect("retried by DSI", mapEv(0x1000, 0x1000, 0x100000, rw))
}

// TestShadowUnregister checks that the shadow is dropped with the last
// MAP notifier and rebuilt for the next one.
func TestShadowUnregister(t *testing.T) {
	s := newShadowEnv(t, DefaultConfig())
	rw := notifier.PermRW
	s.mapPage(s.pgd, 4, 0x1000, 0x100000, 4096, slR|slW)
	h := s.register(notifier.Map | notifier.Unmap)
	s.expect("replay", mapEv(0x1000, 0x1000, 0x100000, rw))
	if !s.as.Unregister(h) || s.as.Unregister(h) {
		t.Fatal("Unregister results")
	}
	if s.as.Mappings() != 0 {
		t.Errorf("shadow kept %d mappings", s.as.Mappings())
	}
	s.mapPage(s.pgd, 4, 0x2000, 0x200000, 4096, slR|slW)
	s.q.submit(iotlbPSI(5, 0x2000, 0, false))
	s.expect("nobody registered")
	second := &recorder{}
	if _, err := s.as.Register(second, notifier.Map, 0, 0xffff); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]notifier.Event{mapEv(0x1000, 0x1000, 0x100000, rw), mapEv(0x2000, 0x1000, 0x200000, rw)}, second.take()); diff != "" {
		t.Errorf("replay to a new notifier (-want +got):\n%s", diff)
	}
	s.register(notifier.Map | notifier.Unmap)
	s.expect("second MAP registration: replay of the same shadow", mapEv(0x1000, 0x1000, 0x100000, rw), mapEv(0x2000, 0x1000, 0x200000, rw))
	if len(second.take()) != 0 {
		t.Error("the replay reached the first notifier too")
	}
}

// TestShadowWalkBudget checks that a self-referencing table stops the
// walk after the budget, treats the rest as unmapped and reports it.
func TestShadowWalkBudget(t *testing.T) {
	defer func(b int) { walkBudget = b }(walkBudget)
	walkBudget = 5000
	s := newShadowEnv(t, DefaultConfig())
	// Every level-4 and level-3 entry points at the level-3 table itself,
	// every level-2 entry at a table of 4 KiB leaves: 2^27 pages.
	l3, l2, l1 := s.page(), s.page(), s.page()
	for i := uint64(0); i < 512; i++ {
		s.store(s.pgd+i*8, l3|slR|slW)
		s.store(l3+i*8, l2|slR|slW)
		s.store(l2+i*8, l1|slR|slW)
		s.store(l1+i*8, 0x100000|slR|slW)
	}
	s.register(notifier.Map | notifier.Unmap)
	evs := s.rec.take()
	if len(evs) == 0 || len(evs) > 5000 || len(s.errs) != 1 {
		t.Fatalf("%d events, errors %v", len(evs), s.errs)
	}
	s.q.submit(iotlbGlobal())
	if evs := s.rec.take(); len(evs) > 2*5000 {
		t.Errorf("%d events after a global invalidation", len(evs))
	}
}
