package vtd

import (
	"fmt"
	"testing"

	"github.com/govmm/govmm/devices/irq"
)

func waitDesc(data uint32, addr uint64) descriptor {
	return descriptor{lo: uint64(data)<<32 | waitSW | descWait, hi: addr}
}

// TestQueueErrors puts a bad descriptor between two good waits and checks
// the unit stops at it (FSTS.IQE, IQER.IQEI, IQH on the bad one), stays
// halted on further IQT writes, and resumes once software replaces the
// descriptor and clears IQE, as Linux's qi_check_fault does.
func TestQueueErrors(t *testing.T) {
	tests := []struct {
		name string
		d    descriptor
		iqei uint8
	}{
		{"type 0", descriptor{lo: 0}, iqeiType},
		{"PASID-IOTLB (type 6)", descriptor{lo: 0x6}, iqeiType},
		{"PASID-cache (type 7)", descriptor{lo: 0x7}, iqeiType},
		{"PASID device-TLB (type 8)", descriptor{lo: 0x8}, iqeiType},
		{"page response (type 9)", descriptor{lo: 0x9}, iqeiType},
		{"type 15", descriptor{lo: 0xf}, iqeiType},
		{"CC with type[6:4] set", descriptor{lo: 0x11 | 1<<9}, iqeiType},
		{"wait with type[6:4] set", descriptor{lo: 0x5 | 1<<11}, iqeiType},
		{"CC granularity 0", descriptor{lo: 0x01}, iqeiReserved},
		{"CC bit 6", descriptor{lo: 0x11 | 1<<6}, iqeiReserved},
		{"CC bit 12", descriptor{lo: 0x11 | 1<<12}, iqeiReserved},
		{"CC bit 50", descriptor{lo: 0x11 | 1<<50}, iqeiReserved},
		{"CC qw1", descriptor{lo: 0x11, hi: 1}, iqeiReserved},
		{"IOTLB granularity 0", descriptor{lo: 0x02}, iqeiReserved},
		{"IOTLB bit 8", descriptor{lo: 0x12 | 1<<8}, iqeiReserved},
		{"IOTLB bit 15", descriptor{lo: 0x12 | 1<<15}, iqeiReserved},
		{"IOTLB bit 32", descriptor{lo: 0x12 | 1<<32}, iqeiReserved},
		{"IOTLB qw1 bit 7", descriptor{lo: 0x12, hi: 1 << 7}, iqeiReserved},
		{"IOTLB PSI AM 19 > MAMV", iotlbPSI(1, 0, 19, false), iqeiReserved},
		{"device-TLB bit 4", descriptor{lo: 0x3 | 1<<4}, iqeiReserved},
		{"device-TLB bit 21", descriptor{lo: 0x3 | 1<<21}, iqeiReserved},
		{"device-TLB bit 48", descriptor{lo: 0x3 | 1<<48}, iqeiReserved},
		{"device-TLB qw1 bit 1", descriptor{lo: 0x3, hi: 2}, iqeiReserved},
		{"IEC bit 5", descriptor{lo: 0x4 | 1<<5}, iqeiReserved},
		{"IEC bit 12", descriptor{lo: 0x4 | 1<<12}, iqeiReserved},
		{"IEC bit 48", descriptor{lo: 0x4 | 1<<48}, iqeiReserved},
		{"IEC qw1", descriptor{lo: 0x4, hi: 1 << 63}, iqeiReserved},
		{"wait PD (bit 7)", descriptor{lo: 0x5 | 1<<7}, iqeiReserved},
		{"wait bit 8", descriptor{lo: 0x5 | 1<<8}, iqeiReserved},
		{"wait bit 31", descriptor{lo: 0x5 | 1<<31}, iqeiReserved},
		{"wait qw1 bit 0", descriptor{lo: 0x5, hi: 1}, iqeiReserved},
		{"wait status above HAW", waitDesc(7, 1<<48), iqeiReserved},
		{"wait status outside RAM", waitDesc(7, 1<<40), iqeiFetch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, DefaultConfig(), 4<<20)
			e.w32(RegFECTL, 0)
			q := e.enableQI()
			stA, stB := q.status, q.status+8
			q.put(waitDesc(0xa, stA), tc.d, waitDesc(0xb, stB))
			e.w32(RegIQT, uint32(q.tail<<4))
			check := func(when string, wantB uint32) {
				t.Helper()
				a, _ := e.mem.Load32(stA)
				b, _ := e.mem.Load32(stB)
				if a != 0xa || b != wantB {
					t.Errorf("%s: status words %#x %#x, want 0xa %#x", when, a, b, wantB)
				}
			}
			check("after IQT", 0)
			if fsts := e.r32(RegFSTS); fsts&fstsIQE == 0 {
				t.Fatalf("FSTS %#x: IQE not set", fsts)
			}
			if got := e.r64(RegIQER) & 0xf; got != uint64(tc.iqei) {
				t.Errorf("IQER.IQEI = %d, want %d", got, tc.iqei)
			}
			if got := e.r64(RegIQH); got != 1<<4 {
				t.Errorf("IQH = %#x, want the bad descriptor 0x10", got)
			}
			if e.msi.count() != 1 {
				t.Errorf("%d fault event MSIs, want 1", e.msi.count())
			}
			e.w32(RegIQT, uint32(q.tail<<4)) // halted: nothing runs
			check("after a second IQT write", 0)
			// Replace the bad descriptor by a wait, then clear IQE.
			e.store(q.base+16, waitDesc(0xc, stB+16).lo)
			e.store(q.base+24, stB+16)
			e.w32(RegFSTS, fstsIQE)
			check("after clearing IQE", 0xb)
			if got := e.r64(RegIQH); got != q.tail<<4 {
				t.Errorf("IQH = %#x after resuming, want %#x", got, q.tail<<4)
			}
			if e.r32(RegFSTS) != 0 {
				t.Errorf("FSTS %#x after resuming", e.r32(RegFSTS))
			}
		})
	}
}

