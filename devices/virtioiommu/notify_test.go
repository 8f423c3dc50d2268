package virtioiommu

import (
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/govmm/govmm/notifier"
	"github.com/govmm/govmm/notifier/checker"
)

// domainView returns the coalesced non-MMIO mappings of domain id, as a
// host consumer should hold them.
func (h *harness) domainView(id uint32) []checker.Mapping {
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	var ms []checker.Mapping
	if dom := h.d.domains[id]; dom != nil {
		for m := range dom.tree.All() {
			if !dom.isMMIO(m.IOVA) {
				ms = append(ms, checker.Mapping{IOVA: m.IOVA, Size: m.Size, Addr: m.Addr, Perm: notifier.Perm(m.Perm)})
			}
		}
	}
	return checker.Coalesce(ms)
}

// ramIdentity is the bypass view of a harness: the identity over its RAM.
var ramIdentity = []checker.Mapping{{IOVA: 0, Size: hRAMSize, Addr: 0, Perm: notifier.PermRW}}

type hostView interface {
	Mappings() []checker.Mapping
	Err() error
}

func expectView(t *testing.T, what string, c hostView, want []checker.Mapping) {
	t.Helper()
	if err := c.Err(); err != nil {
		t.Fatalf("%s: the host refused an event: %v", what, err)
	}
	if diff := cmp.Diff(want, checker.Coalesce(c.Mappings())); diff != "" {
		t.Fatalf("%s: host view (-want +got):\n%s", what, diff)
	}
}

