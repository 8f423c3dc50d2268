package virtioiommu

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/dma"
)

// rawFeatures turns a fuzzed byte into a negotiated feature set: bit i
// keeps device feature i (0–6), bit 7 adds INDIRECT_DESC.
func rawFeatures(b uint8) uint64 {
	f := virtio.FeatureVersion1 | uint64(b&0x7f)
	if b&0x80 != 0 {
		f |= virtio.FeatureIndirectDesc
	}
	return f
}

// rawSeed builds a RawQueue input holding one request: its readable bytes
// cut at the offsets in cuts, then a writable part of wlen bytes.
func rawSeed(req []byte, cuts []int, wlen uint32) []byte {
	var descs []virtio.Descriptor
	addr := uint64(virtiotest.RawPayload)
	prev := 0
	for _, c := range append(cuts, len(req)) {
		descs = append(descs, virtio.Descriptor{Addr: addr + uint64(prev), Len: uint32(c - prev)})
		prev = c
	}
	descs = append(descs, virtio.Descriptor{Addr: virtiotest.RawPayload + 0x1000, Len: wlen, Flags: virtio.DescFWrite})
	for i := range descs[:len(descs)-1] {
		descs[i].Flags |= virtio.DescFNext
		descs[i].Next = uint16(i + 1)
	}
	return virtiotest.RawInput(0, descs, req)
}

// rawIndirectSeed builds a RawQueue input whose head is one
// VIRTQ_DESC_F_INDIRECT descriptor pointing at a table, in the payload, of
// a readable descriptor holding req and a writable one of wlen bytes.
func rawIndirectSeed(req []byte, wlen uint32) []byte {
	const table = 0x800
	payload := make([]byte, table+2*virtio.DescriptorSize)
	copy(payload, req)
	virtio.Descriptor{Addr: virtiotest.RawPayload, Len: uint32(len(req)), Flags: virtio.DescFNext, Next: 1}.Encode(payload[table:])
	virtio.Descriptor{Addr: virtiotest.RawPayload + 0x1000, Len: wlen, Flags: virtio.DescFWrite}.Encode(payload[table+virtio.DescriptorSize:])
	head := virtio.Descriptor{Addr: virtiotest.RawPayload + table, Len: 2 * virtio.DescriptorSize, Flags: virtio.DescFIndirect}
	return virtiotest.RawInput(0, []virtio.Descriptor{head}, payload)
}

