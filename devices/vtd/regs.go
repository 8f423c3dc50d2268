package vtd

// regSpec describes one register of the register file (VT-d spec 10.4):
// its offset, width, reset value, the bits software may write (RW), the
// bits software clears by writing 1 (RW1C), and whether reads return 0
// (write-only). Bits in neither mask are read-only or reserved (reserved
// bits stay 0 because no one sets them).
type regSpec struct {
	off       uint64
	size      int // 4 or 8 bytes
	reset     uint64
	rw, rw1c  uint64
	writeOnly bool
}

const regSlots = RegisterWindowSize / 4

// regFile holds the registers that are not fault-reporting registers, as
// 32-bit slots: a 64-bit register occupies two, low half first, so the
// 4-byte accesses Linux makes to either half and its 8-byte accesses behave
// alike. Hardware-owned fields are changed with set32/set64, which bypass
// the masks.
type regFile struct {
	val   [regSlots]uint32
	reset [regSlots]uint32
	rw    [regSlots]uint32
	w1c   [regSlots]uint32
	wo    [regSlots]bool
}

func newRegFile(specs []regSpec) *regFile {
	r := &regFile{}
	for _, s := range specs {
		for i := 0; i < s.size/4; i++ {
			k := s.off/4 + uint64(i)
			sh := 32 * uint(i)
			r.reset[k] = uint32(s.reset >> sh)
			r.rw[k] = uint32(s.rw >> sh)
			r.w1c[k] = uint32(s.rw1c >> sh)
			r.wo[k] = s.writeOnly
		}
	}
	r.val = r.reset
	return r
}

// read32 returns the slot at off as software reads it.
func (r *regFile) read32(off uint64) uint32 {
	k := off / 4
	if r.wo[k] {
		return 0
	}
	return r.val[k]
}

// write32 applies a software write: RW bits take v, RW1C bits set in v are
// cleared, everything else is unchanged.
func (r *regFile) write32(off uint64, v uint32) {
	k := off / 4
	r.val[k] = r.val[k]&^r.rw[k] | v&r.rw[k]
	r.val[k] &^= v & r.w1c[k]
}

func (r *regFile) get32(off uint64) uint32    { return r.val[off/4] }
func (r *regFile) set32(off uint64, v uint32) { r.val[off/4] = v }

func (r *regFile) get64(off uint64) uint64 {
	return uint64(r.val[off/4]) | uint64(r.val[off/4+1])<<32
}

func (r *regFile) set64(off uint64, v uint64) {
	r.val[off/4] = uint32(v)
	r.val[off/4+1] = uint32(v >> 32)
}

// GCMD and GSTS bits (VT-d spec 10.4.4, 10.4.5): a command bit and its
// status bit share a position.
const (
	gcmdTE    = 1 << 31
	gcmdSRTP  = 1 << 30
	gcmdQIE   = 1 << 26
	gcmdIRE   = 1 << 25
	gcmdSIRTP = 1 << 24
	gcmdCFI   = 1 << 23
	gcmdAll   = 0xff800000 // TE SRTP SFL EAFL WBF QIE IRE SIRTP CFI
)

// Other register fields (VT-d spec 10.4).
const (
	ccmdICC     = 1 << 63
	ccmdCIRGSh  = 61
	ccmdCAIGSh  = 59
	ccmdRW      = 1<<63 | 3<<61 | 3<<32 | 0xffffffff
	iotlbIVT    = 1 << 63
	iotlbIIRGSh = 60
	iotlbIAIGSh = 57
	iotlbRW     = 1<<63 | 3<<60 | 1<<49 | 1<<48 | 0xffff<<32
	ivaRW       = 0xfffffffffffff000 | 1<<6 | 0x3f
	iqtRW       = 0x7fff0
	iqaDW       = 1 << 11
	iqaQS       = 0x7
	icsIWC      = 1 << 0
	iectlIM     = 1 << 31
	iectlIP     = 1 << 30
	irtaS       = 0xf
)

// registerSpecs returns the register file layout for cfg. Fault-reporting
// registers (FSTS, FECTL, FEDATA, FEADDR, FEUADDR, FRCD) live in faultUnit.
func registerSpecs(cfg *Config) []regSpec {
	base := haw(cfg.AWBits) &^ pageMask4K
	return []regSpec{
		{off: RegVER, size: 4, reset: regVERv},
		{off: RegCAP, size: 8, reset: cfg.CAP()},
		{off: RegECAP, size: 8, reset: cfg.ECAP()},
		{off: RegGCMD, size: 4, rw: gcmdAll, writeOnly: true},
		{off: RegGSTS, size: 4},
		{off: RegRTADDR, size: 8, rw: base},
		{off: RegCCMD, size: 8, rw: ccmdRW},
		{off: RegIQH, size: 8},
		{off: RegIQT, size: 8, rw: iqtRW},
		{off: RegIQA, size: 8, rw: base | iqaDW | iqaQS},
		{off: RegICS, size: 4, rw1c: icsIWC},
		{off: RegIECTL, size: 4, reset: iectlIM, rw: iectlIM},
		{off: RegIEDATA, size: 4, rw: feDataMask},
		{off: RegIEADDR, size: 4, rw: feAddrMask},
		{off: RegIEUADDR, size: 4, rw: 0xffffffff},
		{off: RegIQER, size: 8},
		{off: RegIRTA, size: 8, rw: base | irtaS},
		{off: RegIVA, size: 8, rw: ivaRW},
		{off: RegIOTLB, size: 8, rw: iotlbRW},
	}
}