func register(t *testing.T, h *harness, ep uint32, n notifier.Notifier, kinds notifier.Kind) notifier.Handle {
	t.Helper()
	id, err := h.as(ep).Register(n, kinds, 0, math.MaxUint64)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestNotifyFollowsDomain: a VFIO type1 container and an iommufd IOAS on
// an endpoint hold exactly the domain's mappings through MAP, UNMAP of
// single, adjacent and odd-sized mappings, and MMIO mappings (which are
// never reported): MAP and UNMAP are split the same way, so no unmap
// bisects a mapping (cloud-hypervisor's remove_external_mapping too).
func TestNotifyFollowsDomain(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	h.must(StatusOK, attachReq(1, eps0, 0))
	t1 := &checker.Type1{Reserved: []checker.Range{checker.X86MSIWindow}}
	fd := &checker.IOMMUFD{Reserved: []checker.Range{checker.X86MSIWindow}}
	register(t, h, eps0, t1, notifier.Map|notifier.Unmap)
	register(t, h, eps0, fd, notifier.Map|notifier.Unmap)
	steps := []step{
		{mapReq(1, 0x1000, 0x3fff, 0x101000, rw), StatusOK},        // 3 pages: blocks 0x1000 + 0x2000
		{mapReq(1, 0x4000, 0x4fff, 0x200000, MapFRead), StatusOK},  // adjacent, other GPA and permission
		{mapReq(1, 0x5000, 0x7fff, 0x205000, MapFWrite), StatusOK}, //
		{mapReq(1, 0x10000, 0x2ffff, 0x300000, rw), StatusOK},      //
		{mapReq(1, 0xc0000000, 0xc0000fff, 0xc0000000, rw|MapFMMIO), StatusOK},
		{mapReq(1, 0x100000000, 0x1001fffff, 0x400000, rw), StatusOK}, // 2 MiB
	}
	for i, s := range steps {
		h.must(s.want, s.req)
		expectView(t, "type1 after map "+describe(s.req), t1, h.domainView(1))
		expectView(t, "iommufd after map "+describe(steps[i].req), fd, h.domainView(1))
	}
	for _, u := range []struct{ first, last uint64 }{
		{0x4000, 0x4fff},           // one in the middle
		{0x1000, 0x3fff},           // the odd-sized one
		{0x5000, 0x2ffff},          // two with a hole between
		{0xc0000000, 0xc0000fff},   // MMIO: nothing to tell
		{0x100000000, 0x1001fffff}, //
		{0, math.MaxUint64},        // nothing left
	} {
		h.must(StatusOK, unmapReq(1, u.first, u.last))
		expectView(t, "type1 after unmap", t1, h.domainView(1))
		expectView(t, "iommufd after unmap", fd, h.domainView(1))
	}
	if c := t1.Counts(); c.EmptyUnmaps != 0 {
		t.Fatalf("%d unmaps of nothing reached the container", c.EmptyUnmaps)
	}
}

// TestNotifyReplay: a Map registration first receives what the endpoint
// can reach: the domain's mappings, the identity over RAM in bypass mode,
// nothing when blocked.
func TestNotifyReplay(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	runSteps(t, h, []step{
		{attachReq(1, eps0, 0), StatusOK},
		{mapReq(1, 0x1000, 0x1fff, 0x10000, rw), StatusOK},
		{mapReq(1, 0x2000, 0x5fff, 0x20000, MapFRead), StatusOK},
		{mapReq(1, 0x8000, 0x8fff, 0xfe000000, rw|MapFMMIO), StatusOK},
		{attachReq(2, eps1, AttachFBypass), StatusOK},
	})
	for _, tc := range []struct {
		ep   uint32
		want []checker.Mapping
	}{
		{eps0, h.domainView(1)},
		{eps1, ramIdentity}, // bypass domain
		{eps2, ramIdentity}, // unattached, bypass 1
	} {
		c := &checker.Type1{}
		register(t, h, tc.ep, c, notifier.Map)
		expectView(t, "replay", c, tc.want)
	}
	h.d.WriteConfig(ConfigBypassOffset, []byte{0})
	c := &checker.Type1{}
	register(t, h, eps2, c, notifier.Map)
	expectView(t, "replay of a blocked endpoint", c, nil)
}

// TestNotifyAttachDetach: an endpoint's consumers follow it from bypass
// into a domain (implicit detach included) and back out.
func TestNotifyAttachDetach(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	runSteps(t, h, []step{
		{attachReq(1, eps0, 0), StatusOK},
		{mapReq(1, 0x1000, 0x2fff, 0x10000, rw), StatusOK},
		{attachReq(2, eps2, 0), StatusOK},
		{mapReq(2, 0x7000, 0x7fff, 0x70000, MapFRead), StatusOK},
	})
	c := &checker.IOMMUFD{}
	register(t, h, eps1, c, notifier.Map|notifier.Unmap)
	expectView(t, "unattached", c, ramIdentity)
	h.must(StatusOK, attachReq(1, eps1, 0))
	expectView(t, "attached to domain 1", c, h.domainView(1))
	h.must(StatusOK, mapReq(1, 0x4000, 0x4fff, 0x40000, rw)) // fanned out to both endpoints
	expectView(t, "after a MAP on the shared domain", c, h.domainView(1))
	h.must(StatusOK, attachReq(2, eps1, 0)) // implicit detach from 1
	expectView(t, "moved to domain 2", c, h.domainView(2))
	h.must(StatusOK, attachReq(3, eps1, AttachFBypass))
	expectView(t, "bypass domain", c, ramIdentity)
	h.d.WriteConfig(ConfigBypassOffset, []byte{0})
	h.must(StatusOK, detachReq(3, eps1))
	expectView(t, "detached, bypass off", c, nil)
	h.d.WriteConfig(ConfigBypassOffset, []byte{1})
	expectView(t, "bypass back on", c, ramIdentity)
}

// failing is a notifier that applies events to a Type1 container but,
// once armed, refuses events of the kinds in refuse that touch [lo, hi].
type failing struct {
	checker.Type1
	mu     sync.Mutex
	refuse notifier.Kind
	lo, hi uint64
}

var errRefused = errors.New("refused by the test")

func (f *failing) Notify(ev notifier.Event) error {
	f.mu.Lock()
	refuse := f.refuse&ev.Kind != 0 && ev.IOVA <= f.hi && ev.Last() >= f.lo
	f.mu.Unlock()
	if refuse {
		return errRefused
	}
	return f.Type1.Notify(ev)
}

// arm refuses every event of the kinds in k (0: none).
func (f *failing) arm(k notifier.Kind) { f.armRange(k, 0, math.MaxUint64) }

// armRange refuses the events of the kinds in k that touch [lo, hi].
func (f *failing) armRange(k notifier.Kind, lo, hi uint64) {
	f.mu.Lock()
	f.refuse, f.lo, f.hi = k, lo, hi
	f.mu.Unlock()
}

// TestNotifyMapRollback: a MAP that one endpoint's consumer refuses fails
// with DEVERR; every consumer that took it unmaps it again and the domain
// is unchanged.
func TestNotifyMapRollback(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	var hooked []error
	h.d.SetErrorHook(func(err error) { hooked = append(hooked, err) })
	runSteps(t, h, []step{
		{attachReq(1, eps0, 0), StatusOK},
		{attachReq(1, eps1, 0), StatusOK},
		{attachReq(1, eps2, 0), StatusOK},
		{mapReq(1, 0x1000, 0x1fff, 0x10000, rw), StatusOK},
	})
	ok0, ok2 := &checker.Type1{}, &checker.Type1{}
	bad := &failing{}
	register(t, h, eps0, ok0, notifier.Map|notifier.Unmap)
	register(t, h, eps1, bad, notifier.Map|notifier.Unmap)
	register(t, h, eps2, ok2, notifier.Map|notifier.Unmap)
	before := h.domainView(1)
	bad.arm(notifier.Map)
	h.must(StatusDevErr, mapReq(1, 0x10000, 0x1ffff, 0x100000, rw))
	checkInvariants(t, h.d)
	if diff := cmp.Diff(before, h.domainView(1)); diff != "" {
		t.Fatalf("domain changed (-before +after):\n%s", diff)
	}
	expectView(t, "endpoint before the refusal", ok0, before)
	expectView(t, "refusing endpoint", &bad.Type1, before)
	expectView(t, "endpoint after the refusal (never told)", ok2, before)
	if len(hooked) != 1 || !errors.Is(hooked[0], errRefused) {
		t.Fatalf("error hook got %v", hooked)
	}
	// The same MAP succeeds once the consumer accepts it again.
	bad.arm(0)
	h.must(StatusOK, mapReq(1, 0x10000, 0x1ffff, 0x100000, rw))
	for _, c := range []hostView{ok0, &bad.Type1, ok2} {
		expectView(t, "after retry", c, h.domainView(1))
	}
}

// TestNotifyAttachRollback: an ATTACH whose replay a consumer refuses
// fails with DEVERR and leaves the endpoint where it was.
func TestNotifyAttachRollback(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	runSteps(t, h, []step{
		{attachReq(1, eps0, 0), StatusOK},
		{mapReq(1, 0x1000, 0x1fff, 0x10000, rw), StatusOK},
		{mapReq(1, 0x3000, 0x3fff, 0x30000, rw), StatusOK},
		{attachReq(2, eps1, 0), StatusOK},
		{mapReq(2, 0x9000, 0x9fff, 0x90000, rw), StatusOK},
	})
	bad := &failing{}
	register(t, h, eps1, bad, notifier.Map|notifier.Unmap)
	expectView(t, "in domain 2", &bad.Type1, h.domainView(2))
	// Domain 1's second mapping is refused: its first is unmapped again,
	// and domain 2's mappings are given back.
	bad.armRange(notifier.Map, 0x3000, 0x3fff)
	h.must(StatusDevErr, attachReq(1, eps1, 0))
	checkInvariants(t, h.d)
	h.d.mu.Lock()
	dom := h.d.eps[eps1].dom
	h.d.mu.Unlock()
	if dom == nil || dom.id != 2 {
		t.Fatalf("endpoint left domain 2 (now %v)", dom)
	}
	expectView(t, "back in domain 2", &bad.Type1, h.domainView(2))
	// A consumer that refuses every Map cannot even be given its old
	// mappings back: the failure goes to the error hook.
	var hooked []error
	h.d.SetErrorHook(func(err error) { hooked = append(hooked, err) })
	bad.arm(notifier.Map)
	h.must(StatusDevErr, attachReq(1, eps1, 0))
	if len(hooked) != 2 {
		t.Fatalf("error hook got %v, want the refusal and the failed restore", hooked)
	}
	// A new domain has nothing to map: moving there succeeds, and domain
	// 2, left empty, ceases to exist.
	h.must(StatusOK, attachReq(5, eps1, 0))
	if s := h.d.Stats(); s.Domains != 2 {
		t.Fatalf("%d domains, want 2 (1 and 5)", s.Domains)
	}
}

// TestNotifyUnmapFailure: an unmap a consumer fails still removes the
// mappings (guest and device agree); the request reports DEVERR.
func TestNotifyUnmapFailure(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	var hooked []error
	h.d.SetErrorHook(func(err error) { hooked = append(hooked, err) })
	runSteps(t, h, []step{
		{attachReq(1, eps0, 0), StatusOK},
		{mapReq(1, 0x1000, 0x1fff, 0x10000, rw), StatusOK},
	})
	bad := &failing{}
	register(t, h, eps0, bad, notifier.Map|notifier.Unmap)
	bad.arm(notifier.Unmap)
	h.must(StatusDevErr, unmapReq(1, 0, math.MaxUint64))
	if n := len(h.mappings(1)); n != 0 {
		t.Fatalf("%d mappings left", n)
	}
	if len(hooked) != 1 || !errors.Is(hooked[0], errRefused) {
		t.Fatalf("error hook got %v", hooked)
	}
	h.d.SetErrorHook(nil)
}

// TestNotifyReset: a reset unmaps the domains' mappings from the consumers
// and, with bypass on, gives them the identity again; SystemReset restores
// the bypass default.
func TestNotifyReset(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	runSteps(t, h, []step{
		{attachReq(1, eps0, 0), StatusOK},
		{mapReq(1, 0x1000, 0x1fff, 0x10000, rw), StatusOK},
	})
	c := &checker.Type1{}
	register(t, h, eps0, c, notifier.Map|notifier.Unmap)
	h.d.WriteConfig(ConfigBypassOffset, []byte{0})
	h.d.Reset()
	checkInvariants(t, h.d)
	expectView(t, "after reset, bypass 0 kept", c, nil)
	if s := h.d.Stats(); s.Domains != 0 || s.Mappings != 0 {
		t.Fatalf("after reset: %+v", s)
	}
	var b [1]byte
	h.d.ReadConfig(ConfigBypassOffset, b[:])
	if b[0] != 0 {
		t.Fatalf("bypass %d after a device reset, want 0 (sticky)", b[0])
	}
	checkBypassBehaviour(t, h.d, 0)
	h.d.SystemReset()
	h.d.ReadConfig(ConfigBypassOffset, b[:])
	if b[0] != 1 {
		t.Fatalf("bypass %d after a system reset, want 1", b[0])
	}
	checkBypassBehaviour(t, h.d, 1)
	expectView(t, "after system reset", c, ramIdentity)
}

// TestNotifyNoMemory: without guest memory to enumerate, bypass mode
// replays nothing and leaving it unmaps the whole space.
func TestNotifyNoMemory(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	h.d.mem = nil
	var evs []notifier.Event
	rec := notifier.Func(func(ev notifier.Event) error { evs = append(evs, ev); return nil })
	register(t, h, eps0, rec, notifier.Map|notifier.Unmap)
	if len(evs) != 0 {
		t.Fatalf("replay of bypass without memory: %v", evs)
	}
	h.must(StatusOK, attachReq(1, eps0, 0))
	want := []notifier.Event{
		{Kind: notifier.Unmap, SID: eps0, IOVA: 0, Size: 1 << 63},
		{Kind: notifier.Unmap, SID: eps0, IOVA: 1 << 63, Size: 1 << 63},
	}
	if diff := cmp.Diff(want, evs); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
}

func TestRegister(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	as := h.as(eps0)
	if _, err := as.Register(&checker.Type1{}, notifier.DevIOTLBUnmap, 0, math.MaxUint64); !errors.Is(err, ErrNoDeviceIOTLB) {
		t.Fatalf("DEVIOTLB_UNMAP: %v", err)
	}
	if _, err := as.Register(nil, notifier.Map, 0, math.MaxUint64); !errors.Is(err, notifier.ErrNilNotifier) {
		t.Fatalf("nil notifier: %v", err)
	}
	var n int
	id := register(t, h, eps0, notifier.Func(func(notifier.Event) error { n++; return nil }), notifier.Unmap)
	h.must(StatusOK, attachReq(1, eps0, 0))
	if n == 0 {
		t.Fatal("no unmap when leaving bypass")
	}
	if !as.Unregister(id) || as.Unregister(id) {
		t.Fatal("Unregister")
	}
	n = 0
	h.must(StatusOK, detachReq(1, eps0))
	if n != 0 {
		t.Fatal("event after Unregister")
	}
}