// FuzzRequest feeds arbitrary descriptor tables and payloads (one head
// published up to three times) to the request queue of a device that has
// a domain with mappings, under arbitrary feature sets. The device must
// not panic, must only fail with the queue's own errors (a ring the driver
// broke), must report used lengths no larger than what it can write, and
// must keep its invariants.
func FuzzRequest(f *testing.F) {
	all := uint8(0xff)
	seeds := [][]byte{
		attachReq(1, eps0, 0), attachReq(2, eps1, AttachFBypass), detachReq(1, eps0),
		mapReq(1, 0x40000, 0x4ffff, 0x100000, rw), mapReq(1, 0xfee00000, 0xfeefffff, 0, rw),
		unmapReq(1, 0, maxU64), unmapReq(1, 0x10800, 0x10fff), probeReq(eps1), probeReq(epUnknown),
		with(attachReq(1, eps0, 0), 0, 9),
	}
	for _, s := range seeds {
		f.Add(all, rawSeed(s, nil, 4))
		f.Add(all, rawSeed(s, []int{1, 5}, 4))
		f.Add(uint8(0x13), rawSeed(s, nil, ProbePropertiesSize+4))
	}
	f.Add(all, rawSeed(probeReq(eps0), []int{8}, 20))
	f.Add(all, rawIndirectSeed(mapReq(1, 0x40000, 0x4ffff, 0x100000, rw), 4))
	f.Add(all, rawIndirectSeed(probeReq(eps2), ProbePropertiesSize+4))
	f.Add(all, rawSeed(mapReq(1, 0x40000, 0x4ffff, 0x100000, rw)[:20], nil, 4))
	f.Add(all, []byte{0, 1})
	f.Fuzz(func(t *testing.T, feats uint8, data []byte) {
		mem, q, r, err := virtiotest.RawQueue(data, rawFeatures(feats))
		if err != nil {
			t.Fatal(err)
		}
		d, err := New(testConfig(), mem)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Activate(&virtio.Activation{Features: rawFeatures(feats), Queues: []*virtio.Queue{q, nil}, Memory: mem, DMA: dma.Identity{}}); err != nil {
			t.Fatal(err)
		}
		d.mu.Lock()
		d.features = allFeats // set up the state whatever was negotiated
		for _, req := range []request{
			{typ: TypeAttach, domain: 1, endpoint: eps0}, {typ: TypeAttach, domain: 2, endpoint: eps1, flags: AttachFBypass},
			{typ: TypeMap, domain: 1, virtStart: 0x10000, virtEnd: 0x1ffff, physStart: 0x10000, flags: MapFRead},
			{typ: TypeMap, domain: 1, virtStart: 0x20000, virtEnd: 0x20fff, physStart: 0x40000000, flags: rw | MapFMMIO},
		} {
			if st := d.dispatch(req); st != StatusOK {
				t.Fatalf("setup %v: %v", req, st)
			}
		}
		d.features = rawFeatures(feats)
		d.mu.Unlock()

		err = d.Process(q)
		var ce *virtio.ChainError
		if err != nil && !errors.As(err, &ce) && q.Err() == nil {
			t.Fatalf("Process failed without a queue error: %v", err)
		}
		idx, err := r.UsedIdx()
		if err != nil {
			t.Fatal(err)
		}
		for i := uint16(0); i < idx; i++ {
			if _, n, err := r.UsedElem(i); err != nil || n > ProbePropertiesSize+TailSize {
				t.Fatalf("used element %d: length %d, %v", i, n, err)
			}
		}
		checkInvariants(t, d)
	})
}

// model is an independent, deliberately naive model of the device's
// request semantics (virtio 1.3 §5.13.6, with this package's documented
// check order), used by FuzzSequence to predict every status.
type model struct {
	bypass  bool
	limit   int
	domains map[uint32]*modelDomain
	epDom   map[uint32]uint32 // endpoint -> domain
}

type modelDomain struct {
	bypass bool
	eps    map[uint32]bool
	maps   []modelMap // sorted by first
}

type modelMap struct{ first, last, phys, flags uint64 }

func (m *model) count() int {
	n := 0
	for _, d := range m.domains {
		n += len(d.maps)
	}
	return n
}

func (m *model) known(ep uint32) bool { return ep == eps0 || ep == eps1 || ep == eps2 }

func (m *model) leave(ep uint32) {
	if id, ok := m.epDom[ep]; ok {
		d := m.domains[id]
		delete(d.eps, ep)
		delete(m.epDom, ep)
		if len(d.eps) == 0 {
			delete(m.domains, id)
		}
	}
}

func (m *model) attach(dom, ep, flags uint32, reserved bool) Status {
	switch {
	case reserved, flags&^AttachFBypass != 0:
		return StatusInval
	case !m.known(ep):
		return StatusNoEnt
	}
	bypass := flags&AttachFBypass != 0
	d := m.domains[dom]
	if d != nil && d.bypass != bypass {
		return StatusInval
	}
	if d != nil && d.eps[ep] {
		return StatusOK
	}
	m.leave(ep)
	if d = m.domains[dom]; d == nil { // leave may not have removed it: it is another domain
		d = &modelDomain{bypass: bypass, eps: map[uint32]bool{}}
		m.domains[dom] = d
	}
	d.eps[ep] = true
	m.epDom[ep] = dom
	return StatusOK
}

