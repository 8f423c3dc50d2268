package vtd

import (
	"encoding/binary"
	"sync"
	"testing"

	"github.com/govmm/govmm/devices/irq"
	"github.com/govmm/govmm/memory"
)

// msiLog records the MSIs a unit sends.
type msiLog struct {
	mu   sync.Mutex
	msis []irq.MSI
	err  error // returned by SendMSI when set
}

func (l *msiLog) SendMSI(m irq.MSI) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msis = append(l.msis, m)
	return l.err
}

func (l *msiLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.msis)
}

func (l *msiLog) last() irq.MSI {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.msis) == 0 {
		return irq.MSI{}
	}
	return l.msis[len(l.msis)-1]
}

// testEnv is a unit over a byte slice of guest RAM starting at GPA 0, with
// a bump allocator of zeroed 4 KiB pages for tables.
type testEnv struct {
	t    testing.TB
	u    *Unit
	mem  *memory.Memory
	ram  []byte
	msi  *msiLog
	next uint64 // next free page for tables
}

// newEnv builds a unit with cfg over size bytes of RAM. Table pages are
// allocated from 1 MiB up; data pages tests use are below 1 MiB or above
// the tables.
func newEnv(t testing.TB, cfg Config, size int) *testEnv {
	t.Helper()
	ram := make([]byte, size)
	mem, err := memory.New(memory.Region{GPA: 0, Data: ram})
	if err != nil {
		t.Fatal(err)
	}
	l := &msiLog{}
	u, err := New(cfg, mem, l)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, u: u, mem: mem, ram: ram, msi: l, next: 1 << 20}
}

func (e *testEnv) page() uint64 {
	p := e.next
	e.next += 4096
	if e.next > uint64(len(e.ram)) {
		e.t.Fatalf("test RAM exhausted at %#x", p)
	}
	clear(e.ram[p : p+4096])
	return p
}

func (e *testEnv) w32(off uint64, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	e.u.Write(off, b[:])
}

func (e *testEnv) w64(off uint64, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	e.u.Write(off, b[:])
}

func (e *testEnv) r32(off uint64) uint32 {
	var b [4]byte
	e.u.Read(off, b[:])
	return binary.LittleEndian.Uint32(b[:])
}

func (e *testEnv) r64(off uint64) uint64 {
	var b [8]byte
	e.u.Read(off, b[:])
	return binary.LittleEndian.Uint64(b[:])
}

