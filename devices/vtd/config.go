package vtd

import (
	"errors"
	"fmt"
	"github.com/govmm/govmm/internal/options"
	"strconv"
)

// RegisterBase is the guest-physical address of the unit's register window,
// the "Register Base Address" of its DRHD structure in the DMAR table
// (VT-d spec 8.3). It is the address Linux and kvm-unit-tests expect.
const RegisterBase = 0xFED90000

// RegisterWindowSize is the size in bytes of the register window at
// RegisterBase: one 4 KiB page, so the DRHD "Size" field is 0 (2^0 pages).
// Offsets inside it that hold no register read as 0 and ignore writes.
const RegisterWindowSize = 0x1000

// NumFaultRecords is the number of fault-recording registers (FRCD, VT-d
// spec 10.4.14); CAP.NFR reports it minus one.
const NumFaultRecords = 8

// Register offsets of the unit (VT-d spec 10.4), relative to RegisterBase.
const (
	RegVER     = 0x00  // Version
	RegCAP     = 0x08  // Capability (64-bit)
	RegECAP    = 0x10  // Extended Capability (64-bit)
	RegGCMD    = 0x18  // Global Command
	RegGSTS    = 0x1C  // Global Status
	RegRTADDR  = 0x20  // Root Table Address (64-bit)
	RegCCMD    = 0x28  // Context Command (64-bit)
	RegFSTS    = 0x34  // Fault Status
	RegFECTL   = 0x38  // Fault Event Control
	RegFEDATA  = 0x3C  // Fault Event Data
	RegFEADDR  = 0x40  // Fault Event Address
	RegFEUADDR = 0x44  // Fault Event Upper Address
	RegIQH     = 0x80  // Invalidation Queue Head (64-bit)
	RegIQT     = 0x88  // Invalidation Queue Tail (64-bit)
	RegIQA     = 0x90  // Invalidation Queue Address (64-bit)
	RegICS     = 0x9C  // Invalidation Completion Status
	RegIECTL   = 0xA0  // Invalidation Event Control
	RegIEDATA  = 0xA4  // Invalidation Event Data
	RegIEADDR  = 0xA8  // Invalidation Event Address
	RegIEUADDR = 0xAC  // Invalidation Event Upper Address
	RegIQER    = 0xB0  // Invalidation Queue Error Record (64-bit)
	RegIRTA    = 0xB8  // Interrupt Remapping Table Address (64-bit)
	RegIVA     = 0xF0  // Invalidate Address (64-bit), at ECAP.IRO*16
	RegIOTLB   = 0xF8  // IOTLB Invalidate (64-bit), at ECAP.IRO*16+8
	RegFRCD    = 0x220 // first Fault Recording register (128-bit each), at CAP.FRO*16
)

// Fixed capability values of the unit.
const (
	capND   = 6  // CAP.ND: 16-bit domain IDs
	capMAMV = 18 // CAP.MAMV: PSI up to 2^18 pages (1 GiB)
	capFRO  = RegFRCD / 16
	ecapIRO = RegIVA / 16
	minAW   = 39
	maxAW   = 48
	regVERv = 0x10 // VER: major 1, minor 0
)

// Config is the guest-visible configuration of a VT-d unit: the choices the
// VMM user makes with the option string accepted by ParseConfig. The zero
// value is not valid; start from DefaultConfig.
//
// The capability registers follow from it (CAP() and ECAP()); everything
// else is fixed: ND=6 (16-bit DIDs), PSI with MAMV=18, SLLPS 2 MiB and
// 1 GiB, QI, FRO 0x22 with 8 fault records, IRO 0xF, and SMTS, FLTS, RWBF,
// ECAP.C, ECAP.IR at 0.
type Config struct {
	// AWBits is the guest address width in bits, 39 or 48 ("aw-bits"). It
	// sets CAP.MGAW to AWBits-1 and CAP.SAGAW to 39-bit (3-level) tables,
	// plus 48-bit (4-level) tables when AWBits is 48. It is also the host
	// address width (HAW) the DMAR table reports: table pointers and page
	// frames above it are reserved.
	AWBits int
	// CachingMode sets CAP.CM ("caching-mode"): the guest then invalidates
	// not-present to present changes too, which lets the unit shadow its
	// mappings to MAP notifiers (VFIO). Required for MAP registrations.
	CachingMode bool
	// DeviceIOTLB sets ECAP.DT ("device-iotlb"): context entries may use
	// TT=01 and device-TLB invalidations reach DEVIOTLB_UNMAP notifiers.
	// The DMAR table should then carry an ATSR structure.
	DeviceIOTLB bool
	// PassThrough sets ECAP.PT ("pt"): context entries may use TT=10
	// (identity translation).
	PassThrough bool
}

// DefaultConfig returns the default configuration: aw-bits=48,
// caching-mode=on, device-iotlb=off, pt=on.
func DefaultConfig() Config {
	return Config{AWBits: 48, CachingMode: true, PassThrough: true}
}

