package pci

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/govmm/govmm/devices/bus"
)

// ErrExists is returned by Segment.Add when the BDF is taken or the
// device is already placed in a segment.
var ErrExists = errors.New("pci: already present")

// ErrNoWindow is returned by Segment.Add when a BAR cannot be assigned an
// address because its window is missing or full.
var ErrNoWindow = errors.New("pci: no room in the BAR window")

// SegmentConfig describes one PCI segment group (PCI Firmware Specification
// 3.3 §4.1.2, the ACPI MCFG table's "PCI Segment Group Number", "Start Bus
// Number", "End Bus Number" and base address).
type SegmentConfig struct {
	// Number is the segment group number (ACPI _SEG, MCFG segment).
	Number uint16
	// ECAMBase is the MCFG base address: the guest-physical ECAM address
	// of bus 0 of this segment, 1 MiB aligned. The segment's window starts
	// at ECAMBase + BusStart<<20 (see ECAMWindow).
	ECAMBase uint64
	// BusStart and BusEnd are the inclusive range of bus numbers the
	// segment decodes (ACPI _BBN and the _CRS bus range). Devices may be
	// added on any bus in the range.
	BusStart, BusEnd uint8
	// MMIO and IO are the buses on which memory and I/O BARs are mapped.
	// A nil bus leaves BARs of that kind unmapped (and unassignable).
	MMIO, IO *bus.Bus
	// MMIO32, MMIO64 and IOPorts are the windows BAR addresses are
	// assigned from: 32-bit memory BARs from MMIO32, 64-bit ones from
	// MMIO64 (MMIO32 if MMIO64 is empty), I/O BARs from IOPorts.
	MMIO32, MMIO64, IOPorts Window
	// OnMapError, if not nil, is told when a BAR the guest enabled cannot
	// be mapped (a *MapError, normally because it overlaps another range
	// on the bus). The BAR stays unmapped until it can be mapped. It is
	// called with the configuration-write lock held.
	OnMapError func(error)
}

// Segment is one PCI segment group: the functions on its buses, their
// configuration spaces as reached by ECAM (ECAM) and configuration
// mechanism #1 (NewConfigIO), and the mapping of their BARs on the MMIO and
// I/O buses.
//
// BAR mapping follows the registers: a BAR is mapped on its bus, at the
// address in its register(s), exactly while the matching Command decode bit
// (CmdIOSpace or CmdMemorySpace) is set and the address is usable (not 0,
// not the all-ones sizing pattern, not past the end of its address space).
// A guest write to a BAR register or to Command remaps at once. A 64-bit
// BAR whose lower register was written is left unmapped until its upper
// register is written too (or Command is written), so the half-updated
// address of a two-step relocation is never decoded.
//
// A Segment is safe for concurrent use: configuration reads from several
// vCPUs run in parallel; configuration writes that touch Command or a BAR
// are serialised with each other and with Add and Remove.
type Segment struct {
	cfg   SegmentConfig
	funcs []atomic.Pointer[function] // index (bus-BusStart)<<8 | devfn

	mu                sync.Mutex // serialises remapping, Add and Remove
	mem32, mem64, ios allocator
}

type function struct {
	bdf  BDF
	dev  Device
	cs   *ConfigSpace
	ci   ConfigInterceptor
	bars [NumBARs]barState // guarded by Segment.mu
	cmd  uint16            // Command as last reconciled, guarded by Segment.mu
}

type barState struct {
	decl    BAR
	mapped  bool   // the handler is on the bus at base
	base    uint64 // valid while mapped
	pending bool   // 64-bit: lower register written, upper not yet
	failed  bool   // wanted but the bus refused the range
	alloc   *allocator
	abase   uint64 // address assigned by Add, returned to alloc on Remove
}

