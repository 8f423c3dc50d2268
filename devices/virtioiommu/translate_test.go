package virtioiommu

import (
	"bytes"
	"errors"
	"testing"

	"github.com/govmm/govmm/dma"
)

// translateSetup: eps0 in domain 1 with
//
//	[0x10000, 0x13fff] -> 0x40000 rw
//	[0x14000, 0x14fff] -> 0x44000 r-   (IOVA- and GPA-contiguous with the first)
//	[0x15000, 0x15fff] -> 0x58000 rw   (IOVA-contiguous, GPA elsewhere)
//	[0x17000, 0x17fff] -> 0x48000 -w   (after a one-page hole)
//
// eps1 in a bypass domain, eps2 unattached.
func translateSetup(t *testing.T, bypass bool) *harness {
	cfg := testConfig()
	cfg.BypassDefault = bypass
	h := newHarness(t, cfg, 0)
	runSteps(t, h, []step{
		{attachReq(1, eps0, 0), StatusOK},
		{attachReq(2, eps1, AttachFBypass), StatusOK},
		{mapReq(1, 0x10000, 0x13fff, 0x40000, rw), StatusOK},
		{mapReq(1, 0x14000, 0x14fff, 0x44000, MapFRead), StatusOK},
		{mapReq(1, 0x15000, 0x15fff, 0x58000, rw), StatusOK},
		{mapReq(1, 0x17000, 0x17fff, 0x48000, MapFWrite), StatusOK},
	})
	return h
}

func TestTranslate(t *testing.T) {
	tests := []struct {
		name   string
		bypass bool
		ep     uint32
		iova   uint64
		n      uint64
		acc    dma.Access
		gpa    uint64
		len    uint64
		fault  bool // a fault is expected, with reason
		reason FaultReason
	}{
		{name: "within a mapping", ep: eps0, iova: 0x10010, n: 0x100, acc: dma.Read, gpa: 0x40010, len: 0x100},
		{name: "to the end of the mapping", ep: eps0, iova: 0x13ff0, n: 0x100, acc: dma.Write, gpa: 0x43ff0, len: 0x10},
		{name: "whole mapping", ep: eps0, iova: 0x10000, n: 0x4000, acc: dma.ReadWrite, gpa: 0x40000, len: 0x4000},
		{name: "last byte", ep: eps0, iova: 0x13fff, n: 1, acc: dma.Read, gpa: 0x43fff, len: 1},
		{name: "read of a read-only mapping", ep: eps0, iova: 0x14800, n: 0x1000, acc: dma.Read, gpa: 0x44800, len: 0x800},
		{name: "write through a read-only mapping", ep: eps0, iova: 0x14800, n: 4, acc: dma.Write, fault: true, reason: FaultReasonMapping},
		{name: "read-write through a read-only mapping", ep: eps0, iova: 0x14800, n: 4, acc: dma.ReadWrite, fault: true, reason: FaultReasonMapping},
		{name: "write of a write-only mapping", ep: eps0, iova: 0x17000, n: 4, acc: dma.Write, gpa: 0x48000, len: 4},
		{name: "read of a write-only mapping", ep: eps0, iova: 0x17000, n: 4, acc: dma.Read, fault: true, reason: FaultReasonMapping},
		{name: "hole", ep: eps0, iova: 0x16000, n: 4, acc: dma.Read, fault: true, reason: FaultReasonMapping},
		{name: "below every mapping", ep: eps0, iova: 0, n: 4, acc: dma.Read, fault: true, reason: FaultReasonMapping},
		{name: "MSI window", ep: eps0, iova: 0xfee00000, n: 4, acc: dma.Write, fault: true, reason: FaultReasonMapping},
		{name: "bypass domain", ep: eps1, iova: 0x12345, n: 0x100, acc: dma.Write, gpa: 0x12345, len: 0x100},
		{name: "bypass domain at the top", ep: eps1, iova: maxU64 - 1, n: 0x100, acc: dma.Read, gpa: maxU64 - 1, len: 2},
		{name: "unattached, bypass on", bypass: true, ep: eps2, iova: 0x10010, n: 8, acc: dma.Read, gpa: 0x10010, len: 8},
		{name: "unattached, bypass off", ep: eps2, iova: 0x10010, n: 8, acc: dma.Read, fault: true, reason: FaultReasonDomain},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := translateSetup(t, tc.bypass)
			h.postEvents(4, FaultRecordSize)
			gpa, n, err := h.as(tc.ep).Translate(tc.iova, tc.n, tc.acc)
			recs, _ := h.takeEvents()
			if !tc.fault {
				if err != nil || gpa != tc.gpa || n != tc.len {
					t.Fatalf("Translate = %#x, %#x, %v; want %#x, %#x", gpa, n, err, tc.gpa, tc.len)
				}
				if len(recs) != 0 {
					t.Fatalf("%d fault records for a permitted access", len(recs))
				}
				return
			}
			var f *dma.Fault
			if !errors.As(err, &f) || f.IOVA != tc.iova || f.Access != tc.acc {
				t.Fatalf("Translate = %#x, %#x, %v; want a fault at %#x", gpa, n, err, tc.iova)
			}
			if len(recs) != 1 {
				t.Fatalf("%d fault records, want 1", len(recs))
			}
			got := decodeFault(t, recs[0])
			want := Fault{Reason: tc.reason, Endpoint: tc.ep, Address: tc.iova, Flags: FaultFAddress}
			if tc.acc&dma.Read != 0 {
				want.Flags |= FaultFRead
			}
			if tc.acc&dma.Write != 0 {
				want.Flags |= FaultFWrite
			}
			if got != want {
				t.Fatalf("fault record %+v, want %+v", got, want)
			}
		})
	}
}