// TestQueueConfigErrors checks errors that come from IQA and IQT rather
// than from a descriptor.
func TestQueueConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		iqa  uint64 // base is added unless outside
		iqt  uint32
		iqei uint8
	}{
		{"tail past 256 entries", 0, 256 << 4, iqeiTail},
		{"tail inside 512 entries", 1, 256 << 4, 0},
		{"tail past 512 entries", 1, 512 << 4, iqeiTail},
		{"256-bit descriptors without scalable mode", iqaDW, 1 << 5, iqeiWidth},
		{"queue outside RAM", 1 << 40, 1 << 4, iqeiFetch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, DefaultConfig(), 4<<20)
			base := e.page()
			for i := 0; i < 512; i++ { // fill two pages of queue with no-op waits
				if i%256 == 0 && i > 0 {
					e.page()
				}
				e.store(base+uint64(i)*16, descWait)
			}
			iqa := base | tc.iqa
			if tc.iqa == 1<<40 {
				iqa = tc.iqa
			}
			e.w64(RegIQA, iqa)
			e.gcmd(gcmdQIE, true)
			e.w32(RegIQT, tc.iqt)
			fsts := e.r32(RegFSTS)
			if tc.iqei == 0 {
				if fsts != 0 || e.r64(RegIQH) != uint64(tc.iqt) {
					t.Errorf("FSTS %#x IQH %#x, want no error and IQH %#x", fsts, e.r64(RegIQH), tc.iqt)
				}
				return
			}
			if fsts&fstsIQE == 0 || e.r64(RegIQER) != uint64(tc.iqei) {
				t.Errorf("FSTS %#x IQER %#x, want IQE with IQEI %d", fsts, e.r64(RegIQER), tc.iqei)
			}
			if e.r64(RegIQH) != 0 {
				t.Errorf("IQH %#x moved", e.r64(RegIQH))
			}
		})
	}
}

// TestQueueSizesAndWrap drives the ring around twice for QS 0-3.
func TestQueueSizesAndWrap(t *testing.T) {
	for qs := 0; qs <= 3; qs++ {
		t.Run(fmt.Sprintf("QS=%d", qs), func(t *testing.T) {
			e := newEnv(t, DefaultConfig(), 8<<20)
			n := uint64(256) << qs
			base := e.page()
			for i := 1; i < 1<<qs; i++ {
				e.page()
			}
			status := e.page()
			e.w64(RegIQA, base|uint64(qs))
			e.gcmd(gcmdQIE, true)
			tail := uint64(0)
			for i := uint64(0); i < 2*n+5; i += 7 { // batches of 7 waits
				for j := uint64(0); j < 7; j++ {
					e.store(base+tail*16, waitDesc(uint32(i+j), status).lo)
					e.store(base+tail*16+8, status)
					tail = (tail + 1) % n
				}
				e.w32(RegIQT, uint32(tail<<4))
				if v, _ := e.mem.Load32(status); v != uint32(i+6) || e.r64(RegIQH) != tail<<4 {
					t.Fatalf("batch %d: status %d, IQH %#x; want %d, %#x (FSTS %#x)", i, v, e.r64(RegIQH), i+6, tail<<4, e.r32(RegFSTS))
				}
			}
		})
	}
}