// NewSegment returns an empty segment. It fails if BusEnd < BusStart,
// ECAMBase is not 1 MiB aligned, a window (or the ECAM window) wraps past
// 2^64, a memory window overlaps the other or the ECAM window, MMIO32 goes
// above 4 GiB or IOPorts above 64 KiB.
func NewSegment(cfg SegmentConfig) (*Segment, error) {
	if cfg.BusEnd < cfg.BusStart {
		return nil, fmt.Errorf("pci: segment %d: bus range %#x–%#x is empty", cfg.Number, cfg.BusStart, cfg.BusEnd)
	}
	if cfg.ECAMBase&(1<<20-1) != 0 {
		return nil, fmt.Errorf("pci: segment %d: ECAM base %#x is not 1 MiB aligned", cfg.Number, cfg.ECAMBase)
	}
	ecam := Window{cfg.ECAMBase + uint64(cfg.BusStart)<<ECAMBusShift, uint64(int(cfg.BusEnd)-int(cfg.BusStart)+1) << ECAMBusShift}
	for _, w := range []Window{cfg.MMIO32, cfg.MMIO64, cfg.IOPorts, ecam} {
		if !w.valid() {
			return nil, fmt.Errorf("pci: segment %d: window %v wraps", cfg.Number, w)
		}
	}
	if cfg.MMIO32.overlaps(cfg.MMIO64) {
		return nil, fmt.Errorf("pci: segment %d: windows %v and %v overlap", cfg.Number, cfg.MMIO32, cfg.MMIO64)
	}
	for _, w := range []Window{cfg.MMIO32, cfg.MMIO64} {
		if w.overlaps(ecam) {
			return nil, fmt.Errorf("pci: segment %d: window %v overlaps the ECAM window %v", cfg.Number, w, ecam)
		}
	}
	if cfg.MMIO32.Size != 0 && cfg.MMIO32.End()-1 > 0xffffffff {
		return nil, fmt.Errorf("pci: segment %d: MMIO32 window %v goes above 4 GiB", cfg.Number, cfg.MMIO32)
	}
	if cfg.IOPorts.Size != 0 && cfg.IOPorts.End()-1 > 0xffff {
		return nil, fmt.Errorf("pci: segment %d: I/O window %v goes above 64 KiB", cfg.Number, cfg.IOPorts)
	}
	s := &Segment{
		cfg:   cfg,
		funcs: make([]atomic.Pointer[function], (int(cfg.BusEnd)-int(cfg.BusStart)+1)<<8),
		mem32: allocator{w: cfg.MMIO32},
		mem64: allocator{w: cfg.MMIO64},
		ios:   allocator{w: cfg.IOPorts},
	}
	return s, nil
}

// Config returns the configuration the segment was created with.
func (s *Segment) Config() SegmentConfig { return s.cfg }

func (s *Segment) slot(b BDF) (int, bool) {
	if !b.Valid() || b.Bus < s.cfg.BusStart || b.Bus > s.cfg.BusEnd {
		return 0, false
	}
	return int(b.Bus-s.cfg.BusStart)<<8 | int(b.DevFn()), true
}

func (s *Segment) lookup(b BDF) *function {
	i, ok := s.slot(b)
	if !ok {
		return nil
	}
	return s.funcs[i].Load()
}

// Device returns the device at b.
func (s *Segment) Device(b BDF) (Device, bool) {
	if f := s.lookup(b); f != nil {
		return f.dev, true
	}
	return nil, false
}

