package vtd

import (
	"encoding/binary"
	"testing"
)

// TestRegisterReset checks every register's reset value and which bits a
// guest can write: all ones then all zeros are written and read back.
// Command registers (GCMD, CCMD, IOTLB, IQT) act on writes and have their
// own tests.
func TestRegisterReset(t *testing.T) {
	for _, aw := range []int{39, 48} {
		cfg := DefaultConfig()
		cfg.AWBits = aw
		base := (uint64(1)<<aw - 1) &^ 0xfff
		tests := []struct {
			name  string
			off   uint64
			size  int
			reset uint64
			ones  uint64 // value read after writing all ones
			zeros uint64 // value read after then writing all zeros
		}{
			{"VER", RegVER, 4, 0x10, 0x10, 0x10},
			{"CAP", RegCAP, 8, cfg.CAP(), cfg.CAP(), cfg.CAP()},
			{"ECAP", RegECAP, 8, cfg.ECAP(), cfg.ECAP(), cfg.ECAP()},
			{"GSTS", RegGSTS, 4, 0, 0, 0},
			{"RTADDR", RegRTADDR, 8, 0, base, 0},
			{"IQH", RegIQH, 8, 0, 0, 0},
			{"IQA", RegIQA, 8, 0, base | 1<<11 | 7, 0},
			{"ICS", RegICS, 4, 0, 0, 0},
			{"IECTL", RegIECTL, 4, 1 << 31, 1 << 31, 0},
			{"IEDATA", RegIEDATA, 4, 0, 0xffff, 0},
			{"IEADDR", RegIEADDR, 4, 0, 0xfffffffc, 0},
			{"IEUADDR", RegIEUADDR, 4, 0, 0xffffffff, 0},
			{"IQER", RegIQER, 8, 0, 0, 0},
			{"IRTA", RegIRTA, 8, 0, base | 0xf, 0},
			{"IVA", RegIVA, 8, 0, 0xfffffffffffff07f, 0},
			{"FSTS", RegFSTS, 4, 0, 0, 0},
			{"FECTL", RegFECTL, 4, 1 << 31, 1 << 31, 0},
			{"FEDATA", RegFEDATA, 4, 0, 0xffff, 0},
			{"FEADDR", RegFEADDR, 4, 0, 0xfffffffc, 0},
			{"FEUADDR", RegFEUADDR, 4, 0, 0xffffffff, 0},
			{"FRCD0 low", RegFRCD, 8, 0, 0, 0},
			{"FRCD0 high", RegFRCD + 8, 8, 0, 0, 0},
			{"FRCD7 high", RegFRCD + 7*16 + 8, 8, 0, 0, 0},
			{"PMEN (absent)", 0x64, 4, 0, 0, 0},
			{"after FRCD7", RegFRCD + 8*16, 8, 0, 0, 0},
			{"0x300", 0x300, 8, 0, 0, 0},
			{"last", RegisterWindowSize - 8, 8, 0, 0, 0},
		}
		for _, tc := range tests {
			e := newEnv(t, cfg, 1<<20)
			rd := func() uint64 {
				if tc.size == 4 {
					return uint64(e.r32(tc.off))
				}
				return e.r64(tc.off)
			}
			wr := func(v uint64) {
				if tc.size == 4 {
					e.w32(tc.off, uint32(v))
				} else {
					e.w64(tc.off, v)
				}
			}
			if got := rd(); got != tc.reset {
				t.Errorf("aw %d: %s reset %#x, want %#x", aw, tc.name, got, tc.reset)
			}
			wr(^uint64(0))
			if got := rd(); got != tc.ones {
				t.Errorf("aw %d: %s after writing ones %#x, want %#x", aw, tc.name, got, tc.ones)
			}
			wr(0)
			if got := rd(); got != tc.zeros {
				t.Errorf("aw %d: %s after writing zeros %#x, want %#x", aw, tc.name, got, tc.zeros)
			}
			if got := e.r32(RegFSTS); got != 0 {
				t.Errorf("aw %d: %s: FSTS %#x after the writes", aw, tc.name, got)
			}
		}
	}
}

