package virtioiommu

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// resvProp is a RESV_MEM property as the driver parses it.
type resvProp struct {
	subtype     uint8
	first, last uint64
}

// parseProps walks a PROBE properties field as Linux's
// viommu_probe_endpoint does (each property length+4 bytes after the
// previous, type 0 ends the list) and checks the reserved bits and bytes.
func parseProps(t *testing.T, p []byte) []resvProp {
	t.Helper()
	var out []resvProp
	le := binary.LittleEndian
	for cur := 0; cur+4 <= len(p); {
		typ, n := le.Uint16(p[cur:]), int(le.Uint16(p[cur+2:]))
		if typ == 0 {
			if !bytes.Equal(p[cur:], make([]byte, len(p)-cur)) {
				t.Fatalf("non-zero bytes after the last property at %d", cur)
			}
			return out
		}
		if typ&0xf000 != 0 {
			t.Fatalf("property at %d has reserved type bits: %#x", cur, typ)
		}
		if typ != ProbeTypeResvMem || n != 20 || cur+4+n > len(p) {
			t.Fatalf("property at %d: type %d length %d", cur, typ, n)
		}
		b := p[cur : cur+24]
		if b[5] != 0 || b[6] != 0 || b[7] != 0 {
			t.Fatalf("RESV_MEM at %d: reserved bytes %x", cur, b[5:8])
		}
		out = append(out, resvProp{b[4], le.Uint64(b[8:]), le.Uint64(b[16:])})
		cur += 4 + n
	}
	return out
}

func TestProbe(t *testing.T) {
	cfg := testConfig()
	cfg.Reserved = []Region{{0x1_0000_0000, 0x1_0fff_ffff}, {0x8000000, 0x80fffff}}
	h := newHarness(t, cfg, 0)
	for _, ep := range []uint32{eps0, eps1, eps2} {
		st, props := h.probe(ep)
		if st != StatusOK {
			t.Fatalf("PROBE %#x: %v", ep, st)
		}
		got := parseProps(t, props)
		want := []resvProp{
			{ResvMemReserved, 0x8000000, 0x80fffff},
			{ResvMemMSI, 0xfee00000, 0xfeefffff},
			{ResvMemReserved, 0x1_0000_0000, 0x1_0fff_ffff},
		}
		if len(got) != len(want) {
			t.Fatalf("properties %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("property %d: %+v, want %+v", i, got[i], want[i])
			}
		}
		msi := 0
		for _, p := range got {
			if p.subtype == ResvMemMSI {
				msi++
			}
		}
		if msi != 1 {
			t.Fatalf("%d MSI properties, want exactly 1", msi)
		}
	}
	// The reserved field of the request (bytes 8-71) is ignored.
	req := probeReq(eps0)
	for i := 8; i < len(req); i++ {
		req[i] = 0xff
	}
	used, w := h.submit(req, ProbePropertiesSize+TailSize)
	if used != ProbePropertiesSize+TailSize || Status(w[ProbePropertiesSize]) != StatusOK {
		t.Fatalf("PROBE with reserved bytes set: used %d, status %v", used, Status(w[ProbePropertiesSize]))
	}
}

// TestProbeX86Default: without extra reserved regions an endpoint gets
// exactly one property, the x86 MSI window, bytes checked one by one.
func TestProbeX86Default(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	st, props := h.probe(eps1)
	if st != StatusOK {
		t.Fatal(st)
	}
	want := make([]byte, ProbePropertiesSize)
	copy(want, []byte{
		1, 0, 20, 0, // type RESV_MEM, length 20
		1, 0, 0, 0, // subtype MSI, reserved
		0, 0, 0xe0, 0xfe, 0, 0, 0, 0, // start 0xfee00000
		0xff, 0xff, 0xef, 0xfe, 0, 0, 0, 0, // end 0xfeefffff
	})
	if !bytes.Equal(props, want) {
		t.Fatalf("properties\n%x\nwant\n%x", props[:32], want[:32])
	}
}

func TestProbeErrors(t *testing.T) {
	tests := []struct {
		name     string
		features uint64
		req      []byte
		wlen     int
		used     uint32
		status   Status // at offset used-4, if used > 0
	}{
		{name: "unknown endpoint", req: probeReq(epUnknown), wlen: ProbePropertiesSize + 4, used: ProbePropertiesSize + 4, status: StatusNoEnt},
		{name: "short buffer", req: probeReq(eps0), wlen: ProbePropertiesSize, used: ProbePropertiesSize, status: StatusInval},
		{name: "tail only", req: probeReq(eps0), wlen: 4, used: 4, status: StatusInval},
		{name: "one property's room", req: probeReq(eps0), wlen: 28, used: 28, status: StatusInval},
		{name: "short buffer, unknown endpoint", req: probeReq(epUnknown), wlen: 100, used: 100, status: StatusInval},
		{name: "no room for a tail", req: probeReq(eps0), wlen: 3, used: 0},
		{name: "short request", req: probeReq(eps0)[:71], wlen: ProbePropertiesSize + 4, used: ProbePropertiesSize + 4, status: StatusInval},
		{name: "larger buffer", req: probeReq(eps0), wlen: ProbePropertiesSize + 100, used: ProbePropertiesSize + 4, status: StatusOK},
		{name: "PROBE not negotiated", features: allFeats &^ FeatureProbe, req: probeReq(eps0), wlen: ProbePropertiesSize + 4, used: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testConfig(), tc.features)
			used, w := h.submit(tc.req, tc.wlen)
			if used != tc.used {
				t.Fatalf("used %d, want %d", used, tc.used)
			}
			if used == 0 {
				if !bytes.Equal(w, bytes.Repeat([]byte{hPoison}, tc.wlen)) {
					t.Fatalf("buffer written with used length 0: %x", w)
				}
				return
			}
			tail := w[used-4 : used]
			if Status(tail[0]) != tc.status || tail[1]|tail[2]|tail[3] != 0 {
				t.Fatalf("tail %x, want status %v", tail, tc.status)
			}
			props := w[:used-4]
			if tc.status != StatusOK {
				if !bytes.Equal(props, make([]byte, len(props))) {
					t.Fatalf("properties written on %v: %x", tc.status, props)
				}
			} else if len(parseProps(t, props)) != 1 {
				t.Fatal("missing property")
			}
			if rest := w[used:]; !bytes.Equal(rest, bytes.Repeat([]byte{hPoison}, len(rest))) {
				t.Fatalf("bytes written past the used length")
			}
		})
	}
}
