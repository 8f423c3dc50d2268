package vtd

import (
	"fmt"
	"math/bits"
	"sort"
)

// This file is a guest driver that programs the unit the way Linux's
// drivers/iommu/intel does in legacy mode (6.1 and 6.12): the enable
// order, queued invalidation with a status-write wait descriptor per
// submission, caching-mode flushes (device-selective context invalidation
// with DID 0 plus DSI for a new context entry, PSI on every map), strict
// unmaps with PSI, and real second-level tables in guest memory.

type linuxVersion int

const (
	linux61  linuxVersion = 61  // one descriptor plus a wait per submission
	linux612 linuxVersion = 612 // up to 16 descriptors plus a wait per submission
)

const (
	qiLength     = 256 // Linux's QI_LENGTH: IQA.QS=0
	qiDone       = 2
	qiInUse      = 1
	qiMaxBatched = 16
)

type simDomain struct {
	did    uint16
	pgd    uint64
	levels int
}

type linuxDriver struct {
	e        *testEnv
	ver      linuxVersion
	cap      uint64
	ecap     uint64
	gcmd     uint32 // persistent GCMD bits, seeded from GSTS
	root     uint64
	qiBase   uint64
	qiStatus uint64 // desc_status[]: one 32-bit word per slot
	freeHead uint64
	pending  []descriptor // 6.12 batch
	attached map[uint16]*simDomain
	nextDID  uint16
	// submissions counts IQT writes, descriptors the descriptors queued.
	submissions, descriptors int
}

func newLinuxDriver(e *testEnv, ver linuxVersion) *linuxDriver {
	return &linuxDriver{e: e, ver: ver, attached: map[uint16]*simDomain{}, nextDID: 2}
}

func (d *linuxDriver) fatalf(format string, args ...any) {
	d.e.t.Helper()
	d.e.t.Fatalf(format, args...)
}

// writeGCMD writes the persistent bits with one more command bit and
// waits for the status as IOMMU_WAIT_OP does (here: checks it at once,
// since the unit completes commands synchronously).
func (d *linuxDriver) command(bit uint32, wantSet bool) {
	d.e.w32(RegGCMD, d.gcmd|bit)
	sts := d.e.r32(RegGSTS)
	if (sts&bit != 0) != wantSet {
		d.fatalf("GSTS %#x: bit %#x did not follow GCMD", sts, bit)
	}
}

// enable runs the init_dmars sequence.
func (d *linuxDriver) enable() {
	e := d.e
	d.cap = e.r64(RegCAP)
	d.ecap = e.r64(RegECAP)
	if d.cap&(0x1f<<capSAGAWSh) == 0 {
		d.fatalf("no supported address widths")
	}
	d.gcmd = e.r32(RegGSTS) & (gcmdTE | gcmdQIE | gcmdIRE | gcmdCFI)
	// Clear stale faults, as dmar_fault does at setup.
	e.w32(RegFSTS, fstsPFO|fstsPPF|fstsIQE|fstsICE|fstsITE)
	// __dmar_enable_qi.
	if d.ecap&ecapQI == 0 {
		d.fatalf("ECAP.QI not set")
	}
	d.qiBase = e.page()
	d.qiStatus = e.page()
	e.w32(RegIQT, 0)
	e.w64(RegIQA, d.qiBase) // DW=0, QS=0: SMTS=0
	d.gcmd |= gcmdQIE
	d.command(gcmdQIE, true)
	// Translation must be off before the root table changes.
	if e.r32(RegGSTS)&gcmdTE != 0 {
		d.gcmd &^= gcmdTE
		d.command(0, false)
	}
	d.root = e.page()
	e.w64(RegRTADDR, d.root)
	d.command(gcmdSRTP, true)
	if d.cap&(1<<63) == 0 { // !ESRTPS
		d.submit(ccGlobal())
		d.submit(iotlbGlobal())
	}
	// Fault event MSI, then unmask.
	e.w32(RegFEDATA, 0x41)
	e.w32(RegFEADDR, 0xfee00000)
	e.w32(RegFEUADDR, 0)
	e.w32(RegFECTL, 0)
}

// translate sets TE, as the last step of the init sequence.
func (d *linuxDriver) translate(on bool) {
	if on {
		d.gcmd |= gcmdTE
		d.command(gcmdTE, true)
	} else {
		d.gcmd &^= gcmdTE
		d.command(0, false)
	}
}

