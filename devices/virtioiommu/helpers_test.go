package virtioiommu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/iovatree"
	"github.com/govmm/govmm/memory"
)

// Guest memory layout of a harness.
const (
	hRAMSize  = 512 << 10
	hReqRing  = 0x0
	hEvRing   = 0x8000
	hBufs     = 0x10000 // request buffers, reused by every request
	hEvBufs   = 0x20000 // event buffers
	hPoison   = 0xee
	allFeats  = Features | virtio.FeatureVersion1
	testGran  = 0x1000
	eps0      = 0x08 // endpoint IDs of the default harness
	eps1      = 0x10
	eps2      = 0x18
	epUnknown = 444
)

// harness drives a Device through real split virtqueues laid out in a
// Go-allocated guest RAM, as a driver would, without a transport: each
// request is one chain at descriptor 0, processed at once by Process.
type harness struct {
	t        testing.TB
	d        *Device
	mem      *memory.Memory
	ram      []byte
	rr, er   *virtiotest.Ring
	rq, eq   *virtio.Queue
	features uint64
	used     uint16 // requests completed
	evUsed   uint16 // event buffers consumed
	evPosted uint16
}

func testConfig() Config {
	c := DefaultConfig()
	c.Endpoints = []uint32{eps0, eps1, eps2}
	return c
}

// newHarness builds a device from cfg and activates it with the given
// negotiated features (0: every offered feature and VERSION_1).
func newHarness(t testing.TB, cfg Config, features uint64) *harness {
	t.Helper()
	if features == 0 {
		features = allFeats
	}
	ram := make([]byte, hRAMSize)
	mem, err := memory.New(memory.Region{GPA: 0, Data: ram})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(cfg, mem)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, d: d, mem: mem, ram: ram, features: features}
	h.rr = virtiotest.NewRing(mem, dma.Identity{}, hReqRing, 16)
	h.er = virtiotest.NewRing(mem, dma.Identity{}, hEvRing, 16)
	if h.rq, err = virtio.NewQueue(h.rr.Config(features, dma.Identity{}, nil)); err != nil {
		t.Fatal(err)
	}
	ec := h.er.Config(features, dma.Identity{}, nil)
	ec.Index = EventQueue
	if h.eq, err = virtio.NewQueue(ec); err != nil {
		t.Fatal(err)
	}
	h.activate()
	return h
}

// activate gives the device the harness's queues, as DRIVER_OK does.
func (h *harness) activate() {
	h.t.Helper()
	a := &virtio.Activation{Features: h.features, Queues: []*virtio.Queue{h.rq, h.eq}, Memory: h.mem, DMA: dma.Identity{}}
	if err := h.d.Activate(a); err != nil {
		h.t.Fatal(err)
	}
}

// submitLayout sends a request whose readable bytes are req and writable
// part has wlen bytes, cut into descriptors of the sizes in rsplit and
// wsplit (nil: one descriptor each; sizes must add up). It returns the
// used length and the writable bytes after the device ran.
func (h *harness) submitLayout(req []byte, rsplit []int, wlen int, wsplit []int) (uint32, []byte) {
	h.t.Helper()
	if rsplit == nil && len(req) > 0 {
		rsplit = []int{len(req)}
	}
	if wsplit == nil && wlen > 0 {
		wsplit = []int{wlen}
	}
	var descs []virtio.Descriptor
	addr := uint64(hBufs)
	off := 0
	for _, n := range rsplit {
		copy(h.ram[addr:], req[off:off+n])
		descs = append(descs, virtio.Descriptor{Addr: addr, Len: uint32(n)})
		addr += uint64(n) + 8 // a gap between buffers
		off += n
	}
	wstart := addr
	for _, n := range wsplit {
		for i := range n + 8 {
			h.ram[addr+uint64(i)] = hPoison
		}
		descs = append(descs, virtio.Descriptor{Addr: addr, Len: uint32(n), Flags: virtio.DescFWrite})
		addr += uint64(n) + 8
	}
	head, err := h.rr.Chain(0, descs...)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.rr.Publish(head); err != nil {
		h.t.Fatal(err)
	}
	if err := h.d.Process(h.rq); err != nil {
		h.t.Fatalf("Process: %v", err)
	}
	idx, err := h.rr.UsedIdx()
	if err != nil || idx != h.used+1 {
		h.t.Fatalf("used idx %d (err %v), want %d", idx, err, h.used+1)
	}
	id, used, err := h.rr.UsedElem(h.used)
	if err != nil || id != uint32(head) {
		h.t.Fatalf("used element %d: id %d (err %v), want %d", h.used, id, err, head)
	}
	h.used++
	var w []byte
	a := wstart
	for _, n := range wsplit {
		w = append(w, h.ram[a:a+uint64(n)]...)
		if g := h.ram[a+uint64(n) : a+uint64(n)+8]; !bytes.Equal(g, bytes.Repeat([]byte{hPoison}, 8)) {
			h.t.Fatalf("device wrote past the buffer at %#x: %x", a+uint64(n), g)
		}
		a += uint64(n) + 8
	}
	return used, w
}

