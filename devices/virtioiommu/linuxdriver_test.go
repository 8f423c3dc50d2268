package virtioiommu_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"

	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/devices/virtioiommu"
	"github.com/govmm/govmm/devices/virtiorng"
	"github.com/govmm/govmm/dma"
)

// Linux's struct layouts and constants (include/uapi/linux/virtio_iommu.h),
// written out here rather than taken from the package under test.
const (
	tAttach, tDetach, tMap, tUnmap, tProbe = 1, 2, 3, 4, 5

	fInputRange, fDomainRange, fMapUnmap, fBypass, fProbe, fMMIO, fBypassConfig = 0, 1, 2, 3, 4, 5, 6

	mapRead, mapWrite = 1, 2
	attachBypass      = 1

	sOK, sIOErr, sNoEnt = 0, 1, 6
)

// Guest-physical layout of the test machine.
const (
	ramSize       = 64 << 20
	iommuIOVA     = 1 << 20  // the IOMMU's own rings and requests (identity)
	iommuIOVASize = 8 << 20  //
	rngGPA        = 32 << 20 // the rng driver's rings and buffers
	rngWindow     = 16 << 20 //
	rngIOVA       = 0x40_0000_0000
	identIOVA     = 16 << 20 // the second rng's driver, identity-mapped
	streamIOVA    = 0x80_0000_0000
)

var (
	iommuBDF = pci.BDF{Device: 2}
	rngBDF   = pci.BDF{Device: 3}
	rng2BDF  = pci.BDF{Device: 4}
)

// viommu is a Go model of Linux 6.12's drivers/iommu/virtio-iommu.c: it
// drives the device through its PCI function and virtqueues exactly as
// the kernel does, and checks what the kernel relies on.
type viommu struct {
	t        *testing.T
	drv      *virtiotest.Driver
	reqq     *virtiotest.Queue
	evq      *virtiotest.Queue
	pgsize   uint64
	inFirst  uint64
	inLast   uint64
	domFirst uint32
	domLast  uint32
	probeSz  uint32
	features uint64
	domains  map[uint32]bool           // allocated domain IDs (ida)
	evBufs   map[uint16]virtiotest.Buf // event buffers by head
	pending  []pendingReq              // queued, not yet synced (6.12 batching)
}

type pendingReq struct {
	what     string
	head     uint16
	bufs     []virtiotest.Buf
	writeLen uint32
}

// viommuProbe is viommu_probe: VERSION_1 and MAP_UNMAP required, the
// configuration read, the queues set up (the request queue without
// interrupts), DRIVER_OK, the event queue filled with 24-byte buffers.
func viommuProbe(t *testing.T, m *virtiotest.Machine) *viommu {
	t.Helper()
	drv, err := m.Probe(iommuBDF, dma.Identity{}, iommuIOVA, iommuIOVASize)
	if err != nil {
		t.Fatal(err)
	}
	want := uint64(1)<<fMapUnmap | 1<<fInputRange | 1<<fDomainRange | 1<<fProbe | 1<<fMMIO | 1<<fBypassConfig |
		virtio.FeatureVersion1 | virtio.FeatureEventIdx | virtio.FeatureIndirectDesc
	f, err := drv.Init(want)
	if err != nil {
		t.Fatal(err)
	}
	if f&virtio.FeatureVersion1 == 0 || f&(1<<fMapUnmap) == 0 {
		t.Fatalf("features %#x: VERSION_1 and MAP_UNMAP are required", f)
	}
	if f&(1<<fBypass) != 0 {
		t.Fatal("legacy BYPASS negotiated")
	}
	v := &viommu{t: t, drv: drv, features: f, domains: map[uint32]bool{}, evBufs: map[uint16]virtiotest.Buf{}}
	mask := drv.ReadDeviceConfig(0, 8)
	if mask == 0 {
		t.Fatal("page_size_mask is 0: viommu_probe fails")
	}
	v.pgsize = mask & -mask
	if v.pgsize > 4096 {
		t.Fatalf("granule %#x larger than PAGE_SIZE: viommu_domain_finalise fails", v.pgsize)
	}
	v.inFirst, v.inLast = 0, ^uint64(0)
	if f&(1<<fInputRange) != 0 {
		v.inFirst, v.inLast = drv.ReadDeviceConfig(8, 8), drv.ReadDeviceConfig(16, 8)
	}
	v.domFirst, v.domLast = 0, ^uint32(0)
	if f&(1<<fDomainRange) != 0 {
		v.domFirst, v.domLast = uint32(drv.ReadDeviceConfig(24, 4)), uint32(drv.ReadDeviceConfig(28, 4))
	}
	if f&(1<<fProbe) != 0 {
		v.probeSz = uint32(drv.ReadDeviceConfig(32, 4))
	}
	if v.reqq, err = drv.SetupQueue(0, 0); err != nil {
		t.Fatal(err)
	}
	if err := v.reqq.SetNoInterrupt(true); err != nil { // callback NULL: polled
		t.Fatal(err)
	}
	if v.evq, err = drv.SetupQueue(1, 0); err != nil {
		t.Fatal(err)
	}
	drv.DriverOK()
	for range v.evq.Size { // viommu_fill_evtq: vq->num_free buffers
		bufs := []virtiotest.Buf{{Write: true, Len: 24}}
		head, err := v.evq.Add(bufs, false)
		if err != nil {
			t.Fatal(err)
		}
		v.evBufs[head] = bufs[0]
	}
	v.evq.Kick()
	return v
}

