package vtd

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/memory"
	"github.com/govmm/govmm/notifier"
)

// fuzzRAM is the guest RAM size fuzz targets use: fuzz input is copied to
// its start, the rest is zero.
const fuzzRAM = 256 << 10

// fuzzEnv builds a unit over fuzzRAM bytes holding data, with table pages
// allocated from 0x1000 for seeds.
func fuzzEnv(t testing.TB, cfg Config, data []byte) *testEnv {
	ram := make([]byte, fuzzRAM)
	copy(ram, data)
	mem, err := memory.New(memory.Region{GPA: 0, Data: ram})
	if err != nil {
		t.Fatal(err)
	}
	l := &msiLog{}
	u, err := New(cfg, mem, l)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, u: u, mem: mem, ram: ram, msi: l, next: 0x1000}
}

// seedTables builds valid translation structures in fuzz RAM: a root
// table at 0x1000, device 00:03.0 with 4-level tables holding 4 KiB, 2 MiB
// and 1 GiB pages, device 00:04.0 in pass-through, device 01:00.0 with a
// 3-level table. It returns the RAM image.
func seedTables(t testing.TB) []byte {
	e := fuzzEnv(t, DefaultConfig(), nil)
	root := e.page()
	pgd := e.page()
	e.setContext(root, sid(0, 3, 0), ctxLo(pgd, ttMultiLevel, false), ctxHi(2, 5))
	e.mapPage(pgd, 4, 0x1000, 0x8000, 4096, slR|slW)
	e.mapPage(pgd, 4, 0x2000, 0x9000, 4096, slR)
	e.mapPage(pgd, 4, 0x400000, 0x200000, 2<<20, slR|slW)
	e.mapPage(pgd, 4, 0x80000000, 0x40000000, 1<<30, slW)
	e.setContext(root, sid(0, 4, 0), ctxLo(0, ttPassThrough, true), ctxHi(2, 6))
	pgd3 := e.page()
	e.setContext(root, sid(1, 0, 0), ctxLo(pgd3, ttMultiLevel, false), ctxHi(1, 7))
	e.mapPage(pgd3, 3, 0x7000, 0x3000, 4096, slR|slW)
	return e.ram[:e.next]
}

// fuzzConfigs are the unit configurations a fuzz input selects from.
var fuzzConfigs = []string{"", "aw-bits=39", "device-iotlb=on,pt=off", "caching-mode=on,aw-bits=39,device-iotlb=on"}

// FuzzPageWalk translates one address through arbitrary guest memory (root
// table, context entries, page tables), then checks that the translation
// is stable, in bounds, and agrees with the shadow the unit builds for a
// MAP notifier from the same memory.
func FuzzPageWalk(f *testing.F) {
	img := seedTables(f)
	for _, s := range []struct {
		sid  uint16
		iova uint64
	}{{0x18, 0x1234}, {0x18, 0x2008}, {0x18, 0x4abcde}, {0x18, 0x80001000}, {0x20, 0x5000}, {0x100, 0x7010}, {0x18, 0xfee00000}, {0x18, 1 << 48}} {
		f.Add(img, uint64(0x1000), s.sid, s.iova, false, uint8(0))
		f.Add(img, uint64(0x1000), s.sid, s.iova, true, uint8(3))
	}
	f.Add([]byte{}, uint64(0), uint16(0), uint64(0), false, uint8(1))
	f.Fuzz(runFuzzWalk)
}

