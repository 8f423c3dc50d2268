package virtioiommu

import (
	"testing"

	"github.com/govmm/govmm/dma"
)

// step is one request of a sequence and the status it must get.
type step struct {
	req  []byte
	want Status
}

func runSteps(t *testing.T, h *harness, steps []step) {
	t.Helper()
	for i, s := range steps {
		if got := h.do(s.req); got != s.want {
			t.Fatalf("step %d, %s: status %v, want %v", i, describe(s.req), got, s.want)
		}
		checkInvariants(t, h.d)
	}
}

// TestQEMUAttachDetach is QEMU's qtest attach_detach sequence.
func TestQEMUAttachDetach(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	runSteps(t, h, []step{
		{attachReq(0, eps0, 0), StatusOK},                                  // attach
		{attachReq(0, epUnknown, 0), StatusNoEnt},                          // attach endpoint 444
		{detachReq(0, epUnknown), StatusNoEnt},                             // detach an unknown endpoint
		{attachReq(1, eps0, 0), StatusOK},                                  // move ep0 from d0 to d1
		{detachReq(0, eps0), StatusInval},                                  // detach ep0 from d0
		{detachReq(1, eps0), StatusOK},                                     // detach ep0 from d1
		{attachReq(0, eps0, 0), StatusOK},                                  // map twice, then detach
		{mapReq(0, 0, 0xfff, 0xa0000, MapFRead), StatusOK},                 //
		{mapReq(0, 0x2000, 0x2fff, 0xb0000, MapFRead|MapFWrite), StatusOK}, //
		{detachReq(0, eps0), StatusOK},                                     //
		{mapReq(0, 0x4000, 0x4fff, 0xc0000, MapFRead), StatusNoEnt},        // the domain is gone
		{attachReq(0, eps0, 0), StatusOK},                                  // ID reused: a new, empty domain
		{mapReq(0, 0, 0xfff, 0xa0000, MapFRead), StatusOK},                 // no overlap with the old mapping
		{unmapReq(0, 0, maxU64), StatusOK},                                 //
		{detachReq(0, eps0), StatusOK},                                     //
		{detachReq(0, eps0), StatusInval},                                  // no such domain any more
		{attachReq(5, eps1, 0), StatusOK},                                  //
		{detachReq(5, eps0), StatusInval},                                  // domain exists, endpoint not in it
		{detachReq(5, eps1), StatusOK},                                     //
	})
	if s := h.d.Stats(); s.Domains != 0 || s.Mappings != 0 {
		t.Fatalf("after detaching everything: %d domains, %d mappings", s.Domains, s.Mappings)
	}
}

func TestAttachChecks(t *testing.T) {
	type setup func(h *harness)
	bypassDomain := func(h *harness) { h.must(StatusOK, attachReq(1, eps1, AttachFBypass)) }
	plainDomain := func(h *harness) { h.must(StatusOK, attachReq(1, eps1, 0)) }
	narrow := testConfig()
	narrow.DomainRange = [2]uint32{10, 20}
	tests := []struct {
		name     string
		cfg      *Config
		features uint64
		setup    setup
		req      []byte
		want     Status
		attached int64 // domain eps0 must be in afterwards, -1 for none
	}{
		{name: "ok", req: attachReq(1, eps0, 0), want: StatusOK, attached: 1},
		{name: "reserved byte 16", req: with(attachReq(1, eps0, 0), 16, 1), want: StatusInval, attached: -1},
		{name: "reserved byte 19", req: with(attachReq(1, eps0, 0), 19, 0x80), want: StatusInval, attached: -1},
		{name: "unknown flag bit 1", req: attachReq(1, eps0, 2), want: StatusInval, attached: -1},
		{name: "unknown flag bit 31", req: attachReq(1, eps0, 1<<31), want: StatusInval, attached: -1},
		{name: "bypass flag without BYPASS_CONFIG", features: allFeats &^ FeatureBypassConfig, req: attachReq(1, eps0, AttachFBypass), want: StatusInval, attached: -1},
		{name: "bypass flag", req: attachReq(1, eps0, AttachFBypass), want: StatusOK, attached: 1},
		{name: "unknown endpoint", req: attachReq(1, epUnknown, 0), want: StatusNoEnt, attached: -1},
		{name: "unknown endpoint and bad flag", req: attachReq(1, epUnknown, 4), want: StatusInval, attached: -1},
		{name: "domain below range", cfg: &narrow, req: attachReq(9, eps0, 0), want: StatusRange, attached: -1},
		{name: "domain above range", cfg: &narrow, req: attachReq(21, eps0, 0), want: StatusRange, attached: -1},
		{name: "domain at range end", cfg: &narrow, req: attachReq(20, eps0, 0), want: StatusOK, attached: 20},
		{name: "bypass flag on a translated domain", setup: plainDomain, req: attachReq(1, eps0, AttachFBypass), want: StatusInval, attached: -1},
		{name: "no flag on a bypass domain", setup: bypassDomain, req: attachReq(1, eps0, 0), want: StatusInval, attached: -1},
		{name: "join a bypass domain", setup: bypassDomain, req: attachReq(1, eps0, AttachFBypass), want: StatusOK, attached: 1},
		{name: "join a translated domain", setup: plainDomain, req: attachReq(1, eps0, 0), want: StatusOK, attached: 1},
		{name: "head reserved ignored", req: with(with(attachReq(1, eps0, 0), 1, 0xff), 3, 0xff), want: StatusOK, attached: 1},
		{name: "twice", setup: func(h *harness) { h.must(StatusOK, attachReq(1, eps0, 0)) }, req: attachReq(1, eps0, 0), want: StatusOK, attached: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			if tc.cfg != nil {
				cfg = *tc.cfg
			}
			h := newHarness(t, cfg, tc.features)
			if tc.setup != nil {
				tc.setup(h)
			}
			h.must(tc.want, tc.req)
			checkInvariants(t, h.d)
			ep := h.as(eps0)
			h.d.mu.Lock()
			got := int64(-1)
			if ep.dom != nil {
				got = int64(ep.dom.id)
			}
			h.d.mu.Unlock()
			if got != tc.attached {
				t.Fatalf("endpoint attached to %d, want %d", got, tc.attached)
			}
		})
	}
}

