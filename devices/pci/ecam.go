package pci

import "github.com/govmm/govmm/devices/bus"

// ECAM geometry (PCI Express Base Specification §7.2.2, Table 7-1): each
// function has 4 KiB of configuration space at
// bus<<20 | device<<15 | function<<12 | register from the segment's base.
const (
	ECAMBusShift  = 20                // bus number, offset bits 27:20
	ECAMDevShift  = 15                // device number, bits 19:15
	ECAMFuncShift = 12                // function number, bits 14:12; register in bits 11:0
	ECAMBusSize   = 1 << ECAMBusShift // bytes of ECAM per bus (1 MiB)
)

// ECAMOffset returns the offset of register reg of function b from the
// ECAM base address of its segment (the MCFG base, bus 0).
func ECAMOffset(b BDF, reg int) uint64 {
	return uint64(b.Bus)<<ECAMBusShift | uint64(b.Device&0x1f)<<ECAMDevShift |
		uint64(b.Function&7)<<ECAMFuncShift | uint64(reg&(ConfigSize-1))
}

// ECAMWindow returns the guest-physical range the segment's ECAM handler
// must be mapped at on the MMIO bus: base = ECAMBase + BusStart<<20 and
// size = (BusEnd-BusStart+1) MiB.
func (s *Segment) ECAMWindow() (base, size uint64) {
	return s.cfg.ECAMBase + uint64(s.cfg.BusStart)<<ECAMBusShift,
		uint64(int(s.cfg.BusEnd)-int(s.cfg.BusStart)+1) << ECAMBusShift
}

// ECAM returns the segment's enhanced configuration access mechanism
// handler, to be inserted on the MMIO bus at ECAMWindow. Offset off (from
// the window's start) selects bus BusStart + off>>20, device (off>>15)&31,
// function (off>>12)&7 and register off&0xFFF. Accesses of 1, 2 or 4 bytes
// contained in one DWORD go to Segment.ReadConfig/WriteConfig; an aligned
// 8-byte access is split into two DWORD accesses (low first); any other
// access, and any access past the window, reads as all ones and writes
// are ignored.
func (s *Segment) ECAM() bus.Handler { return ecam{s} }

type ecam struct{ s *Segment }

func (e ecam) decode(off uint64) (BDF, int, bool) {
	_, size := e.s.ECAMWindow()
	if off >= size {
		return BDF{}, 0, false
	}
	b := BDF{
		Bus:      e.s.cfg.BusStart + uint8(off>>ECAMBusShift),
		Device:   uint8(off>>ECAMDevShift) & 0x1f,
		Function: uint8(off>>ECAMFuncShift) & 7,
	}
	return b, int(off & (ConfigSize - 1)), true
}

func (e ecam) Read(off uint64, data []byte) {
	b, reg, ok := e.decode(off)
	switch {
	case !ok:
		fill(data, 0xff)
	case len(data) == 8 && reg&7 == 0:
		e.s.ReadConfig(b, reg, data[:4])
		e.s.ReadConfig(b, reg+4, data[4:])
	default:
		e.s.ReadConfig(b, reg, data)
	}
}

func (e ecam) Write(off uint64, data []byte) {
	b, reg, ok := e.decode(off)
	switch {
	case !ok:
	case len(data) == 8 && reg&7 == 0:
		e.s.WriteConfig(b, reg, data[:4])
		e.s.WriteConfig(b, reg+4, data[4:])
	default:
		e.s.WriteConfig(b, reg, data)
	}
}