// TestWaitDescriptor checks the SW, IF and FN flags and the completion
// event (IWC, IECTL.IM/IP, the MSI).
func TestWaitDescriptor(t *testing.T) {
	e := newEnv(t, DefaultConfig(), 4<<20)
	q := e.enableQI()
	e.w32(RegIEDATA, 0x51)
	e.w32(RegIEADDR, 0xfee00000)
	e.w32(RegIEUADDR, 0)
	q.put(descriptor{lo: waitFN | descWait}) // barrier only
	e.w32(RegIQT, uint32(q.tail<<4))
	if e.r32(RegICS) != 0 || e.r64(RegIQH) != 1<<4 {
		t.Fatalf("fence: ICS %#x IQH %#x", e.r32(RegICS), e.r64(RegIQH))
	}
	e.w32(RegIECTL, 0)
	q.submit(descriptor{lo: 0x77<<32 | waitIF | waitSW | descWait, hi: q.status + 8}) // both SW and IF
	if v, _ := e.mem.Load32(q.status + 8); v != 0x77 {
		t.Errorf("SW+IF status word %#x", v)
	}
	if e.r32(RegICS) != icsIWC || e.msi.count() != 1 || e.msi.last() != (irq.MSI{Addr: 0xfee00000, Data: 0x51}) {
		t.Fatalf("IF: ICS %#x, MSIs %d %+v", e.r32(RegICS), e.msi.count(), e.msi.last())
	}
	q.submit(descriptor{lo: waitIF | descWait}) // IWC still set: no new event
	if e.msi.count() != 1 {
		t.Errorf("%d MSIs while IWC was pending", e.msi.count())
	}
	e.w32(RegICS, icsIWC)
	e.w32(RegIECTL, iectlIM)
	q.submit(descriptor{lo: waitIF | descWait}) // masked: IP pending
	if e.msi.count() != 1 || e.r32(RegIECTL) != iectlIM|iectlIP {
		t.Fatalf("masked: MSIs %d IECTL %#x", e.msi.count(), e.r32(RegIECTL))
	}
	e.w32(RegIECTL, 0) // unmask: sent
	if e.msi.count() != 2 || e.r32(RegIECTL) != 0 {
		t.Errorf("unmasked: MSIs %d IECTL %#x", e.msi.count(), e.r32(RegIECTL))
	}
}

// TestQueueEnableDisable checks QIE: IQH resets when disabled, IQT writes
// do nothing while disabled, and descriptors queued before QIE run when it
// is set (as Windows does).
func TestQueueEnableDisable(t *testing.T) {
	e := newEnv(t, DefaultConfig(), 4<<20)
	q := e.enableQI()
	q.submit()
	if e.r64(RegIQH) != 1<<4 {
		t.Fatalf("IQH %#x", e.r64(RegIQH))
	}
	e.gcmd(gcmdQIE, false)
	if e.r32(RegGSTS)&gcmdQIE != 0 || e.r64(RegIQH) != 0 {
		t.Fatalf("disable: GSTS %#x IQH %#x", e.r32(RegGSTS), e.r64(RegIQH))
	}
	e.store(q.base, waitDesc(9, q.status).lo)
	e.store(q.base+8, q.status)
	e.w32(RegIQT, 1<<4)
	if v, _ := e.mem.Load32(q.status); v == 9 {
		t.Fatal("a descriptor ran with QI disabled")
	}
	e.gcmd(gcmdQIE, true)
	if v, _ := e.mem.Load32(q.status); v != 9 || e.r64(RegIQH) != 1<<4 {
		t.Errorf("enable with IQT != 0: status %d IQH %#x", v, e.r64(RegIQH))
	}
}