// addReq is __viommu_add_req: one readable and one writable buffer, the
// writable one being the tail (probe_size + tail for PROBE). It does not
// kick.
func (v *viommu) addReq(what string, req []byte, writeLen uint32) {
	v.t.Helper()
	bufs := []virtiotest.Buf{{Data: req}, {Write: true, Len: writeLen}}
	head, err := v.reqq.Add(bufs, false)
	if err != nil {
		v.t.Fatal(err)
	}
	v.pending = append(v.pending, pendingReq{what, head, bufs, writeLen})
}

// sync is __viommu_sync_req: kick and poll until every queued request is
// used; checks each used length (Linux forces IOERR for 0 and silently
// takes any other wrong length as OK, so only the exact length is right)
// and returns the statuses in order.
func (v *viommu) sync() []byte {
	v.t.Helper()
	v.reqq.Kick()
	var st []byte
	for _, p := range v.pending {
		head, used, err := v.reqq.Poll()
		if err != nil {
			v.t.Fatal(err)
		}
		if head != p.head {
			v.t.Fatalf("%s: used head %d, want %d (requests completed out of order)", p.what, head, p.head)
		}
		if used != p.writeLen {
			v.t.Fatalf("%s: used length %d, want exactly %d", p.what, used, p.writeLen)
		}
		w, err := v.reqq.Contents(p.bufs[1])
		if err != nil {
			v.t.Fatal(err)
		}
		tail := w[len(w)-4:]
		if tail[1]|tail[2]|tail[3] != 0 {
			v.t.Fatalf("%s: tail reserved bytes %x", p.what, tail[1:])
		}
		st = append(st, tail[0])
	}
	v.pending = v.pending[:0]
	return st
}

// sendSync is viommu_send_req_sync.
func (v *viommu) sendSync(what string, req []byte, writeLen uint32) byte {
	v.t.Helper()
	v.addReq(what, req, writeLen)
	return v.sync()[0]
}

// probeEndpoint is viommu_probe_endpoint: it returns the RESV_MEM regions
// as [subtype, start, end].
func (v *viommu) probeEndpoint(ep uint32) (byte, [][3]uint64) {
	v.t.Helper()
	req := make([]byte, 72)
	req[0] = tProbe
	binary.LittleEndian.PutUint32(req[4:], ep)
	bufs := []virtiotest.Buf{{Data: req}, {Write: true, Len: v.probeSz + 4}}
	head, err := v.reqq.Add(bufs, false)
	if err != nil {
		v.t.Fatal(err)
	}
	v.pending = append(v.pending, pendingReq{fmt.Sprintf("PROBE %#x", ep), head, bufs, v.probeSz + 4})
	st := v.sync()[0]
	w, _ := v.reqq.Contents(bufs[1])
	var out [][3]uint64
	le := binary.LittleEndian
	for cur := uint32(0); cur < v.probeSz; {
		typ, n := le.Uint16(w[cur:])&0xfff, uint32(le.Uint16(w[cur+2:]))+4
		if typ == 0 {
			break
		}
		if typ == 1 && n >= 24 {
			out = append(out, [3]uint64{uint64(w[cur+4]), le.Uint64(w[cur+8:]), le.Uint64(w[cur+16:])})
		}
		cur += n
	}
	return st, out
}

// allocDomain is ida_alloc_range(first_domain, last_domain).
func (v *viommu) allocDomain() uint32 {
	for id := v.domFirst; ; id++ {
		if !v.domains[id] {
			v.domains[id] = true
			return id
		}
	}
}

func attach(domain, ep, flags uint32) []byte {
	b := make([]byte, 20)
	b[0] = tAttach
	binary.LittleEndian.PutUint32(b[4:], domain)
	binary.LittleEndian.PutUint32(b[8:], ep)
	binary.LittleEndian.PutUint32(b[12:], flags)
	return b
}

func detach(domain, ep uint32) []byte {
	b := attach(domain, ep, 0)
	b[0] = tDetach
	return b
}