// ErrConfig is returned (wrapped, with the offending option) by ParseConfig
// and Config.Validate for a configuration the unit does not support or a
// Linux guest would reject.
var ErrConfig = errors.New("vtd: invalid configuration")

// ParseConfig parses a comma-separated option string into a Config,
// starting from DefaultConfig. Options:
//
//	aw-bits=39|48          guest address width (CAP.SAGAW, CAP.MGAW, DMAR HAW)
//	caching-mode=on|off    CAP.CM
//	device-iotlb=on|off    ECAP.DT
//	pt=on|off              ECAP.PT
//
// The empty string yields DefaultConfig. Unknown or repeated options,
// malformed values and unsupported widths return an error wrapping
// ErrConfig that names the option.
func ParseConfig(s string) (Config, error) {
	c := DefaultConfig()
	pairs, err := options.Split(s)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	for _, p := range pairs {
		key, val := p.Key, p.Value
		var err error
		switch key {
		case "aw-bits":
			var n int
			n, err = strconv.Atoi(val)
			if err != nil {
				return Config{}, fmt.Errorf("%w: aw-bits=%q is not a number", ErrConfig, val)
			}
			c.AWBits = n
		case "caching-mode":
			c.CachingMode, err = p.OnOff()
		case "device-iotlb":
			c.DeviceIOTLB, err = p.OnOff()
		case "pt":
			c.PassThrough, err = p.OnOff()
		default:
			return Config{}, fmt.Errorf("%w: unknown option %q (want aw-bits, caching-mode, device-iotlb, pt)", ErrConfig, key)
		}
		if err != nil {
			return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate reports whether the unit can be built with c. Only 39- and 48-bit
// address widths are supported: a width without a matching SAGAW bit makes
// Linux ignore the unit ("No supported address widths"), and 57-bit
// (5-level) tables are not implemented.
func (c Config) Validate() error {
	if c.AWBits != minAW && c.AWBits != maxAW {
		return fmt.Errorf("%w: aw-bits=%d, want 39 or 48", ErrConfig, c.AWBits)
	}
	return nil
}

// String returns c in the option syntax ParseConfig accepts.
func (c Config) String() string {
	return fmt.Sprintf("aw-bits=%d,caching-mode=%s,device-iotlb=%s,pt=%s",
		c.AWBits, options.OnOff(c.CachingMode), options.OnOff(c.DeviceIOTLB), options.OnOff(c.PassThrough))
}

// HAW returns the host address width in bits for the DMAR table header
// (which stores HAW-1): the unit's AWBits.
func (c Config) HAW() int { return c.AWBits }

// sagaw returns the CAP.SAGAW bit set: bit 1 for 39-bit, bit 2 for 48-bit.
func (c Config) sagaw() uint64 {
	s := uint64(1) << 1
	if c.AWBits >= 48 {
		s |= 1 << 2
	}
	return s
}

// CAP bit positions (VT-d spec 10.4.2).
const (
	capCM      = 1 << 7
	capSAGAWSh = 8
	capMGAWSh  = 16
	capFROSh   = 24
	capSLLPS2M = 1 << 34
	capSLLPS1G = 1 << 35
	capPSI     = 1 << 39
	capNFRSh   = 40
	capMAMVSh  = 48
	ecapQI     = 1 << 1
	ecapDT     = 1 << 2
	ecapPT     = 1 << 6
	ecapIROSh  = 8
)

// CAP returns the Capability register value (VT-d spec 10.4.2): ND=6,
// CM per CachingMode, SAGAW per AWBits, MGAW=AWBits-1, FRO=0x22, SLLPS 2 MiB
// and 1 GiB, PSI, NFR=7, MAMV=18; RWBF, PLMR, PHMR, ZLR, DWD, DRD, ESRTPS,
// ESIRTPS and the first-level bits 0.
func (c Config) CAP() uint64 {
	v := uint64(capND)
	if c.CachingMode {
		v |= capCM
	}
	v |= c.sagaw() << capSAGAWSh
	v |= uint64(c.AWBits-1) << capMGAWSh
	v |= uint64(capFRO) << capFROSh
	v |= capSLLPS2M | capSLLPS1G
	v |= capPSI
	v |= uint64(NumFaultRecords-1) << capNFRSh
	v |= uint64(capMAMV) << capMAMVSh
	return v
}

// ECAP returns the Extended Capability register value (VT-d spec 10.4.3):
// QI, DT per DeviceIOTLB, PT per PassThrough, IRO=0xF; C, IR, EIM, SC, NEST,
// PRS, PASID, SMTS, SLTS and FLTS 0.
func (c Config) ECAP() uint64 {
	v := uint64(ecapQI)
	if c.DeviceIOTLB {
		v |= ecapDT
	}
	if c.PassThrough {
		v |= ecapPT
	}
	v |= uint64(ecapIRO) << ecapIROSh
	return v
}