// submit is qi_submit_sync: the descriptors, a wait descriptor with
// status write, IQT, and a spin on the status word.
func (d *linuxDriver) submit(ds ...descriptor) {
	e := d.e
	e.t.Helper()
	for _, desc := range ds {
		d.putDesc(desc)
	}
	wait := d.freeHead
	status := d.qiStatus + wait*4
	if err := e.mem.Store32(status, qiInUse); err != nil {
		d.fatalf("%v", err)
	}
	d.putDesc(descriptor{lo: 0x0000000200000025, hi: status})
	d.descriptors += len(ds) + 1
	d.submissions++
	e.w32(RegIQT, uint32(d.freeHead<<4))
	for spins := 0; ; spins++ {
		v, err := e.mem.Load32(status)
		if err != nil {
			d.fatalf("%v", err)
		}
		if v == qiDone {
			break
		}
		if fsts := e.r32(RegFSTS); fsts&fstsIQE != 0 {
			d.fatalf("invalidation queue error: FSTS %#x IQER %#x IQH %#x, descriptors %v", fsts, e.r64(RegIQER), e.r64(RegIQH), ds)
		}
		if spins > 3 {
			d.fatalf("wait descriptor never completed")
		}
	}
}

func (d *linuxDriver) putDesc(desc descriptor) {
	a := d.qiBase + d.freeHead*16
	d.e.store(a, desc.lo)
	d.e.store(a+8, desc.hi)
	d.freeHead = (d.freeHead + 1) % qiLength
}

// flush queues descriptors the way the version does: 6.1 submits each on
// its own, 6.12 batches them (qi_batch, 16 per submission).
func (d *linuxDriver) flush(ds ...descriptor) {
	if d.ver == linux61 {
		for _, desc := range ds {
			d.submit(desc)
		}
		return
	}
	d.pending = append(d.pending, ds...)
	for len(d.pending) >= qiMaxBatched {
		d.submit(d.pending[:qiMaxBatched]...)
		d.pending = d.pending[qiMaxBatched:]
	}
}

// sync submits what a 6.12 batch still holds (qi_batch_flush_descs).
func (d *linuxDriver) sync() {
	if len(d.pending) > 0 {
		d.submit(d.pending...)
		d.pending = nil
	}
}

func (d *linuxDriver) cm() bool { return d.cap&capCM != 0 }

// newDomain allocates a DMA domain with a 4-level (48-bit) or 3-level table.
func (d *linuxDriver) newDomain(levels int) *simDomain {
	dom := &simDomain{did: d.nextDID, pgd: d.e.page(), levels: levels}
	d.nextDID++
	return dom
}

// attach writes sid's context entry (domain_context_mapping_one) and
// issues the caching-mode flushes for a not-present to present change.
func (d *linuxDriver) attach(sid uint16, dom *simDomain) {
	if d.attached[sid] != nil {
		d.detach(sid)
	}
	d.e.setContext(d.root, sid, ctxLo(dom.pgd, ttMultiLevel, false), ctxHi(uint8(dom.levels-2), dom.did))
	if d.cm() {
		d.flush(ccDevice(0, sid, 0), iotlbDSI(dom.did))
		d.sync()
	}
	d.attached[sid] = dom
}

// attachPT gives sid a pass-through context entry.
func (d *linuxDriver) attachPT(sid uint16, did uint16) {
	if d.attached[sid] != nil {
		d.detach(sid)
	}
	d.e.setContext(d.root, sid, ctxLo(0, ttPassThrough, false), ctxHi(2, did))
	if d.cm() {
		d.flush(ccDevice(0, sid, 0), iotlbDSI(did))
		d.sync()
	}
	d.attached[sid] = &simDomain{did: did}
}

// detach clears sid's context entry (domain_context_clear_one).
func (d *linuxDriver) detach(sid uint16) {
	dom := d.attached[sid]
	if dom == nil {
		return
	}
	d.e.setContext(d.root, sid, 0, 0)
	d.flush(ccDevice(dom.did, sid, 0), iotlbDSI(dom.did))
	d.sync()
	delete(d.attached, sid)
}

// psiRange returns the PSI (address, AM) that covers the pages of
// [first, last]: the smallest naturally aligned power-of-two block
// containing them, as cache.c's calculate_psi_aligned_address computes.
func psiRange(first, last uint64) (uint64, uint8) {
	pfn, lpfn := first>>12, last>>12
	am := uint8(0)
	if pfn != lpfn {
		am = uint8(bits.Len64(pfn ^ lpfn))
	}
	return pfn << 12 &^ (1<<(12+uint(am)) - 1), am
}

// flushRange flushes [first, last] of dom after a map or an unmap: PSI
// (falling back to DSI above MAMV) under caching mode for maps, always for
// unmaps (strict mode).
func (d *linuxDriver) flushRange(dom *simDomain, first, last uint64, unmap bool) {
	if !unmap && !d.cm() {
		return // iommu_flush_write_buffer: nothing with CAP.RWBF=0
	}
	addr, am := psiRange(first, last)
	if am > capMAMV || d.cap&capPSI == 0 {
		d.flush(iotlbDSI(dom.did))
	} else {
		d.flush(iotlbPSI(dom.did, addr, am, false))
	}
	d.sync()
}