// TestImplicitDetach: attaching an attached endpoint to another domain
// detaches it first; its old domain, left without endpoints, ceases to
// exist with its mappings, and translations follow the new domain.
func TestImplicitDetach(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	runSteps(t, h, []step{
		{attachReq(1, eps0, 0), StatusOK},
		{mapReq(1, 0x1000, 0x1fff, 0x11000, MapFRead), StatusOK},
		{attachReq(2, eps0, 0), StatusOK},
		{mapReq(1, 0x3000, 0x3fff, 0x13000, MapFRead), StatusNoEnt},
		{mapReq(2, 0x2000, 0x2fff, 0x22000, MapFRead), StatusOK},
	})
	as := h.as(eps0)
	if _, _, err := as.Translate(0x1000, 1, dma.Read); err == nil {
		t.Fatal("old domain's mapping still translates")
	}
	if gpa, _, err := as.Translate(0x2010, 1, dma.Read); err != nil || gpa != 0x22010 {
		t.Fatalf("new domain: %#x, %v", gpa, err)
	}
	if s := h.d.Stats(); s.Domains != 1 || s.Mappings != 1 {
		t.Fatalf("%d domains, %d mappings; want 1, 1", s.Domains, s.Mappings)
	}
	// Moving into a bypass domain and back out.
	runSteps(t, h, []step{
		{attachReq(3, eps0, AttachFBypass), StatusOK},
		{mapReq(2, 0x2000, 0x2fff, 0x22000, MapFRead), StatusNoEnt},
	})
	if gpa, _, err := as.Translate(0x2010, 1, dma.Write); err != nil || gpa != 0x2010 {
		t.Fatalf("bypass domain: %#x, %v; want the identity", gpa, err)
	}
}

// TestDomainLifetime: a domain shared by two endpoints survives the
// detach of one and dies with the other.
func TestDomainLifetime(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	runSteps(t, h, []step{
		{attachReq(7, eps0, 0), StatusOK},
		{attachReq(7, eps1, 0), StatusOK},
		{mapReq(7, 0x10000, 0x1ffff, 0x40000, MapFRead|MapFWrite), StatusOK},
	})
	for _, ep := range []uint32{eps0, eps1} {
		if gpa, n, err := h.as(ep).Translate(0x10800, 0x10000, dma.Write); err != nil || gpa != 0x40800 || n != 0xf800 {
			t.Fatalf("endpoint %#x: %#x, %#x, %v", ep, gpa, n, err)
		}
	}
	runSteps(t, h, []step{
		{detachReq(7, eps0), StatusOK},
		{mapReq(7, 0x20000, 0x20fff, 0x50000, MapFRead), StatusOK}, // still there
		{detachReq(7, eps1), StatusOK},
		{mapReq(7, 0x30000, 0x30fff, 0x50000, MapFRead), StatusNoEnt}, // gone
		{unmapReq(7, 0, maxU64), StatusNoEnt},
		{attachReq(7, eps2, AttachFBypass), StatusOK}, // the ID is free for another kind of domain
	})
	// eps0 fell back to bypass (bypass field 1) when detached.
	if gpa, _, err := h.as(eps0).Translate(0x10800, 1, dma.Write); err != nil || gpa != 0x10800 {
		t.Fatalf("detached endpoint: %#x, %v; want the identity", gpa, err)
	}
}

func TestDetachChecks(t *testing.T) {
	tests := []struct {
		name string
		req  []byte
		want Status
	}{
		{"ok", detachReq(1, eps0), StatusOK},
		{"reserved ignored", with(with(detachReq(1, eps0), 12, 0xff), 19, 1), StatusOK},
		{"unknown endpoint", detachReq(1, epUnknown), StatusNoEnt},
		{"unknown endpoint, unknown domain", detachReq(9, epUnknown), StatusNoEnt},
		{"unknown domain", detachReq(9, eps0), StatusInval},
		{"other endpoint's domain", detachReq(2, eps0), StatusInval},
		{"unattached endpoint", detachReq(1, eps2), StatusInval},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testConfig(), 0)
			h.must(StatusOK, attachReq(1, eps0, 0))
			h.must(StatusOK, attachReq(2, eps1, 0))
			h.must(tc.want, tc.req)
			checkInvariants(t, h.d)
			h.d.mu.Lock()
			attached := h.d.eps[eps0].dom != nil
			h.d.mu.Unlock()
			if attached != (tc.want != StatusOK) {
				t.Fatalf("endpoint still attached: %v", attached)
			}
		})
	}
}
