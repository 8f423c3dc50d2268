package vtd

import (
	"github.com/govmm/govmm/memory"
)

// Translation types of a legacy context entry (VT-d spec 9.3, TT field).
const (
	ttMultiLevel  = 0 // untranslated requests walk the second-level tables
	ttDeviceTLB   = 1 // same, and the device may use ATS (ECAP.DT only)
	ttPassThrough = 2 // untranslated requests are identity-mapped (ECAP.PT only)
)

// ctxEntry is a decoded, present and valid legacy context entry (VT-d spec
// 9.3): what the context cache holds. It is immutable once built.
type ctxEntry struct {
	slptptr uint64 // second-level page-table pointer (4 KiB aligned)
	did     uint16 // domain identifier
	tt      uint8  // translation type
	levels  uint8  // 3 or 4 (AW 1 or 2); 0 for pass-through
	agaw    uint8  // 39 or 48: IOVAs must be below 2^agaw
	fpd     bool   // fault processing disable
}

// Root and context entry fields (VT-d spec 9.1, 9.3).
const (
	rootP       = 1 << 0
	rootRsvdLo  = 0xffe // bits 11:1
	ctxP        = 1 << 0
	ctxFPD      = 1 << 1
	ctxTTSh     = 2
	ctxRsvdLo   = 0xff0 // bits 11:4
	ctxAWMask   = 0x7
	ctxDIDSh    = 8
	ctxRsvdHi   = 0xffffffffff000080 // bit 7 and bits 63:24
	pageMask4K  = 0xfff
	rootEntrySz = 16
	ctxEntrySz  = 16
)

// haw returns the mask of addresses below 2^aw (the host address width):
// table pointers and page frames with bits set above it are reserved.
func haw(aw int) uint64 { return 1<<uint(aw) - 1 }

// readContext fetches the context entry of sid through the root table at
// root (VT-d spec 3.4.2): root[bus] then context[devfn]. It returns the
// decoded entry, or the fault reason and the FPD bit of the context entry
// when one was read (FPD decides whether a qualified fault is reported).
func readContext(mem *memory.Memory, cfg *Config, root uint64, sid uint16) (ce ctxEntry, fpd bool, fr FaultReason) {
	bus, devfn := uint64(sid>>8), uint64(sid&0xff)
	rlo, err := mem.Load64(root + bus*rootEntrySz)
	if err != nil {
		return ctxEntry{}, false, FaultRootTableAccess
	}
	rhi, err := mem.Load64(root + bus*rootEntrySz + 8)
	if err != nil {
		return ctxEntry{}, false, FaultRootTableAccess
	}
	if rlo&rootP == 0 {
		return ctxEntry{}, false, FaultRootNotPresent
	}
	if rlo&rootRsvdLo != 0 || rlo&^pageMask4K&^haw(cfg.AWBits) != 0 || rhi != 0 {
		return ctxEntry{}, false, FaultRootReserved
	}
	ctp := rlo &^ pageMask4K
	clo, err := mem.Load64(ctp + devfn*ctxEntrySz)
	if err != nil {
		return ctxEntry{}, false, FaultContextTableAccess
	}
	chi, err := mem.Load64(ctp + devfn*ctxEntrySz + 8)
	if err != nil {
		return ctxEntry{}, false, FaultContextTableAccess
	}
	fpd = clo&ctxFPD != 0
	if clo&ctxP == 0 {
		return ctxEntry{}, fpd, FaultContextNotPresent
	}
	if clo&ctxRsvdLo != 0 || clo&^pageMask4K&^haw(cfg.AWBits) != 0 || chi&ctxRsvdHi != 0 {
		return ctxEntry{}, fpd, FaultContextReserved
	}
	ce = ctxEntry{
		slptptr: clo &^ pageMask4K,
		did:     uint16(chi >> ctxDIDSh),
		tt:      uint8(clo>>ctxTTSh) & 3,
		fpd:     fpd,
	}
	switch ce.tt {
	case ttMultiLevel:
	case ttDeviceTLB:
		if !cfg.DeviceIOTLB {
			return ctxEntry{}, fpd, FaultContextInvalid
		}
	case ttPassThrough:
		if !cfg.PassThrough {
			return ctxEntry{}, fpd, FaultContextInvalid
		}
		// AW is not used for pass-through (VT-d spec 9.3, AW field).
		return ce, fpd, 0
	default:
		return ctxEntry{}, fpd, FaultContextInvalid
	}
	aw := chi & ctxAWMask
	if cfg.sagaw()&(1<<aw) == 0 {
		return ctxEntry{}, fpd, FaultContextInvalid
	}
	ce.levels = uint8(aw + 2)
	ce.agaw = uint8(30 + 9*aw)
	return ce, fpd, 0
}