// TestRegisterInvalidation checks CCMD and IOTLB/IVA: the granularity
// performed is reported (CAIG, IAIG), ICC and IVT clear, and both are
// refused while queued invalidation is enabled.
func TestRegisterInvalidation(t *testing.T) {
	tests := []struct {
		name  string
		qi    bool
		off   uint64
		val   uint64
		iva   uint64
		want  uint64 // register value afterwards
		split bool   // written as two 4-byte halves, low first
		flush bool   // the device's context cache entry is dropped
	}{
		{"CCMD global", false, RegCCMD, ccmdICC | 1<<ccmdCIRGSh, 0, 1<<ccmdCIRGSh | 1<<ccmdCAIGSh, false, true},
		{"CCMD domain", false, RegCCMD, ccmdICC | 2<<ccmdCIRGSh | 5, 0, 2<<ccmdCIRGSh | 2<<ccmdCAIGSh | 5, false, true},
		{"CCMD other domain", false, RegCCMD, ccmdICC | 2<<ccmdCIRGSh | 7, 0, 2<<ccmdCIRGSh | 2<<ccmdCAIGSh | 7, false, false},
		{"CCMD other device", false, RegCCMD, ccmdICC | 3<<ccmdCIRGSh | 0x20<<16, 0, 3<<ccmdCIRGSh | 3<<ccmdCAIGSh | 0x20<<16, false, false},
		{"CCMD device FM 3", false, RegCCMD, ccmdICC | 3<<ccmdCIRGSh | 3<<32 | 0x18<<16, 0, 3<<ccmdCIRGSh | 3<<ccmdCAIGSh | 3<<32 | 0x18<<16, true, true},
		{"CCMD granularity 0", false, RegCCMD, ccmdICC, 0, 0, false, false},
		{"CCMD with QI", true, RegCCMD, ccmdICC | 1<<ccmdCIRGSh, 0, 1 << ccmdCIRGSh, false, false},
		{"IOTLB global", false, RegIOTLB, iotlbIVT | 1<<iotlbIIRGSh, 0, 1<<iotlbIIRGSh | 1<<iotlbIAIGSh, false, false},
		{"IOTLB DSI", false, RegIOTLB, iotlbIVT | 2<<iotlbIIRGSh | 5<<32, 0, 2<<iotlbIIRGSh | 2<<iotlbIAIGSh | 5<<32, true, false},
		{"IOTLB PSI", false, RegIOTLB, iotlbIVT | 3<<iotlbIIRGSh | 5<<32, 0x40000 | 2, 3<<iotlbIIRGSh | 3<<iotlbIAIGSh | 5<<32, false, false},
		{"IOTLB PSI AM > MAMV becomes DSI", false, RegIOTLB, iotlbIVT | 3<<iotlbIIRGSh | 5<<32, 19, 3<<iotlbIIRGSh | 2<<iotlbIAIGSh | 5<<32, false, false},
		{"IOTLB granularity 0", false, RegIOTLB, iotlbIVT, 0, 0, false, false},
		{"IOTLB with QI", true, RegIOTLB, iotlbIVT | 1<<iotlbIIRGSh, 0, 1 << iotlbIIRGSh, false, false},
		{"IOTLB DR DW kept", false, RegIOTLB, iotlbIVT | 1<<iotlbIIRGSh | 3<<48, 0, 1<<iotlbIIRGSh | 1<<iotlbIAIGSh | 3<<48, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, root, pgd := translationEnv(t, DefaultConfig(), 4)
			_ = root
			e.mapPage(pgd, 4, 0x5000, 0x5000, 4096, slR|slW)
			as := e.u.AddressSpace(sid(0, 3, 0))
			if _, _, err := as.Translate(0x5000, 1, 1); err != nil {
				t.Fatal(err)
			}
			if tc.qi {
				e.enableQI()
			}
			e.w64(RegIVA, tc.iva)
			if tc.split {
				e.w32(tc.off, uint32(tc.val))
				e.w32(tc.off+4, uint32(tc.val>>32))
			} else {
				e.w64(tc.off, tc.val)
			}
			if got := e.r64(tc.off); got != tc.want {
				t.Errorf("register = %#x, want %#x", got, tc.want)
			}
			if gone := as.ctx.Load() == nil; gone != tc.flush {
				t.Errorf("context cache flushed: %v, want %v", gone, tc.flush)
			}
		})
	}
}