// submit sends req with one readable and one writable descriptor of wlen
// bytes, as Linux does.
func (h *harness) submit(req []byte, wlen int) (uint32, []byte) {
	h.t.Helper()
	return h.submitLayout(req, nil, wlen, nil)
}

// do sends a request with a 4-byte tail and returns its status, checking
// the used length and the tail's reserved bytes.
func (h *harness) do(req []byte) Status {
	h.t.Helper()
	used, w := h.submit(req, TailSize)
	if used != TailSize {
		h.t.Fatalf("%x: used length %d, want %d", req, used, TailSize)
	}
	if w[1] != 0 || w[2] != 0 || w[3] != 0 {
		h.t.Fatalf("%x: tail reserved bytes %x, want zero", req, w[1:4])
	}
	return Status(w[0])
}

// must sends a request and fails the test unless its status is want.
func (h *harness) must(want Status, req []byte) {
	h.t.Helper()
	if got := h.do(req); got != want {
		h.t.Fatalf("%s: status %v, want %v", describe(req), got, want)
	}
}

// probe sends a PROBE with room for probe_size bytes of properties and
// returns the status and the properties.
func (h *harness) probe(ep uint32) (Status, []byte) {
	h.t.Helper()
	used, w := h.submit(probeReq(ep), ProbePropertiesSize+TailSize)
	if used != ProbePropertiesSize+TailSize {
		h.t.Fatalf("PROBE %#x: used length %d, want %d", ep, used, ProbePropertiesSize+TailSize)
	}
	return Status(w[ProbePropertiesSize]), w[:ProbePropertiesSize]
}

// postEvents makes n event buffers of size bytes available.
func (h *harness) postEvents(n int, size uint32) {
	h.t.Helper()
	for range n {
		i := h.evPosted % h.er.Size
		addr := uint64(hEvBufs) + uint64(i)*64
		for j := range 64 {
			h.ram[addr+uint64(j)] = hPoison
		}
		if _, err := h.er.Chain(i, virtio.Descriptor{Addr: addr, Len: size, Flags: virtio.DescFWrite}); err != nil {
			h.t.Fatal(err)
		}
		if err := h.er.Publish(i); err != nil {
			h.t.Fatal(err)
		}
		h.evPosted++
	}
}

// takeEvents runs the event queue and returns the records and used
// lengths of the buffers it consumed.
func (h *harness) takeEvents() (recs [][]byte, lens []uint32) {
	h.t.Helper()
	if err := h.d.Process(h.eq); err != nil {
		h.t.Fatalf("Process(eventq): %v", err)
	}
	idx, err := h.er.UsedIdx()
	if err != nil {
		h.t.Fatal(err)
	}
	for ; h.evUsed != idx; h.evUsed++ {
		id, n, err := h.er.UsedElem(h.evUsed)
		if err != nil {
			h.t.Fatal(err)
		}
		addr := uint64(hEvBufs) + uint64(id)*64
		recs = append(recs, append([]byte(nil), h.ram[addr:addr+FaultRecordSize]...))
		lens = append(lens, n)
	}
	return recs, lens
}

// as returns the address space of ep.
func (h *harness) as(ep uint32) *AddressSpace {
	h.t.Helper()
	as, err := h.d.AddressSpace(ep)
	if err != nil {
		h.t.Fatal(err)
	}
	return as
}

// Request encoders, written from the layouts of virtio 1.3 §5.13.6.3–7.

func attachReq(domain, ep, flags uint32) []byte {
	b := make([]byte, ReqAttachSize)
	b[0] = byte(TypeAttach)
	le := binary.LittleEndian
	le.PutUint32(b[4:], domain)
	le.PutUint32(b[8:], ep)
	le.PutUint32(b[12:], flags)
	return b
}

func detachReq(domain, ep uint32) []byte {
	b := make([]byte, ReqDetachSize)
	b[0] = byte(TypeDetach)
	le := binary.LittleEndian
	le.PutUint32(b[4:], domain)
	le.PutUint32(b[8:], ep)
	return b
}

func mapReq(domain uint32, start, end, phys uint64, flags uint32) []byte {
	b := make([]byte, ReqMapSize)
	b[0] = byte(TypeMap)
	le := binary.LittleEndian
	le.PutUint32(b[4:], domain)
	le.PutUint64(b[8:], start)
	le.PutUint64(b[16:], end)
	le.PutUint64(b[24:], phys)
	le.PutUint32(b[32:], flags)
	return b
}

func unmapReq(domain uint32, start, end uint64) []byte {
	b := make([]byte, ReqUnmapSize)
	b[0] = byte(TypeUnmap)
	le := binary.LittleEndian
	le.PutUint32(b[4:], domain)
	le.PutUint64(b[8:], start)
	le.PutUint64(b[16:], end)
	return b
}

func probeReq(ep uint32) []byte {
	b := make([]byte, ReqProbeSize)
	b[0] = byte(TypeProbe)
	binary.LittleEndian.PutUint32(b[4:], ep)
	return b
}