func runFuzzWalk(t *testing.T, data []byte, root uint64, sid uint16, iova uint64, write bool, sel uint8) {
	{
		defer func(b int) { walkBudget = b }(walkBudget)
		walkBudget = 1 << 10
		cfg, _ := ParseConfig(fuzzConfigs[int(sel)%len(fuzzConfigs)])
		cfg.CachingMode = true
		e := fuzzEnv(t, cfg, data)
		var errs int
		e.u.SetErrorHook(func(error) { errs++ })
		e.w64(RegRTADDR, root)
		e.gcmd(gcmdSRTP, true)
		e.gcmd(gcmdTE, true)
		as := e.u.AddressSpace(sid)
		acc := dma.Read
		if write {
			acc = dma.Write
		}
		gpa, l, err := as.Translate(iova, 1<<20, acc)
		gpa2, l2, err2 := as.Translate(iova, 1<<20, acc) // from the caches
		if (err == nil) != (err2 == nil) || gpa != gpa2 || l != l2 {
			t.Fatalf("unstable: %#x %#x %v then %#x %#x %v", gpa, l, err, gpa2, l2, err2)
		}
		if err == nil && (l == 0 || l > 1<<20 || inInterruptRange(gpa)) {
			t.Fatalf("Translate(%#x) = %#x, %#x", iova, gpa, l)
		}
		rec := &recorder{}
		if _, err := as.Register(rec, notifier.Map|notifier.Unmap, 0, ^uint64(0)); err != nil {
			t.Fatal(err)
		}
		covered := false
		for _, ev := range rec.take() {
			if ev.Kind != notifier.Map || ev.Size == 0 || ev.IOVA&(ev.Size-1) != 0 {
				t.Fatalf("bad replay event %v", ev)
			}
			if ev.IOVA <= iova && iova-ev.IOVA < ev.Size {
				covered = true
				if err == nil && acc&dma.Access(ev.Perm) == acc && gpa != ev.Addr+iova-ev.IOVA {
					t.Fatalf("Translate(%#x) = %#x but the shadow maps %v", iova, gpa, ev)
				}
			}
			for _, probe := range []uint64{ev.IOVA, ev.IOVA + ev.Size - 1} {
				if inInterruptRange(probe) {
					continue
				}
				g, _, err := as.Translate(probe, 1, dma.Access(ev.Perm))
				if err != nil || g != ev.Addr+probe-ev.IOVA {
					t.Fatalf("shadow maps %v but Translate(%#x) = %#x, %v", ev, probe, g, err)
				}
			}
		}
		// Identity translations (pass-through) reach beyond RAM; the shadow
		// maps RAM only, the part consumers can map.
		identityBeyondRAM := gpa == iova && !e.mem.Contains(gpa, 1)
		if err == nil && !covered && errs == 0 && !identityBeyondRAM {
			t.Fatalf("Translate(%#x) = %#x but the shadow does not map it", iova, gpa)
		}
	}
}

// encodeQueue turns descriptors into queue bytes.
func encodeQueue(ds ...descriptor) []byte {
	b := make([]byte, 16*len(ds))
	for i, d := range ds {
		binary.LittleEndian.PutUint64(b[16*i:], d.lo)
		binary.LittleEndian.PutUint64(b[16*i+8:], d.hi)
	}
	return b
}

// FuzzInvalidationQueue processes arbitrary queue contents with arbitrary
// IQA and IQT values, over the seed translation structures and notifiers
// of every kind, and checks the queue registers stay consistent.
func FuzzInvalidationQueue(f *testing.F) {
	img := seedTables(f)
	q := uint64(0x20000)
	f.Add(encodeQueue(ccGlobal(), iotlbGlobal(), waitDesc(2, 0x30000)), q, uint64(3<<4), img)
	f.Add(encodeQueue(ccDevice(0, 0x18, 0), iotlbDSI(5), iotlbPSI(5, 0x1000, 0, false), iotlbPSI(5, 0, 18, true), waitDesc(2, 0x30000)), q, uint64(5<<4), img)
	f.Add(encodeQueue(devTLB(0x18, 0x5000, true), descriptor{lo: 0x14}, descriptor{lo: 0x75, hi: 0x30004}, ccDomain(5)), q, uint64(4<<4), img)
	f.Add(encodeQueue(descriptor{lo: 0x6}, waitDesc(2, 0x30000)), q, uint64(2<<4), img)
	f.Add(encodeQueue(waitDesc(1, 1<<40)), q|1, uint64(300<<4), img)
	f.Add([]byte{}, uint64(1<<40), uint64(1<<4), []byte{})
	f.Add(encodeQueue(waitDesc(1, 0x30000)), q|iqaDW, uint64(1<<5), img)
	f.Fuzz(func(t *testing.T, queue []byte, iqa, iqt uint64, tables []byte) {
		defer func(b int) { walkBudget = b }(walkBudget)
		walkBudget = 1 << 10
		cfg := DefaultConfig()
		cfg.DeviceIOTLB = true
		data := make([]byte, 0x20000+len(queue))
		copy(data, tables)
		copy(data[0x20000:], queue)
		e := fuzzEnv(t, cfg, data)
		e.w64(RegRTADDR, 0x1000)
		e.gcmd(gcmdSRTP, true)
		e.gcmd(gcmdTE, true)
		for i, k := range []notifier.Kind{notifier.Map | notifier.Unmap, notifier.Unmap, notifier.DevIOTLBUnmap} {
			if _, err := e.u.AddressSpace([]uint16{0x18, 0x20, 0x18}[i]).Register(&recorder{}, k, 0, ^uint64(0)); err != nil {
				t.Fatal(err)
			}
		}
		e.w32(RegFECTL, 0)
		e.w32(RegIECTL, 0)
		e.w64(RegIQA, iqa)
		e.gcmd(gcmdQIE, true)
		e.w64(RegIQT, iqt)
		size := uint64(256) << (e.r64(RegIQA) & 7)
		head := e.r64(RegIQH)
		if head&0xf != 0 || head>>4 >= size {
			t.Fatalf("IQH %#x outside a queue of %d", head, size)
		}
		fsts := e.r32(RegFSTS)
		if fsts&fstsIQE == 0 && head != e.r64(RegIQT) {
			t.Fatalf("queue stopped at IQH %#x before IQT %#x without an error", head, e.r64(RegIQT))
		}
		if fsts&fstsIQE != 0 {
			if e.r64(RegIQER) == 0 {
				t.Fatalf("IQE without IQER")
			}
			e.w64(RegIQT, iqt) // halted: nothing moves
			if e.r64(RegIQH) != head {
				t.Fatalf("halted queue moved from %#x to %#x", head, e.r64(RegIQH))
			}
			e.w32(RegFSTS, fstsIQE) // resumes; must not break anything
		}
		e.gcmd(gcmdQIE, false)
		if e.r64(RegIQH) != 0 {
			t.Fatalf("IQH %#x with QI disabled", e.r64(RegIQH))
		}
	})
}

