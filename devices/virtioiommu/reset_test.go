package virtioiommu

import (
	"testing"

	"github.com/govmm/govmm/dma"
)

// TestReset: a device reset leaves no endpoint attached and no domain, and
// keeps the bypass field; the driver starts from scratch.
func TestReset(t *testing.T) {
	for _, bypass := range []byte{0, 1} {
		h := newHarness(t, testConfig(), 0)
		runSteps(t, h, []step{
			{attachReq(1, eps0, 0), StatusOK},
			{attachReq(1, eps1, 0), StatusOK},
			{attachReq(2, eps2, AttachFBypass), StatusOK},
			{mapReq(1, 0x1000, 0x1fff, 0x10000, rw), StatusOK},
		})
		h.d.WriteConfig(ConfigBypassOffset, []byte{bypass})
		h.d.Reset()
		checkInvariants(t, h.d)
		if s := h.d.Stats(); s.Domains != 0 || s.Mappings != 0 {
			t.Fatalf("after reset: %+v", s)
		}
		for _, ep := range []uint32{eps0, eps1, eps2} {
			gpa, _, err := h.as(ep).Translate(0x1000, 4, dma.Read)
			if bypass == 1 && (err != nil || gpa != 0x1000) || bypass == 0 && err == nil {
				t.Fatalf("bypass %d, endpoint %#x after reset: %#x, %v", bypass, ep, gpa, err)
			}
		}
		var b [1]byte
		h.d.ReadConfig(ConfigBypassOffset, b[:])
		if b[0] != bypass {
			t.Fatalf("bypass reads %d after reset, want %d", b[0], bypass)
		}
		// The negotiated features are gone until the next DRIVER_OK:
		// a bypass write is ignored.
		h.d.WriteConfig(ConfigBypassOffset, []byte{1 - bypass})
		if h.d.ReadConfig(ConfigBypassOffset, b[:]); b[0] != bypass {
			t.Fatal("bypass written between reset and DRIVER_OK")
		}
		h.activate()
		h.must(StatusNoEnt, mapReq(1, 0x1000, 0x1fff, 0x10000, rw))
		h.must(StatusInval, detachReq(1, eps0))
		h.must(StatusOK, attachReq(1, eps0, 0))
		h.must(StatusOK, mapReq(1, 0x1000, 0x1fff, 0x10000, rw))
	}
}
