package vtd

import (
	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/memory"
)

// Second-level paging-entry fields (VT-d spec 9.8).
const (
	slR      = 1 << 0
	slW      = 1 << 1
	slPS     = 1 << 7  // page size: a leaf at level 2 (2 MiB) or 3 (1 GiB)
	slSNP    = 1 << 11 // snoop; reserved without ECAP.SC
	slTM     = 1 << 62 // transient mapping; allowed in leaves with ECAP.DT
	slIgnore = 0xbff0000000000000
	slAddr   = 0x000ffffffffff000 // bits 51:12
)

// slShift returns the address bits a level-l entry translates: 12 for a
// 4 KiB page table entry (level 1), 21 (level 2), 30 (level 3), 39 (level 4).
func slShift(level int) uint { return 12 + 9*uint(level-1) }

// slReserved returns the reserved-bit mask of a second-level entry at level
// (1-4), for a leaf or a table pointer (VT-d spec 9.8): bits [aw, 52) (above
// the host address width), bit 62 (TM) unless a leaf with ECAP.DT, SNP
// (no ECAP.SC), PS at level 4, and for 2 MiB and 1 GiB leaves the address
// bits below the page size.
func slReserved(level int, leaf bool, aw int, dt bool) uint64 {
	m := ^(haw(aw) | slIgnore) | slSNP
	if leaf && dt {
		m &^= slTM
	}
	switch {
	case level == 4:
		m |= slPS
	case leaf && level == 3:
		m |= 0x3ffff000 // address bits 29:12
	case leaf && level == 2:
		m |= 0x1ff000 // address bits 20:12
	}
	return m
}

// leaf is the result of a successful walk: the page containing an IOVA.
type leaf struct {
	iova  uint64 // first IOVA of the page (aligned to its size)
	gpa   uint64 // first guest-physical address of the page
	size  uint64 // 4 KiB, 2 MiB or 1 GiB
	perm  dma.Access
	level int // 1, 2 or 3
}

// walkResult classifies a walk that found no usable leaf.
type walkResult uint8

const (
	walkOK         walkResult = iota
	walkNotPresent            // an entry with R=W=0: fault 5 or 6 by access
	walkAccess                // an entry outside guest RAM: fault 7
	walkReserved              // reserved bits in a present entry: fault 0xC
)

// walk translates iova through the second-level tables of ce (VT-d spec
// 3.6, 9.8). The caller checks iova against ce.agaw first. Permissions
// accumulate down the levels: a table entry without W denies writes below
// it. A not-present entry (R=W=0) stops the walk; reserved bits are checked
// only in present entries.
func walk(mem *memory.Memory, cfg *Config, ce *ctxEntry, iova uint64) (leaf, walkResult) {
	table := ce.slptptr
	perm := dma.ReadWrite
	for level := int(ce.levels); level >= 1; level-- {
		shift := slShift(level)
		pte, err := mem.Load64(table + (iova>>shift&511)*8)
		if err != nil {
			return leaf{}, walkAccess
		}
		if pte&(slR|slW) == 0 {
			return leaf{}, walkNotPresent
		}
		isLeaf := level == 1 || (level <= 3 && pte&slPS != 0)
		if pte&slReserved(level, isLeaf, cfg.AWBits, cfg.DeviceIOTLB) != 0 {
			return leaf{}, walkReserved
		}
		perm &= dma.Access(pte & (slR | slW))
		if isLeaf {
			size := uint64(1) << shift
			return leaf{
				iova:  iova &^ (size - 1),
				gpa:   pte & slAddr &^ (size - 1),
				size:  size,
				perm:  perm,
				level: level,
			}, walkOK
		}
		table = pte & slAddr
	}
	return leaf{}, walkNotPresent // unreachable: level 1 is always a leaf
}