func mapping(domain uint32, start, end, phys uint64, flags uint32) []byte {
	b := make([]byte, 36)
	b[0] = tMap
	le := binary.LittleEndian
	le.PutUint32(b[4:], domain)
	le.PutUint64(b[8:], start)
	le.PutUint64(b[16:], end)
	le.PutUint64(b[24:], phys)
	le.PutUint32(b[32:], flags)
	return b
}

func unmapping(domain uint32, start, end uint64) []byte {
	b := make([]byte, 28)
	b[0] = tUnmap
	le := binary.LittleEndian
	le.PutUint32(b[4:], domain)
	le.PutUint64(b[8:], start)
	le.PutUint64(b[16:], end)
	return b
}

// TestLinuxDriver boots a Go model of Linux 6.12's virtio-iommu driver
// against the device on a PCI segment, with two virtio-rng functions
// behind it: one in a DMA domain whose rings live at IOVAs far from their
// guest-physical pages, one in an identity (bypass) domain. It probes,
// attaches, maps, lets the rng do DMA through the IOMMU, maps and unmaps
// streaming batches as 6.12 queues them, removes the rng's mappings under
// its feet to get a fault event, and detaches.
func TestLinuxDriver(t *testing.T) {
	m, err := virtiotest.NewMachine(ramSize)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rngEP, rng2EP := uint32(rngBDF.RequesterID()), uint32(rng2BDF.RequesterID())
	cfg, err := virtioiommu.ParseConfig("aw-bits=48,granule=4k")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Endpoints = []uint32{rngEP, rng2EP}
	iommu, err := virtioiommu.New(cfg, m.Mem)
	if err != nil {
		t.Fatal(err)
	}
	var hostErrs []error
	iommu.SetErrorHook(func(err error) { hostErrs = append(hostErrs, err) })
	tr, err := virtio.New(iommu, virtio.Config{Memory: m.Mem, MSI: m.MSI})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := m.Seg.Add(iommuBDF, tr); err != nil {
		t.Fatal(err)
	}
	for _, ep := range []struct {
		bdf pci.BDF
		id  uint32
	}{{rngBDF, rngEP}, {rng2BDF, rng2EP}} {
		as, err := iommu.AddressSpace(ep.id)
		if err != nil {
			t.Fatal(err)
		}
		rtr, err := virtio.New(virtiorng.New(), virtio.Config{Memory: m.Mem, MSI: m.MSI, DMA: as})
		if err != nil {
			t.Fatal(err)
		}
		defer rtr.Close()
		if err := m.Seg.Add(ep.bdf, rtr); err != nil {
			t.Fatal(err)
		}
	}

	v := viommuProbe(t, m)
	if v.inLast != 1<<48-1 || v.domFirst != 0 || v.domLast != ^uint32(0) || v.probeSz == 0 {
		t.Fatalf("configuration: input [%#x, %#x], domains [%d, %d], probe_size %d", v.inFirst, v.inLast, v.domFirst, v.domLast, v.probeSz)
	}
	if v.features&(1<<fBypassConfig) == 0 {
		t.Fatal("BYPASS_CONFIG not negotiated")
	}

	// viommu_probe_device: PROBE every endpoint; x86 needs the MSI window.
	for _, ep := range []uint32{rngEP, rng2EP} {
		st, resv := v.probeEndpoint(ep)
		if st != sOK || len(resv) != 1 || resv[0] != [3]uint64{1, 0xfee00000, 0xfeefffff} {
			t.Fatalf("PROBE %#x: status %d, regions %x", ep, st, resv)
		}
	}
	if st, _ := v.probeEndpoint(0x999); st != sNoEnt {
		t.Fatalf("PROBE of an unknown endpoint: status %d", st)
	}

	// The default DMA domain of the first rng: attach, then the DMA
	// mapping of its driver's window (one MAP per iommu_map chunk).
	dma1 := v.allocDomain()
	if st := v.sendSync("ATTACH", attach(dma1, rngEP, 0), 4); st != sOK {
		t.Fatalf("ATTACH: %d", st)
	}
	if st := v.sendSync("MAP window", mapping(dma1, rngIOVA, rngIOVA+rngWindow-1, rngGPA, mapRead|mapWrite), 4); st != sOK {
		t.Fatalf("MAP: %d", st)
	}
	// An identity domain for the second rng: BYPASS_CONFIG negotiated, so
	// ATTACH_F_BYPASS instead of 1:1 MAPs.
	ident := v.allocDomain()
	if st := v.sendSync("ATTACH bypass", attach(ident, rng2EP, attachBypass), 4); st != sOK {
		t.Fatalf("ATTACH bypass: %d", st)
	}

	// The rngs' drivers. The first one's IOVAs are offset from their
	// guest-physical pages by rngIOVA-rngGPA: only the IOMMU bridges them.
	window := virtiotest.Offset{Delta: rngIOVA - rngGPA}
	rngDrv, rng := startRNG(t, m, rngBDF, window, rngIOVA)
	_, rng2 := startRNG(t, m, rng2BDF, dma.Identity{}, identIOVA)
	for _, r := range []*virtiotest.Queue{rng, rng2} {
		bufs := []virtiotest.Buf{{Write: true, Len: 4096}}
		if used, err := r.Submit(bufs, false); err != nil || used != 4096 {
			t.Fatalf("rng request: used %d, %v", used, err)
		}
		p, err := r.Contents(bufs[0])
		if err != nil || bytes.Count(p, p[:1]) == len(p) {
			t.Fatalf("rng buffer not filled (%v)", err)
		}
	}

	// Streaming DMA, as 6.12 does it: MAPs queued and synced in
	// iotlb_sync_map, UNMAPs queued and synced in iotlb_sync.
	const pages = 48
	for i := range pages {
		iova := streamIOVA + uint64(i)*0x3000 // holes between mappings
		v.addReq("MAP page", mapping(dma1, iova, iova+0xfff, rngGPA+uint64(i)<<12, mapRead), 4)
	}
	for i, st := range v.sync() {
		if st != sOK {
			t.Fatalf("batched MAP %d: status %d", i, st)
		}
	}
	for i := range pages {
		iova := streamIOVA + uint64(i)*0x3000
		v.addReq("UNMAP page", unmapping(dma1, iova, iova+0xfff), 4)
	}
	for i, st := range v.sync() {
		if st != sOK {
			t.Fatalf("batched UNMAP %d: status %d", i, st)
		}
	}
	if s := iommu.Stats(); s.Mappings != 1 || s.Domains != 2 {
		t.Fatalf("after the batches: %+v", s)
	}

	// Unmap the rng's window while its driver still uses it: the next
	// kick makes the rng read its available ring through the IOMMU, which
	// faults; the driver's event handler gets the record.
	if st := v.sendSync("UNMAP window", unmapping(dma1, rngIOVA, rngIOVA+rngWindow-1), 4); st != sOK {
		t.Fatalf("UNMAP window: %d", st)
	}
	if _, err := rng.Add([]virtiotest.Buf{{Write: true, Len: 64}}, false); err != nil {
		t.Fatal(err) // the guest still writes its ring; the device cannot read it
	}
	rng.Kick()
	head, n, err := v.evq.Wait()
	if err != nil || n != 24 {
		t.Fatalf("event: used %d, %v", n, err)
	}
	rec, err := v.evq.Contents(v.evBufs[head])
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if le.Uint32(rec[0:])&0xffffff00 != 0 { // VIOMMU_FAULT_RESV_MASK
		t.Fatalf("fault record with reserved bytes: %x", rec)
	}
	reason, flags, ep, addr := rec[0], le.Uint32(rec[4:]), le.Uint32(rec[8:]), le.Uint64(rec[16:])
	if reason != 2 || flags != 1|1<<8 || ep != rngEP || addr < rngIOVA || addr >= rngIOVA+rngWindow {
		t.Fatalf("fault record: reason %d flags %#x endpoint %#x address %#x", reason, flags, ep, addr)
	}
	for rngDrv.Status()&virtio.StatusDeviceNeedsReset == 0 {
		runtime.Gosched()
	}

	// viommu_release_device on 6.12: DETACH.
	for _, d := range []struct{ dom, ep uint32 }{{dma1, rngEP}, {ident, rng2EP}} {
		if st := v.sendSync("DETACH", detach(d.dom, d.ep), 4); st != sOK {
			t.Fatalf("DETACH: %d", st)
		}
	}
	if s := iommu.Stats(); s.Domains != 0 || s.Mappings != 0 || s.FaultsReported != 1 {
		t.Fatalf("after detach: %+v", s)
	}
	if len(hostErrs) != 0 {
		t.Fatalf("host-side errors: %v", hostErrs)
	}
}

// startRNG probes and starts the virtio-rng driver at bdf with its IOVAs
// going through as from iova on.
func startRNG(t *testing.T, m *virtiotest.Machine, bdf pci.BDF, as dma.AddressSpace, iova uint64) (*virtiotest.Driver, *virtiotest.Queue) {
	t.Helper()
	d, err := m.Probe(bdf, as, iova, rngWindow)
	if err != nil {
		t.Fatal(err)
	}
	if f, err := d.Init(^uint64(0)); err != nil || f&virtio.FeatureAccessPlatform == 0 {
		t.Fatalf("rng features %#x, %v: ACCESS_PLATFORM is required behind an IOMMU", f, err)
	}
	q, err := d.SetupQueue(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	d.DriverOK()
	return d, q
}