// Add places d at b: it records the segment and b in d's configuration
// space (ConfigSpace.Location, ConfigSpace.RequesterID), assigns every
// declared BAR a naturally aligned address from its window (memory BARs
// at least 4 KiB aligned, so no two functions share a page) and programs
// it into the BAR registers. Command is left as the device set it (zero
// after NewConfigSpace): the guest enables decode, and the BARs are mapped
// then. Adding function 0 of a device that has other functions, or another
// function of a device whose function 0 is present, sets the
// multi-function bit of function 0's Header Type.
//
// It fails if b is invalid or outside the segment's bus range, b is taken
// or d is already placed (ErrExists), or a BAR finds no room
// (ErrNoWindow); on failure nothing is changed.
func (s *Segment) Add(b BDF, d Device) error {
	if d == nil || d.Config() == nil {
		return fmt.Errorf("pci: %04x:%v: nil device", s.cfg.Number, b)
	}
	i, ok := s.slot(b)
	if !ok {
		return fmt.Errorf("pci: %v is not a function on segment %d buses %#x–%#x", b, s.cfg.Number, s.cfg.BusStart, s.cfg.BusEnd)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.funcs[i].Load() != nil {
		return fmt.Errorf("%w: %04x:%v", ErrExists, s.cfg.Number, b)
	}
	cs := d.Config()
	f := &function{bdf: b, dev: d, cs: cs, ci: cs}
	if ci, ok := d.(ConfigInterceptor); ok {
		f.ci = ci
	}
	if !cs.place(s.cfg.Number, b) {
		return fmt.Errorf("%w: the device for %04x:%v is already placed", ErrExists, s.cfg.Number, b)
	}
	if err := s.assign(f); err != nil {
		cs.unplace()
		return err
	}
	s.markMultiFunction(b, cs)
	f.cmd = cs.Command()
	s.funcs[i].Store(f)
	s.reconcile(f)
	return nil
}

// assign gives every declared BAR of f an address from its window and
// programs it; if one does not fit, nothing is programmed.
func (s *Segment) assign(f *function) error {
	for i := range NumBARs {
		b, ok := f.cs.BAR(i)
		if !ok {
			continue
		}
		st := &f.bars[i]
		st.decl = b
		var a *allocator
		align := b.Size
		switch b.Type {
		case BARIO:
			a = &s.ios
		case BARMem32:
			a = &s.mem32
		case BARMem64:
			a = &s.mem64
			if a.w.Size == 0 {
				a = &s.mem32
			}
		}
		if b.Type != BARIO && align < 4096 {
			align = 4096
		}
		base, ok := a.alloc(b.Size, align)
		if !ok {
			s.release(f)
			return fmt.Errorf("%w: %04x:%v %v BAR %d of %#x bytes does not fit in %v", ErrNoWindow, s.cfg.Number, f.bdf, b.Type, i, b.Size, a.w)
		}
		st.alloc, st.abase = a, base
	}
	for i := range f.bars {
		if st := &f.bars[i]; st.alloc != nil {
			if err := f.cs.SetBARAddress(i, st.abase); err != nil {
				s.release(f)
				return err
			}
		}
	}
	return nil
}

// release returns f's assigned BAR addresses to their windows.
func (s *Segment) release(f *function) {
	for i := range f.bars {
		if st := &f.bars[i]; st.alloc != nil {
			st.alloc.free(st.abase)
			st.alloc = nil
		}
	}
}

func (s *Segment) markMultiFunction(b BDF, cs *ConfigSpace) {
	fn0 := b
	fn0.Function = 0
	others := false
	for fn := uint8(1); fn < 8; fn++ {
		o := b
		o.Function = fn
		if fn != b.Function && s.lookup(o) != nil {
			others = true
		}
	}
	if b.Function != 0 {
		if f0 := s.lookup(fn0); f0 != nil {
			f0.cs.PutUint8(RegHeaderType, f0.cs.Uint8(RegHeaderType)|HeaderTypeMultiFunc)
		}
	} else if others {
		cs.PutUint8(RegHeaderType, cs.Uint8(RegHeaderType)|HeaderTypeMultiFunc)
	}
}

// Remove unmaps the BARs of the function at b, returns its BAR addresses
// to the windows and forgets it; its ConfigSpace may then be added again.
// It reports whether a function was there.
func (s *Segment) Remove(b BDF) bool {
	i, ok := s.slot(b)
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.funcs[i].Load()
	if f == nil {
		return false
	}
	s.funcs[i].Store(nil)
	unmapped := false
	for j := range f.bars {
		unmapped = s.unmap(f, j) || unmapped
		f.bars[j].failed = false
	}
	s.release(f)
	f.cs.unplace()
	if unmapped {
		s.retryFailed()
	}
	return true
}

// accessOK reports whether a configuration access of n bytes at off is one
// the segment serves: 1, 2 or 4 bytes inside 4 KiB, not crossing a 4-byte
// boundary (PCI Express Base Specification §7.2.2: ECAM accesses are
// DWORD or smaller and naturally contained in one DWORD).
func accessOK(off, n int) bool {
	return (n == 1 || n == 2 || n == 4) && off >= 0 && off < ConfigSize && off&3+n <= 4
}

// ReadConfig reads len(data) bytes (1, 2 or 4, within one DWORD) of the
// configuration space of the function at b. A function that is not there,
// or an access that is not of that shape, reads as all ones (the master
// abort a root complex turns into 0xFFFFFFFF).
func (s *Segment) ReadConfig(b BDF, off int, data []byte) {
	f := s.lookup(b)
	if f == nil || !accessOK(off, len(data)) {
		fill(data, 0xff)
		return
	}
	f.ci.ReadConfig(off, data)
}

// WriteConfig writes data (1, 2 or 4 bytes, within one DWORD) to the
// configuration space of the function at b, then remaps its BARs if the
// write touched Command or a BAR register. Writes to a missing function or
// of a bad shape are ignored.
func (s *Segment) WriteConfig(b BDF, off int, data []byte) {
	f := s.lookup(b)
	if f == nil || !accessOK(off, len(data)) {
		return
	}
	end := off + len(data)
	touchesCmd := off < RegCommand+2 && RegCommand < end
	touchesBAR := off < RegBAR0+4*NumBARs && RegBAR0 < end
	if !touchesCmd && !touchesBAR {
		f.ci.WriteConfig(off, data)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lookup(b) != f { // removed meanwhile
		return
	}
	f.ci.WriteConfig(off, data)
	for i := range f.bars {
		st := &f.bars[i]
		if st.decl.Type != BARMem64 {
			continue
		}
		lo := RegBAR0 + 4*i
		switch {
		case off < lo+8 && lo+4 < end:
			st.pending = false
		case off < lo+4 && lo < end:
			st.pending = true
		}
		if touchesCmd {
			st.pending = false
		}
	}
	s.reconcile(f)
}