// TestRegisterHalves checks that a 64-bit register reads the same through
// two 4-byte accesses as through one 8-byte access, and that 4-byte writes
// to either half change only that half.
func TestRegisterHalves(t *testing.T) {
	e := newEnv(t, DefaultConfig(), 1<<20)
	e.w32(RegRTADDR+4, 0x1234)
	e.w32(RegRTADDR, 0x5678_9000)
	if got := e.r64(RegRTADDR); got != 0x1234_5678_9000 {
		t.Errorf("RTADDR = %#x", got)
	}
	if lo, hi := e.r32(RegRTADDR), e.r32(RegRTADDR+4); lo != 0x5678_9000 || hi != 0x1234 {
		t.Errorf("RTADDR halves %#x %#x", lo, hi)
	}
	if got := uint64(e.r32(RegCAP+4))<<32 | uint64(e.r32(RegCAP)); got != DefaultConfig().CAP() {
		t.Errorf("CAP through halves %#x", got)
	}
}

// TestAccessSizes checks that only aligned 4- and 8-byte accesses inside
// the window do anything, and that nothing panics.
func TestAccessSizes(t *testing.T) {
	e := newEnv(t, DefaultConfig(), 1<<20)
	e.w32(RegFEDATA, 0x1234)
	tests := []struct {
		name string
		off  uint64
		n    int
	}{
		{"1 byte", RegFEDATA, 1},
		{"2 bytes", RegFEDATA, 2},
		{"3 bytes", RegFEDATA, 3},
		{"16 bytes", RegFEDATA - 0xc, 16},
		{"0 bytes", RegFEDATA, 0},
		{"misaligned 4", RegFEDATA + 1, 4},
		{"misaligned 8", RegFEDATA, 8}, // 0x3C is not 8-byte aligned
		{"past window", RegisterWindowSize, 4},
		{"straddling end", RegisterWindowSize - 4, 8},
		{"huge offset", ^uint64(0) - 3, 4},
	}
	for _, tc := range tests {
		buf := make([]byte, tc.n)
		for i := range buf {
			buf[i] = 0xff
		}
		e.u.Write(tc.off, buf)
		e.u.Read(tc.off, buf)
		for i, b := range buf {
			if b != 0 {
				t.Errorf("%s: read byte %d = %#x, want 0", tc.name, i, b)
			}
		}
		if got := e.r32(RegFEDATA); got != 0x1234 {
			t.Errorf("%s: FEDATA %#x after an ignored write", tc.name, got)
		}
	}
	// An 8-byte access covering FECTL and FEDATA is aligned and served.
	var b [8]byte
	e.u.Read(RegFECTL, b[:])
	if lo, hi := binary.LittleEndian.Uint32(b[:]), binary.LittleEndian.Uint32(b[4:]); lo != 1<<31 || hi != 0x1234 {
		t.Errorf("8-byte read at FECTL = %#x %#x", lo, hi)
	}
}

// TestGCMDReadsZero checks that GCMD is write-only.
func TestGCMDReadsZero(t *testing.T) {
	e := newEnv(t, DefaultConfig(), 1<<20)
	e.w32(RegGCMD, gcmdQIE)
	if got := e.r32(RegGCMD); got != 0 {
		t.Errorf("GCMD reads %#x", got)
	}
	if got := e.r32(RegGSTS); got != gcmdQIE {
		t.Errorf("GSTS = %#x, want QIES", got)
	}
}

// TestICSWrite1Clear checks ICS.IWC is RW1C and that clearing it clears a
// pending IECTL.IP.
func TestICSWrite1Clear(t *testing.T) {
	e := newEnv(t, DefaultConfig(), 4<<20)
	q := e.enableQI()
	q.submit(descriptor{lo: 0x15}) // wait with IF: IWC set, IM masks the MSI
	if e.r32(RegICS) != icsIWC || e.r32(RegIECTL) != iectlIM|iectlIP {
		t.Fatalf("ICS %#x IECTL %#x after a wait with IF", e.r32(RegICS), e.r32(RegIECTL))
	}
	e.w32(RegICS, 0)
	if e.r32(RegICS) != icsIWC {
		t.Errorf("writing 0 cleared IWC")
	}
	e.w32(RegICS, icsIWC)
	if e.r32(RegICS) != 0 || e.r32(RegIECTL) != iectlIM {
		t.Errorf("ICS %#x IECTL %#x after clearing IWC", e.r32(RegICS), e.r32(RegIECTL))
	}
	if e.msi.count() != 0 {
		t.Errorf("%d MSIs sent while IECTL.IM was set", e.msi.count())
	}
}
