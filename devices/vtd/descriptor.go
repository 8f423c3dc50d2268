package vtd

import "fmt"

// Invalidation descriptor types (VT-d spec 6.5.2): the type is bits 3:0 of
// the first quadword, extended by bits 11:9 (type[6:4]).
const (
	descCC      = 0x1 // context-cache invalidate
	descIOTLB   = 0x2 // IOTLB invalidate
	descDevTLB  = 0x3 // device-TLB invalidate
	descIEC     = 0x4 // interrupt entry cache invalidate
	descWait    = 0x5 // invalidation wait
	descPIOTLB  = 0x6 // PASID-based IOTLB (scalable mode only)
	descPC      = 0x7 // PASID-cache (scalable mode only)
	descPDevTLB = 0x8 // PASID-based device-TLB (scalable mode only)
)

// Invalidation granularities.
const (
	granGlobal = 1
	granDomain = 2 // context cache: domain; IOTLB: DSI
	granDevice = 3 // context cache: device (SID, FM); IOTLB: PSI
)

// IQER.IQEI values: why the queue stopped (VT-d spec 10.4.21).
const (
	iqeiTail     = 1 // IQT points outside the queue
	iqeiFetch    = 2 // a descriptor (or a status write) outside guest RAM
	iqeiType     = 3 // invalid descriptor type
	iqeiReserved = 4 // reserved field set
	iqeiWidth    = 5 // 256-bit descriptors without scalable mode
)

// Reserved-bit masks of legacy (128-bit) descriptors, first and second
// quadword (VT-d spec 6.5.2.1-6.5.2.8). Bits 11:9 are part of the type and
// are checked by the type decode.
const (
	ccRsvdLo     = 0xfffc00000000f1c0 // 8:6, 15:12, 63:50
	ccRsvdHi     = ^uint64(0)
	iotlbRsvdLo  = 0xffffffff0000f100 // 8, 15:12, 63:32
	iotlbRsvdHi  = 0xf80              // 11:7
	devRsvdLo    = 0x000f0000ffe001f0 // 8:4, 31:21, 51:48
	devRsvdHi    = 0xffe              // 11:1
	iecRsvdLo    = 0xffff000007fff1e0 // 8:5, 26:12, 63:48
	iecRsvdHi    = ^uint64(0)
	waitRsvdLo   = 0x00000000fffff180 // 7 (PD: no page requests), 8, 31:12
	waitRsvdHi   = 0x3                // 1:0
	waitIF       = 1 << 4
	waitSW       = 1 << 5
	waitFN       = 1 << 6
	descAMMask   = 0x3f
	descIH       = 1 << 6
	devTLBSizeS  = 1 << 0
	descAddrMask = ^uint64(pageMask4K)
)

// descriptor is one 128-bit invalidation descriptor as read from the queue.
type descriptor struct{ lo, hi uint64 }

// typ returns the descriptor type: bits 3:0, plus bits 11:9 as type[6:4].
func (d descriptor) typ() uint8 { return uint8(d.lo&0xf) | uint8(d.lo>>9&7)<<4 }

func (d descriptor) String() string { return fmt.Sprintf("[%#016x %#016x]", d.hi, d.lo) }

// check validates the descriptor's type and reserved fields for a unit
// configured as cfg, returning the IQER.IQEI code of the error, or 0.
func (d descriptor) check(cfg *Config) (iqei uint8) {
	rsvd := func(lo, hi uint64) uint8 {
		if d.lo&lo != 0 || d.hi&hi != 0 {
			return iqeiReserved
		}
		return 0
	}
	switch d.typ() {
	case descCC:
		if g := d.lo >> 4 & 3; g == 0 {
			return iqeiReserved
		}
		return rsvd(ccRsvdLo, ccRsvdHi)
	case descIOTLB:
		g := d.lo >> 4 & 3
		if g == 0 {
			return iqeiReserved
		}
		if g == granDevice && d.hi&descAMMask > capMAMV {
			return iqeiReserved
		}
		return rsvd(iotlbRsvdLo, iotlbRsvdHi)
	case descDevTLB:
		return rsvd(devRsvdLo, devRsvdHi)
	case descIEC:
		return rsvd(iecRsvdLo, iecRsvdHi)
	case descWait:
		if e := rsvd(waitRsvdLo, waitRsvdHi); e != 0 {
			return e
		}
		if d.lo&waitSW != 0 && d.hi&^haw(cfg.AWBits) != 0 {
			return iqeiReserved
		}
		return 0
	case descPIOTLB, descPC, descPDevTLB:
		return iqeiType // scalable mode only (ECAP.SMTS=0)
	}
	// Type 0, page responses (9, page requests are not offered) and all
	// other types.
	return iqeiType
}

// devTLBRange decodes the address and S bit of a device-TLB invalidate
// descriptor (VT-d spec 6.5.2.5, PCIe ATS invalidation encoding): S=0 is the
// 4 KiB page at ADDR; S=1 makes the number of trailing 1 bits of ADDR[63:12]
// give the size, 8 KiB << ones. A size of 2^64 or more (ADDR[62:12] all ones)
// means the whole address space. It
// returns the inclusive range.
func devTLBRange(hi uint64) (first, last uint64) {
	addr := hi & descAddrMask
	if hi&devTLBSizeS == 0 {
		return addr, addr + pageMask4K
	}
	ones := 0
	for ones < 52 && addr>>(12+uint(ones))&1 == 1 {
		ones++
	}
	if 13+ones >= 64 {
		return 0, ^uint64(0)
	}
	size := uint64(1) << (13 + uint(ones))
	first = addr &^ (size - 1)
	return first, first + size - 1
}