// with returns a copy of b with byte off set to v.
func with(b []byte, off int, v byte) []byte {
	c := append([]byte(nil), b...)
	c[off] = v
	return c
}

// describe formats an encoded request for messages.
func describe(b []byte) string {
	if len(b) == 0 {
		return "empty request"
	}
	t := RequestType(b[0])
	if n := readableSize(t); n != 0 && len(b) >= min(n, maxReadableUsed) {
		return decodeRequest(t, b).String()
	}
	return fmt.Sprintf("%v (%d bytes)", t, len(b))
}

// checkInvariants verifies the device's state: mappings of a domain sorted
// and disjoint, aligned, inside input_range and outside the reserved
// regions; every endpoint in at most one domain and listed by it; no
// domain without endpoints; modes consistent; counts exact.
func checkInvariants(t testing.TB, d *Device) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	total := 0
	for id, dom := range d.domains {
		if dom.id != id {
			t.Fatalf("domain %d stored under ID %d", dom.id, id)
		}
		if len(dom.eps) == 0 {
			t.Fatalf("domain %d has no endpoint but still exists", id)
		}
		for i, ep := range dom.eps {
			if ep.dom != dom {
				t.Fatalf("domain %d lists endpoint %#x, which is attached to %v", id, ep.id, ep.viewLocked())
			}
			if i > 0 && dom.eps[i-1].id >= ep.id {
				t.Fatalf("domain %d endpoints not sorted: %#x then %#x", id, dom.eps[i-1].id, ep.id)
			}
		}
		if dom.bypass && dom.tree.Len() != 0 {
			t.Fatalf("bypass domain %d has %d mappings", id, dom.tree.Len())
		}
		var prevLast uint64
		n := 0
		for m := range dom.tree.All() {
			if n > 0 && m.IOVA <= prevLast {
				t.Fatalf("domain %d: mapping %v overlaps or precedes the one ending at %#x", id, m, prevLast)
			}
			if m.IOVA&(d.granule-1) != 0 || (m.Last()+1)&(d.granule-1) != 0 || m.Addr&(d.granule-1) != 0 {
				t.Fatalf("domain %d: mapping %v is not aligned to %#x", id, m, d.granule)
			}
			if m.IOVA < d.input.First || m.Last() > d.input.Last {
				t.Fatalf("domain %d: mapping %v outside input range %v", id, m, d.input)
			}
			if r, ok := reservedOverlap(d.resv, m.IOVA, m.Last()); ok {
				t.Fatalf("domain %d: mapping %v overlaps reserved %v", id, m, r.Region)
			}
			prevLast = m.Last()
			n++
		}
		if n != dom.tree.Len() {
			t.Fatalf("domain %d: %d mappings iterated, Len %d", id, n, dom.tree.Len())
		}
		for iova := range dom.mmio {
			if m, ok := dom.tree.Find(iova); !ok || m.IOVA != iova {
				t.Fatalf("domain %d: MMIO mark at %#x without a mapping starting there", id, iova)
			}
		}
		total += n
	}
	if total != d.nMappings || total > d.maxMaps {
		t.Fatalf("%d mappings in the domains, count %d, limit %d", total, d.nMappings, d.maxMaps)
	}
	for _, ep := range d.epList {
		if ep.dom == nil {
			if ep.mode != d.unattachedMode() {
				t.Fatalf("unattached endpoint %#x is %v with bypass=%d", ep.id, ep.mode, d.bypass.Load())
			}
			continue
		}
		if d.domains[ep.dom.id] != ep.dom {
			t.Fatalf("endpoint %#x attached to domain %d, which does not exist", ep.id, ep.dom.id)
		}
		if _, found := findEP(ep.dom.eps, ep.id); !found {
			t.Fatalf("endpoint %#x not listed by its domain %d", ep.id, ep.dom.id)
		}
		want := modeTranslate
		if ep.dom.bypass {
			want = modeBypass
		}
		if ep.mode != want {
			t.Fatalf("endpoint %#x in domain %d is %v, want %v", ep.id, ep.dom.id, ep.mode, want)
		}
	}
}

func findEP(eps []*AddressSpace, id uint32) (int, bool) {
	for i, ep := range eps {
		if ep.id == id {
			return i, true
		}
	}
	return 0, false
}

// mappings returns the mappings of domain id as [first, last, phys, perm].
func (h *harness) mappings(id uint32) [][4]uint64 {
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	dom := h.d.domains[id]
	if dom == nil {
		return nil
	}
	var out [][4]uint64
	for m := range dom.tree.All() {
		out = append(out, [4]uint64{m.IOVA, m.Last(), m.Addr, uint64(m.Perm)})
	}
	return out
}

const maxU64 = math.MaxUint64

// mapping builds a tree entry with MAP flags perm.
func mapping(iova, size, addr uint64, perm uint32) iovatree.Mapping {
	return iovatree.Mapping{IOVA: iova, Size: size, Addr: addr, Perm: iovatree.Perm(perm)}
}