func (m *model) detach(dom, ep uint32) Status {
	if !m.known(ep) {
		return StatusNoEnt
	}
	if id, ok := m.epDom[ep]; !ok || id != dom {
		return StatusInval
	}
	m.leave(ep)
	return StatusOK
}

func (m *model) doMap(dom uint32, first, last, phys, flags uint64) Status {
	if flags&^uint64(MapFRead|MapFWrite|MapFMMIO) != 0 {
		return StatusInval
	}
	d := m.domains[dom]
	switch {
	case d == nil:
		return StatusNoEnt
	case d.bypass, last < first:
		return StatusInval
	case first%testGran != 0, (last+1)%testGran != 0, phys%testGran != 0:
		return StatusRange
	case last >= 1<<48:
		return StatusRange
	case flags&uint64(MapFRead|MapFWrite) == 0:
		return StatusInval
	case first <= MSIWindow.Last && last >= MSIWindow.First:
		return StatusInval
	}
	for _, mm := range d.maps {
		if mm.first <= last && first <= mm.last {
			return StatusInval
		}
	}
	if m.count() >= m.limit {
		return StatusNoMem
	}
	d.maps = append(d.maps, modelMap{first, last, phys, flags})
	slices.SortFunc(d.maps, func(a, b modelMap) int { return cmpU64(a.first, b.first) })
	return StatusOK
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (m *model) unmap(dom uint32, first, last uint64, reserved bool) Status {
	if reserved {
		return StatusInval
	}
	d := m.domains[dom]
	switch {
	case d == nil:
		return StatusNoEnt
	case d.bypass, last < first:
		return StatusInval
	}
	var keep []modelMap
	for _, mm := range d.maps {
		if mm.first > last || mm.last < first {
			keep = append(keep, mm)
			continue
		}
		if mm.first < first || mm.last > last {
			return StatusRange
		}
	}
	d.maps = keep
	return StatusOK
}

// translate predicts Translate(addr, 8, acc) of ep: the GPA, or ok false
// for a fault.
func (m *model) translate(ep uint32, addr uint64, acc dma.Access) (uint64, bool) {
	id, attached := m.epDom[ep]
	if !attached {
		return addr, m.bypass
	}
	d := m.domains[id]
	if d.bypass {
		return addr, true
	}
	for _, mm := range d.maps {
		if addr >= mm.first && addr <= mm.last {
			if uint64(acc)&^(mm.flags&3) != 0 {
				return 0, false
			}
			return mm.phys + addr - mm.first, true
		}
	}
	return 0, false
}

var fuzzEPs = [4]uint32{eps0, eps1, eps2, epUnknown}

// FuzzSequence runs arbitrary sequences of requests (6 bytes each) through
// a real virtqueue and checks every status, the domains' mappings and the
// translations of every endpoint against the model, and the device's
// invariants, after each request. Byte 0 picks the operation, 1 the domain
// and flags, 2 the endpoint, 3 and 4 the range (with variants: unaligned,
// out of the input range, next to the MSI window), 5 the MAP flags.
func FuzzSequence(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 0, 2, 1, 0, 2, 5, 3, 3, 1, 0, 3, 4, 0})
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 2, 1, 0, 0, 7, 1, 2, 1, 0, 4, 4, 3, 3, 1, 0, 2, 5, 0, 1, 1, 0, 0, 0, 0})
	f.Add([]byte{0, 5, 2, 0, 0, 0, 2, 1, 0, 0, 0, 3, 5, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 4, 0, 3, 0, 0, 0})
	f.Add([]byte{0, 1, 0, 0, 0, 0, 2, 1, 0, 0x80, 0x80, 3, 2, 1, 0, 0x10, 0x1f, 0x43, 3, 1, 0, 0x40, 0x41, 0})
	f.Add([]byte{5, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 1, 2, 1, 0, 0, 0, 5, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 6*64 {
			data = data[:6*64]
		}
		cfg := testConfig()
		cfg.MaxMappings = 16
		h := newHarness(t, cfg, 0)
		m := &model{bypass: true, limit: 16, domains: map[uint32]*modelDomain{}, epDom: map[uint32]uint32{}}
		for ; len(data) >= 6; data = data[6:] {
			b := data[:6]
			dom := uint32(b[1] & 3)
			ep := fuzzEPs[b[2]&3]
			first := uint64(b[3]&31) << 12
			last := uint64(b[4]&31)<<12 + 0xfff
			switch {
			case b[3]&0x80 != 0:
				first, last = first+1<<48, last+1<<48
			case b[3]&0x40 != 0:
				first, last = first+0xfedf0000, last+0xfedf0000
			}
			if b[4]&0x80 != 0 {
				last -= 0x800
			}
			if b[4]&0x40 != 0 {
				first += 0x800
			}
			var req []byte
			var want Status
			switch b[0] % 8 {
			case 0, 7:
				flags := uint32(b[1]>>2) & 3
				req = attachReq(dom, ep, flags)
				reserved := b[1]&0x80 != 0
				if reserved {
					req[17] = 1
				}
				want = m.attach(dom, ep, flags, reserved)
			case 1:
				req, want = detachReq(dom, ep), m.detach(dom, ep)
			case 2, 3:
				phys := uint64(b[5]>>4) << 12
				flags := uint64(b[5] & 0xf)
				req = mapReq(dom, first, last, phys, uint32(flags))
				want = m.doMap(dom, first, last, phys, flags)
			case 4:
				reserved := b[1]&0x80 != 0
				req = unmapReq(dom, first, last)
				if reserved {
					req[26] = 1
				}
				want = m.unmap(dom, first, last, reserved)
			case 5:
				want = StatusNoEnt
				if m.known(ep) {
					want = StatusOK
				}
				if st, props := h.probe(ep); st != want || st == StatusOK && len(parseProps(t, props)) != 1 {
					t.Fatalf("PROBE %#x: %v, want %v", ep, st, want)
				}
			case 6:
				if b[1]&0x40 != 0 {
					h.d.Reset()
					h.activate()
					m.domains, m.epDom = map[uint32]*modelDomain{}, map[uint32]uint32{}
				} else {
					v := b[1] % 3
					h.d.WriteConfig(ConfigBypassOffset, []byte{v})
					if v <= 1 {
						m.bypass = v == 1
					}
				}
			}
			if req != nil {
				if got := h.do(req); got != want {
					t.Fatalf("%s: status %v, model says %v", describe(req), got, want)
				}
			}
			checkInvariants(t, h.d)
			compareModel(t, h, m, []uint64{first, last, 0x10000, 0x1f800})
		}
	})
}

// compareModel checks the device's domains, mappings and translations
// against the model.
func compareModel(t *testing.T, h *harness, m *model, addrs []uint64) {
	t.Helper()
	if s := h.d.Stats(); s.Domains != len(m.domains) || s.Mappings != m.count() {
		t.Fatalf("%d domains and %d mappings, model has %d and %d", s.Domains, s.Mappings, len(m.domains), m.count())
	}
	for id, md := range m.domains {
		got := h.mappings(id)
		var want [][4]uint64
		for _, mm := range md.maps {
			want = append(want, [4]uint64{mm.first, mm.last, mm.phys, mm.flags & 3})
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("domain %d mappings %x, model %x", id, got, want)
		}
	}
	for _, ep := range fuzzEPs[:3] {
		as := h.as(ep)
		for _, a := range addrs {
			for _, acc := range []dma.Access{dma.Read, dma.Write} {
				gpa, _, err := as.Translate(a, 8, acc)
				wgpa, ok := m.translate(ep, a, acc)
				if ok != (err == nil) || ok && gpa != wgpa {
					t.Fatalf("endpoint %#x %v at %#x: %#x, %v; model says %#x, ok %v", ep, acc, a, gpa, err, wgpa, ok)
				}
			}
		}
	}
}