// mapRange maps [iova, iova+size) to gpa with pages of pageSize and perm,
// then flushes as __mapping_notify_one / cache_tag_flush_range_np do.
func (d *linuxDriver) mapRange(dom *simDomain, iova, gpa, size, pageSize, perm uint64) {
	for off := uint64(0); off < size; off += pageSize {
		d.e.mapPage(dom.pgd, dom.levels, iova+off, gpa+off, pageSize, perm)
	}
	d.flushRange(dom, iova, iova+size-1, false)
}

// unmapRange unmaps [iova, iova+size): like intel_iommu_unmap it widens
// the range to whole leaves (a large page is unmapped whole), clears them,
// frees tables the range covers entirely, and flushes the widened range.
// It returns the widened range.
func (d *linuxDriver) unmapRange(dom *simDomain, iova, size uint64) (uint64, uint64) {
	first, last := iova, iova+size-1
	// Widen to the leaves at both ends.
	for _, a := range []uint64{first, last} {
		if lf, ok := d.leafAt(dom, a); ok {
			first = min(first, lf.iova)
			last = max(last, lf.iova+lf.size-1)
		}
	}
	d.clearLevel(dom.pgd, dom.levels, 0, first, last)
	d.flushRange(dom, first, last, true)
	return first, last
}

// clearLevel clears the entries of the table at level (first entry at
// base) inside [first, last]; a table entirely inside is dropped whole
// (dma_pte_free_level).
func (d *linuxDriver) clearLevel(table uint64, level int, base, first, last uint64) {
	shift := slShift(level)
	size := uint64(1) << shift
	for idx := uint64(0); idx < 512; idx++ {
		lo := base + idx<<shift
		hi := lo + size - 1
		if hi < first || lo > last {
			continue
		}
		a := table + idx*8
		pte := d.e.load(a)
		if pte&(slR|slW) == 0 {
			continue
		}
		leafEntry := level == 1 || pte&slPS != 0
		if leafEntry || (lo >= first && hi <= last) {
			d.e.store(a, 0)
			continue
		}
		d.clearLevel(pte&slAddr, level-1, lo, first, last)
	}
}

// refLeaf is one leaf of the reference walk.
type refLeaf struct {
	iova, size, gpa uint64
	perm            uint64
}

func (l refLeaf) String() string {
	return fmt.Sprintf("[%#x,+%#x)->%#x/%d", l.iova, l.size, l.gpa, l.perm)
}

// leafAt returns the leaf containing iova in dom's tables.
func (d *linuxDriver) leafAt(dom *simDomain, iova uint64) (refLeaf, bool) {
	table := dom.pgd
	perm := uint64(slR | slW)
	for level := dom.levels; level >= 1; level-- {
		pte := d.e.load(table + (iova>>slShift(level)&511)*8)
		perm &= pte & (slR | slW)
		if perm == 0 {
			return refLeaf{}, false
		}
		if level == 1 || pte&slPS != 0 {
			size := uint64(1) << slShift(level)
			return refLeaf{iova: iova &^ (size - 1), size: size, gpa: pte & slAddr &^ (size - 1), perm: perm}, true
		}
		table = pte & slAddr
	}
	return refLeaf{}, false
}

// refWalk lists every leaf of dom's tables in IOVA order: the reference
// translation the shadow is compared with.
func (d *linuxDriver) refWalk(dom *simDomain) []refLeaf {
	var out []refLeaf
	var rec func(table uint64, level int, base, perm uint64)
	rec = func(table uint64, level int, base, perm uint64) {
		for idx := uint64(0); idx < 512; idx++ {
			pte := d.e.load(table + idx*8)
			p := perm & pte & (slR | slW)
			if p == 0 {
				continue
			}
			iova := base + idx<<slShift(level)
			if level == 1 || pte&slPS != 0 {
				size := uint64(1) << slShift(level)
				out = append(out, refLeaf{iova: iova, size: size, gpa: pte & slAddr &^ (size - 1), perm: p})
				continue
			}
			rec(pte&slAddr, level-1, iova, p)
		}
	}
	rec(dom.pgd, dom.levels, 0, slR|slW)
	return out
}

// coalesce merges leaves adjacent in IOVA and GPA with equal permission.
func coalesce(ls []refLeaf) []refLeaf {
	sort.Slice(ls, func(i, j int) bool { return ls[i].iova < ls[j].iova })
	var out []refLeaf
	for _, l := range ls {
		if n := len(out); n > 0 {
			p := &out[n-1]
			if p.iova+p.size == l.iova && p.gpa+p.size == l.gpa && p.perm == l.perm {
				p.size += l.size
				continue
			}
		}
		out = append(out, l)
	}
	return out
}