// FuzzRegisters applies an arbitrary sequence of register accesses: every
// 12 input bytes are an offset (2 bytes), a size selector and flags (1),
// a value (8) and a padding byte. Nothing may panic, and the read-only
// registers must keep their values.
func FuzzRegisters(f *testing.F) {
	op := func(off uint16, size byte, write bool, v uint64) []byte {
		b := make([]byte, 12)
		binary.LittleEndian.PutUint16(b, off)
		b[2] = size
		if write {
			b[2] |= 0x80
		}
		binary.LittleEndian.PutUint64(b[3:], v)
		return b
	}
	var linuxish []byte
	for _, o := range [][]byte{
		op(RegIQA, 8, true, 0x20000), op(RegGCMD, 4, true, gcmdQIE), op(RegRTADDR, 8, true, 0x1000),
		op(RegGCMD, 4, true, gcmdQIE|gcmdSRTP), op(RegGCMD, 4, true, gcmdQIE|gcmdTE), op(RegIQT, 4, true, 0x30),
		op(RegCCMD, 8, true, ccmdICC|1<<ccmdCIRGSh), op(RegIOTLB, 8, true, iotlbIVT|3<<iotlbIIRGSh), op(RegFSTS, 4, true, 0xff),
		op(RegFRCD+12, 4, true, 1<<31), op(RegFECTL, 4, true, 0), op(RegIECTL, 4, true, 0), op(0xfff, 1, false, 0),
	} {
		linuxish = append(linuxish, o...)
	}
	f.Add(linuxish, seedTables(f))
	f.Add(op(RegGCMD, 4, true, 0xffffffff), []byte{})
	f.Fuzz(func(t *testing.T, ops []byte, ram []byte) {
		defer func(b int) { walkBudget = b }(walkBudget)
		walkBudget = 1 << 10
		e := fuzzEnv(t, DefaultConfig(), ram)
		e.u.AddressSpace(0x18).Register(&recorder{}, notifier.Map|notifier.Unmap, 0, ^uint64(0))
		for len(ops) >= 12 {
			off := uint64(binary.LittleEndian.Uint16(ops)) % (RegisterWindowSize + 16)
			size := []int{1, 2, 4, 8}[ops[2]&3]
			buf := make([]byte, size)
			copy(buf, ops[3:11])
			if ops[2]&0x80 != 0 {
				e.u.Write(off, buf)
			} else {
				e.u.Read(off, buf)
			}
			e.u.AddressSpace(0x18).Translate(uint64(ops[11])<<12, 8, dma.Read)
			ops = ops[12:]
		}
		if e.r32(RegVER) != regVERv || e.r64(RegCAP) != DefaultConfig().CAP() || e.r64(RegECAP) != DefaultConfig().ECAP() || e.r32(RegGCMD) != 0 {
			t.Fatal("a read-only register changed")
		}
	})
}

// FuzzParseConfig checks the option parser never panics and that what it
// accepts is valid and round-trips.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{"", "aw-bits=39", "aw-bits=48,caching-mode=off,device-iotlb=on,pt=off", "pt=on,pt=on", "x", "aw-bits=-1", strings.Repeat("pt=on,", 3)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConfig(s)
		if err != nil {
			return
		}
		if c.Validate() != nil {
			t.Fatalf("ParseConfig(%q) accepted an invalid %+v", s, c)
		}
		if again, err := ParseConfig(c.String()); err != nil || again != c {
			t.Fatalf("%q does not round-trip: %+v, %v", c.String(), again, err)
		}
	})
}
