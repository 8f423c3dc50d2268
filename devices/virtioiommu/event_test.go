package virtioiommu

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/govmm/govmm/dma"
)

// decodeFault decodes a struct virtio_iommu_fault as the driver does and
// checks that its reserved fields are zero (Linux ignores a record whose
// reserved bytes are not).
func decodeFault(t *testing.T, b []byte) Fault {
	t.Helper()
	le := binary.LittleEndian
	if b[1] != 0 || b[2] != 0 || b[3] != 0 || le.Uint32(b[12:]) != 0 {
		t.Fatalf("fault record with reserved bytes set: %x", b)
	}
	f := Fault{Reason: FaultReason(b[0]), Flags: le.Uint32(b[4:]), Endpoint: le.Uint32(b[8:]), Address: le.Uint64(b[16:])}
	if f.Flags&^(FaultFRead|FaultFWrite|FaultFAddress) != 0 {
		t.Fatalf("undefined fault flags %#x", f.Flags)
	}
	return f
}

// faultAt makes eps2 (unattached, bypass off) fault at iova.
func faultAt(t *testing.T, h *harness, iova uint64) {
	t.Helper()
	if _, _, err := h.as(eps2).Translate(iova, 1, dma.Write); err == nil {
		t.Fatalf("no fault at %#x", iova)
	}
}

func blockedHarness(t *testing.T) *harness {
	cfg := testConfig()
	cfg.BypassDefault = false
	return newHarness(t, cfg, 0)
}

func TestEventBacklog(t *testing.T) {
	h := blockedHarness(t)
	// No buffer yet: records wait.
	for i := range 3 {
		faultAt(t, h, uint64(i)<<12)
	}
	if recs, _ := h.takeEvents(); len(recs) != 0 {
		t.Fatalf("%d records without buffers", len(recs))
	}
	if s := h.d.Stats(); s.FaultsPending != 3 || s.FaultsDropped != 0 {
		t.Fatalf("stats %+v", s)
	}
	// Two buffers: the two oldest, in order.
	h.postEvents(2, FaultRecordSize)
	recs, lens := h.takeEvents()
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	for i, r := range recs {
		if f := decodeFault(t, r); f.Address != uint64(i)<<12 || lens[i] != FaultRecordSize || f.Reason != FaultReasonDomain || f.Endpoint != eps2 {
			t.Fatalf("record %d: %+v, used %d", i, f, lens[i])
		}
	}
	// A buffer too small for a record is returned unused; the record
	// goes into the next one, never split.
	h.postEvents(1, FaultRecordSize-1)
	h.postEvents(1, 64)
	recs, lens = h.takeEvents()
	if len(recs) != 2 || lens[0] != 0 || lens[1] != FaultRecordSize {
		t.Fatalf("used lengths %v, want [0 24]", lens)
	}
	if f := decodeFault(t, recs[1]); f.Address != 2<<12 {
		t.Fatalf("record %+v", f)
	}
	if poison := h.ram[hEvBufs+2*64 : hEvBufs+2*64+64]; !bytes.Equal(poison, bytes.Repeat([]byte{hPoison}, 64)) {
		t.Fatal("small buffer written")
	}
	if tail := h.ram[hEvBufs+3*64+FaultRecordSize : hEvBufs+4*64]; !bytes.Equal(tail, bytes.Repeat([]byte{hPoison}, len(tail))) {
		t.Fatal("bytes written after the record")
	}
	if s := h.d.Stats(); s.FaultsPending != 0 || s.FaultsReported != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestEventOverflow(t *testing.T) {
	h := blockedHarness(t)
	for i := range EventBacklog + 5 {
		faultAt(t, h, uint64(i)<<12)
	}
	s := h.d.Stats()
	if s.FaultsPending != EventBacklog || s.FaultsDropped != 5 {
		t.Fatalf("stats %+v, want %d pending and 5 dropped", s, EventBacklog)
	}
	// The oldest are kept.
	h.postEvents(8, FaultRecordSize)
	recs, _ := h.takeEvents()
	for i, r := range recs {
		if f := decodeFault(t, r); f.Address != uint64(i)<<12 {
			t.Fatalf("record %d at %#x", i, f.Address)
		}
	}
}

func TestEventsInactive(t *testing.T) {
	cfg := testConfig()
	cfg.BypassDefault = false
	d, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var hooked []Fault
	var mu sync.Mutex
	d.SetFaultHook(func(f Fault) { mu.Lock(); hooked = append(hooked, f); mu.Unlock() })
	as, _ := d.AddressSpace(eps1)
	if _, _, err := as.Translate(0x1000, 4, dma.Read); err == nil {
		t.Fatal("no fault")
	}
	if s := d.Stats(); s.FaultsDropped != 1 || s.FaultsPending != 0 {
		t.Fatalf("before DRIVER_OK: %+v", s)
	}
	if len(hooked) != 1 || hooked[0].Endpoint != eps1 || hooked[0].Flags != FaultFRead|FaultFAddress {
		t.Fatalf("hook got %+v", hooked)
	}
	d.SetFaultHook(nil)
	_, _, _ = as.Translate(0x1000, 4, dma.Read)
	if len(hooked) != 1 {
		t.Fatal("hook called after removal")
	}
}

// TestEventsReset: a reset forgets the records waiting for buffers.
func TestEventsReset(t *testing.T) {
	h := blockedHarness(t)
	faultAt(t, h, 0x1000)
	h.d.Reset()
	if s := h.d.Stats(); s.FaultsPending != 0 {
		t.Fatalf("%d records pending after reset", s.FaultsPending)
	}
	faultAt(t, h, 0x2000)
	if s := h.d.Stats(); s.FaultsPending != 0 || s.FaultsDropped != 1 {
		t.Fatalf("after reset, before DRIVER_OK: %+v", s)
	}
}
