package virtioiommu

import (
	"bytes"
	"testing"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
)

// TestRequestFraming: how the device finds a request and its tail whatever
// the descriptor layout, and what it does with chains it cannot parse.
func TestRequestFraming(t *testing.T) {
	attach := attachReq(1, eps0, 0)
	tests := []struct {
		name   string
		req    []byte
		rsplit []int
		wlen   int
		wsplit []int
		used   uint32
		status Status
	}{
		{name: "linux layout", req: attach, wlen: 4, used: 4, status: StatusOK},
		{name: "readable split in bytes", req: attach, rsplit: []int{1, 1, 1, 1, 4, 4, 4, 4}, wlen: 4, used: 4, status: StatusOK},
		{name: "readable split 3+17", req: attach, rsplit: []int{3, 17}, wlen: 4, used: 4, status: StatusOK},
		{name: "tail split", req: attach, wlen: 4, wsplit: []int{1, 3}, used: 4, status: StatusOK},
		{name: "tail split in bytes", req: attach, wlen: 4, wsplit: []int{1, 1, 1, 1}, used: 4, status: StatusOK},
		{name: "larger writable part", req: attach, wlen: 64, used: 4, status: StatusOK},
		{name: "longer readable part", req: append(append([]byte(nil), attach...), 1, 2, 3, 4), wlen: 4, used: 4, status: StatusOK},
		{name: "head reserved ignored", req: with(with(with(attach, 1, 1), 2, 2), 3, 3), wlen: 4, used: 4, status: StatusOK},
		{name: "short ATTACH", req: attach[:19], wlen: 4, used: 4, status: StatusInval},
		{name: "short MAP", req: mapReq(1, 0, 0xfff, 0, MapFRead)[:35], wlen: 4, used: 4, status: StatusInval},
		{name: "short UNMAP", req: unmapReq(1, 0, 0xfff)[:27], wlen: 4, used: 4, status: StatusInval},
		{name: "short DETACH", req: detachReq(1, eps0)[:8], wlen: 4, used: 4, status: StatusInval},
		{name: "head only", req: attach[:4], wlen: 4, used: 4, status: StatusInval},
		{name: "no head", req: attach[:3], wlen: 4, used: 0},
		{name: "no readable part", req: nil, wlen: 4, used: 0},
		{name: "no room for the tail", req: attach, wlen: 3, used: 0},
		{name: "no writable part", req: attach, wlen: 0, used: 0},
		{name: "unknown type 0", req: with(attach, 0, 0), wlen: 4, used: 0},
		{name: "unknown type 6", req: with(attach, 0, 6), wlen: 4, used: 0},
		{name: "unknown type 255", req: with(attach, 0, 255), wlen: 4, used: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testConfig(), 0)
			used, w := h.submitLayout(tc.req, tc.rsplit, tc.wlen, tc.wsplit)
			if used != tc.used {
				t.Fatalf("used %d, want %d", used, tc.used)
			}
			if used == 0 {
				if !bytes.Equal(w, bytes.Repeat([]byte{hPoison}, tc.wlen)) {
					t.Fatalf("buffer written with used length 0: %x", w)
				}
				if s := h.d.Stats(); s.Failed != 1 {
					t.Fatalf("failed count %d, want 1", s.Failed)
				}
				return
			}
			if got := Status(w[0]); got != tc.status || w[1]|w[2]|w[3] != 0 {
				t.Fatalf("tail %x, want status %v", w[:4], tc.status)
			}
			if !bytes.Equal(w[4:], bytes.Repeat([]byte{hPoison}, len(w)-4)) {
				t.Fatalf("bytes written past the tail: %x", w[4:])
			}
			checkInvariants(t, h.d)
		})
	}
}

// TestStats: requests counted by type, failures counted.
func TestStats(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	h.must(StatusOK, attachReq(1, eps0, 0))
	h.must(StatusOK, mapReq(1, 0, 0xfff, 0, MapFRead))
	h.must(StatusOK, mapReq(1, 0x1000, 0x1fff, 0, MapFRead))
	h.must(StatusInval, mapReq(1, 0x1000, 0x1fff, 0, MapFRead))
	h.must(StatusOK, unmapReq(1, 0, 0xfff))
	h.probe(eps0)
	h.submit(with(attachReq(0, 0, 0), 0, 9), 4)
	s := h.d.Stats()
	want := [TypeProbe + 1]uint64{1, 1, 0, 3, 1, 1}
	if s.Requests != want || s.Failed != 2 || s.Domains != 1 || s.Mappings != 1 {
		t.Fatalf("stats %+v; want requests %v, 2 failed, 1 domain, 1 mapping", s, want)
	}
}

func TestStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{TypeAttach.String(), "ATTACH"},
		{TypeProbe.String(), "PROBE"},
		{RequestType(9).String(), "type(9)"},
		{StatusOK.String(), "OK"},
		{StatusNoMem.String(), "NOMEM"},
		{Status(42).String(), "status(42)"},
		{FaultReasonMapping.String(), "mapping"},
		{FaultReason(7).String(), "reason(7)"},
		{Fault{Reason: FaultReasonDomain, Flags: FaultFRead | FaultFWrite | FaultFAddress, Endpoint: 24, Address: 0x1000}.String(), "domain fault from EP 24 at 0x1000 [RW]"},
		{Region{1, 2}.String(), "[0x1, 0x2]"},
		{describe(mapReq(1, 0x1000, 0x1fff, 0xa000, 1)), "MAP domain 1 [0x1000, 0x1fff] -> 0xa000 flags 0x1"},
		{describe(unmapReq(2, 0, 0xfff)), "UNMAP domain 2 [0x0, 0xfff]"},
		{describe(attachReq(1, 8, 0)), "ATTACH endpoint 0x8 to domain 1 flags 0x0"},
		{describe(detachReq(1, 8)), "DETACH endpoint 0x8 from domain 1"},
		{describe(probeReq(8)), "PROBE endpoint 0x8"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestIndirectRequest: a request in an indirect descriptor table is served
// like any other (the raw fuzz seeds rely on it).
func TestIndirectRequest(t *testing.T) {
	feats := allFeats | virtio.FeatureIndirectDesc
	for _, tc := range []struct {
		req    []byte
		wlen   uint32
		status Status
	}{
		{attachReq(1, eps0, 0), 4, StatusOK},
		{probeReq(eps2), ProbePropertiesSize + 4, StatusOK},
		{probeReq(epUnknown), ProbePropertiesSize + 4, StatusNoEnt},
	} {
		mem, q, r, err := virtiotest.RawQueue(rawIndirectSeed(tc.req, tc.wlen), feats)
		if err != nil {
			t.Fatal(err)
		}
		d, err := New(testConfig(), mem)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Activate(&virtio.Activation{Features: feats, Queues: []*virtio.Queue{q, nil}}); err != nil {
			t.Fatal(err)
		}
		if err := d.Process(q); err != nil {
			t.Fatal(err)
		}
		_, used, err := r.UsedElem(0)
		if err != nil || used != tc.wlen {
			t.Fatalf("%s: used %d, %v; want %d", describe(tc.req), used, err, tc.wlen)
		}
		tail := make([]byte, 4)
		if err := mem.ReadAt(tail, virtiotest.RawPayload+0x1000+uint64(tc.wlen)-4); err != nil || Status(tail[0]) != tc.status {
			t.Fatalf("%s: tail %x, want %v", describe(tc.req), tail, tc.status)
		}
	}
}