func TestTranslateArgs(t *testing.T) {
	h := translateSetup(t, true)
	as := h.as(eps0)
	if _, _, err := as.Translate(0x10000, 0, dma.Read); !errors.Is(err, dma.ErrZeroLength) {
		t.Fatalf("zero length: %v", err)
	}
	for _, acc := range []dma.Access{0, 4, 7} {
		if _, _, err := as.Translate(0x10000, 1, acc); !errors.Is(err, ErrAccess) {
			t.Fatalf("access %d: %v", acc, err)
		}
	}
	if _, err := h.d.AddressSpace(epUnknown); !errors.Is(err, ErrNoEndpoint) {
		t.Fatalf("unknown endpoint: %v", err)
	}
	if as.Endpoint() != eps0 || as.String() != "virtio-iommu endpoint 0x8" {
		t.Fatalf("endpoint %#x %q", as.Endpoint(), as.String())
	}
}

// TestCloudHypervisorTranslate covers cloud-hypervisor's iommu.rs unit
// tests translate_within_single_mapping,
// translate_spanning_contiguous_mappings,
// reject_spanning_noncontiguous_mappings, reject_span_across_iova_gap and
// reject_unmapped_base, through dma.ReadAt and dma.Slices, which split an
// access at translation boundaries. cloud-hypervisor translates a range
// to one GPA, so it must reject IOVA-adjacent mappings whose GPAs are not
// contiguous; here each translation covers one mapping and the access is
// served in one piece per mapping, each at its own GPA.
func TestCloudHypervisorTranslate(t *testing.T) {
	tests := []struct {
		name string
		iova uint64
		n    int
		ok   bool
		gpas []uint64 // start GPA of each contiguous piece
	}{
		{"within single mapping", 0x10100, 0x200, true, []uint64{0x40100}},
		{"spanning contiguous mappings", 0x13f00, 0x200, true, []uint64{0x43f00, 0x44000}},
		{"spanning noncontiguous mappings", 0x14f00, 0x200, true, []uint64{0x44f00, 0x58000}},
		{"span across IOVA gap", 0x15f00, 0x200, false, nil},
		{"unmapped base", 0x16800, 0x10, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := translateSetup(t, true)
			as := h.as(eps0)
			for i := 0x40000; i < 0x60000; i++ {
				h.ram[i] = byte(i * 7)
			}
			// Reads see guest RAM at the translated addresses.
			p := make([]byte, tc.n)
			err := dma.ReadAt(as, h.mem, p, tc.iova)
			if tc.ok != (err == nil) {
				t.Fatalf("ReadAt: %v, want ok=%v", err, tc.ok)
			}
			slices, err := dma.Slices(nil, as, h.mem, tc.iova, uint64(tc.n), dma.Read)
			if !tc.ok {
				var f *dma.Fault
				if !errors.As(err, &f) {
					t.Fatalf("Slices: %v, want a fault", err)
				}
				return
			}
			if err != nil || len(slices) != len(tc.gpas) {
				t.Fatalf("Slices: %d pieces, %v; want %d", len(slices), err, len(tc.gpas))
			}
			var want []byte
			for i, s := range slices {
				gpa := tc.gpas[i]
				if !bytes.Equal(s, h.ram[gpa:gpa+uint64(len(s))]) {
					t.Fatalf("piece %d does not alias GPA %#x", i, gpa)
				}
				want = append(want, s...)
			}
			if !bytes.Equal(p, want) {
				t.Fatal("ReadAt and Slices disagree")
			}
		})
	}
}

// TestCrosvmTranslateLen is crosvm's test_translate_len: the length of a
// translation stops at the end of the mapping and never exceeds the
// request.
func TestCrosvmTranslateLen(t *testing.T) {
	h := translateSetup(t, true)
	as := h.as(eps0)
	for _, tc := range []struct{ iova, n, want uint64 }{
		{0x10000, 1, 1},
		{0x10000, 0x4000, 0x4000},
		{0x10000, 0x4001, 0x4000},
		{0x12000, 0x10000, 0x2000},
		{0x13fff, maxU64, 1},
		{0x14000, 0x1000, 0x1000},
	} {
		if _, n, err := as.Translate(tc.iova, tc.n, dma.Read); err != nil || n != tc.want {
			t.Errorf("Translate(%#x, %#x) length %#x, %v; want %#x", tc.iova, tc.n, n, err, tc.want)
		}
	}
}

// TestWriteThroughReadOnly: a device writing through a READ-only mapping
// changes nothing in guest memory, gets a fault, and the driver gets the
// record.
func TestWriteThroughReadOnly(t *testing.T) {
	h := translateSetup(t, false)
	h.postEvents(2, FaultRecordSize)
	before := append([]byte(nil), h.ram[0x44000:0x45000]...)
	err := dma.WriteAt(h.as(eps0), h.mem, bytes.Repeat([]byte{0x55}, 0x100), 0x14000)
	var f *dma.Fault
	if !errors.As(err, &f) || f.IOVA != 0x14000 || f.Access != dma.Write {
		t.Fatalf("WriteAt: %v", err)
	}
	if !bytes.Equal(before, h.ram[0x44000:0x45000]) {
		t.Fatal("guest memory changed")
	}
	recs, lens := h.takeEvents()
	if len(recs) != 1 || lens[0] != FaultRecordSize {
		t.Fatalf("%d records (%v)", len(recs), lens)
	}
	if got := decodeFault(t, recs[0]); got.Flags != FaultFWrite|FaultFAddress || got.Reason != FaultReasonMapping {
		t.Fatalf("record %+v", got)
	}
}