func (e *testEnv) store(gpa, v uint64) {
	if err := e.mem.Store64(gpa, v); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) load(gpa uint64) uint64 {
	v, err := e.mem.Load64(gpa)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// gcmd writes GCMD the way Linux does: the current status of the
// persistent bits plus bit.
func (e *testEnv) gcmd(bit uint32, on bool) {
	v := e.r32(RegGSTS) & (gcmdTE | gcmdQIE | gcmdIRE | gcmdCFI)
	if on {
		v |= bit
	} else {
		v &^= bit
	}
	e.w32(RegGCMD, v)
}

// setRoot allocates a root table, latches it with SRTP and returns it.
func (e *testEnv) setRoot() uint64 {
	root := e.page()
	e.w64(RegRTADDR, root)
	e.gcmd(gcmdSRTP, true)
	return root
}

// ctxTable returns the context table of bus, creating the root entry.
func (e *testEnv) ctxTable(root uint64, bus uint8) uint64 {
	re := e.load(root + uint64(bus)*16)
	if re&rootP != 0 {
		return re &^ 0xfff
	}
	ct := e.page()
	e.store(root+uint64(bus)*16, ct|rootP)
	return ct
}

// setContext writes the context entry of sid: lo and hi as given.
func (e *testEnv) setContext(root uint64, sid uint16, lo, hi uint64) {
	ct := e.ctxTable(root, uint8(sid>>8))
	e.store(ct+uint64(sid&0xff)*16+8, hi)
	e.store(ct+uint64(sid&0xff)*16, lo)
}

// ctxLo and ctxHi encode a legacy context entry.
func ctxLo(slptptr uint64, tt uint8, fpd bool) uint64 {
	v := slptptr | uint64(tt)<<2 | ctxP
	if fpd {
		v |= ctxFPD
	}
	return v
}

func ctxHi(aw uint8, did uint16) uint64 { return uint64(aw) | uint64(did)<<8 }

// mapPage maps the page of size (4 KiB, 2 MiB or 1 GiB) at iova to gpa with
// perm (slR|slW bits) in the levels-level tables at pgd, allocating tables.
// Intermediate entries get R|W.
func (e *testEnv) mapPage(pgd uint64, levels int, iova, gpa, size uint64, perm uint64) {
	leafLevel := map[uint64]int{4096: 1, 2 << 20: 2, 1 << 30: 3}[size]
	if leafLevel == 0 {
		e.t.Fatalf("bad page size %#x", size)
	}
	table := pgd
	for level := levels; level > leafLevel; level-- {
		a := table + (iova>>slShift(level)&511)*8
		pte := e.load(a)
		if pte&(slR|slW) == 0 || (pte&slPS != 0 && level <= 3) {
			nt := e.page()
			pte = nt | slR | slW
			e.store(a, pte)
		}
		table = pte & slAddr
	}
	pte := gpa | perm
	if leafLevel > 1 {
		pte |= slPS
	}
	e.store(table+(iova>>slShift(leafLevel)&511)*8, pte)
}

// entryAddr returns the address of the entry at level for iova in the
// tables at pgd, or 0 if a table on the way is missing.
func (e *testEnv) entryAddr(pgd uint64, levels int, iova uint64, level int) uint64 {
	table := pgd
	for l := levels; l > level; l-- {
		pte := e.load(table + (iova>>slShift(l)&511)*8)
		if pte&(slR|slW) == 0 {
			return 0
		}
		table = pte & slAddr
	}
	return table + (iova>>slShift(level)&511)*8
}

// qi is a minimal invalidation queue driver for tests: 256 descriptors at
// base, a status word at status.
type qi struct {
	e      *testEnv
	base   uint64
	status uint64
	tail   uint64
}

func (e *testEnv) enableQI() *qi {
	q := &qi{e: e, base: e.page(), status: e.page()}
	e.w32(RegIQT, 0)
	e.w64(RegIQA, q.base)
	e.gcmd(gcmdQIE, true)
	if e.r32(RegGSTS)&gcmdQIE == 0 {
		e.t.Fatal("QIES not set")
	}
	return q
}

// put writes descriptors at the tail without submitting them.
func (q *qi) put(ds ...descriptor) {
	for _, d := range ds {
		q.e.store(q.base+q.tail*16, d.lo)
		q.e.store(q.base+q.tail*16+8, d.hi)
		q.tail = (q.tail + 1) % 256
	}
}

// submit queues ds plus a status-write wait descriptor, writes IQT and
// checks the status word was written.
func (q *qi) submit(ds ...descriptor) {
	q.e.t.Helper()
	if err := q.e.mem.Store32(q.status, 1); err != nil {
		q.e.t.Fatal(err)
	}
	q.put(ds...)
	q.put(descriptor{lo: 0x0000000200000025, hi: q.status})
	q.e.w32(RegIQT, uint32(q.tail<<4))
	v, err := q.e.mem.Load32(q.status)
	if err != nil {
		q.e.t.Fatal(err)
	}
	if v != 2 {
		q.e.t.Fatalf("wait status %d after IQT write (FSTS %#x IQER %#x IQH %#x)", v, q.e.r32(RegFSTS), q.e.r64(RegIQER), q.e.r64(RegIQH))
	}
}

// Descriptor encoders.
func ccGlobal() descriptor { return descriptor{lo: 0x11} }
func ccDomain(did uint16) descriptor {
	return descriptor{lo: 0x21 | uint64(did)<<16}
}
func ccDevice(did, sid uint16, fm uint8) descriptor {
	return descriptor{lo: 0x31 | uint64(did)<<16 | uint64(sid)<<32 | uint64(fm)<<48}
}
func iotlbGlobal() descriptor { return descriptor{lo: 0x12} }
func iotlbDSI(did uint16) descriptor {
	return descriptor{lo: 0x22 | uint64(did)<<16}
}
func iotlbPSI(did uint16, addr uint64, am uint8, ih bool) descriptor {
	hi := addr&^0xfff | uint64(am)
	if ih {
		hi |= descIH
	}
	return descriptor{lo: 0x32 | uint64(did)<<16, hi: hi}
}
func devTLB(sid uint16, addr uint64, s bool) descriptor {
	hi := addr &^ 0xfff
	if s {
		hi |= 1
	}
	return descriptor{lo: 0x3 | uint64(sid)<<32, hi: hi}
}

func sid(bus, dev, fn uint8) uint16 { return uint16(bus)<<8 | uint16(dev)<<3 | uint16(fn) }
