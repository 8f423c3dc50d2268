package pci

import (
	"errors"
	"fmt"

	"github.com/govmm/govmm/devices/bus"
)

// MapError reports a BAR whose decode is enabled but whose range could not
// be inserted on its bus.
type MapError struct {
	Segment uint16
	BDF     BDF
	BAR     int
	Type    BARType
	Base    uint64
	Size    uint64
	Err     error
}

// Error names the function, the BAR, its range and the bus's reason.
func (e *MapError) Error() string {
	return fmt.Sprintf("pci: %04x:%v BAR %d (%v) [%#x, +%#x) not mapped: %v", e.Segment, e.BDF, e.BAR, e.Type, e.Base, e.Size, e.Err)
}

// Unwrap returns the bus's error.
func (e *MapError) Unwrap() error { return e.Err }

// wanted returns where BAR i of f must be mapped now, if anywhere.
func (f *function) wanted(i int, cmd uint16) (uint64, bool) {
	st := &f.bars[i]
	var on bool
	switch st.decl.Type {
	case BARIO:
		on = cmd&CmdIOSpace != 0
	case BARMem32, BARMem64:
		on = cmd&CmdMemorySpace != 0
	default:
		return 0, false
	}
	if !on || st.pending {
		return 0, false
	}
	base := f.cs.BARAddress(i)
	return base, usableBAR(st.decl.Type, base, st.decl.Size)
}

// usableBAR reports whether a BAR of type t and size size at base may be
// decoded: not at 0 (unassigned) and not reaching the last byte of its
// address space (the value a BAR holds after the all-ones sizing write).
func usableBAR(t BARType, base, size uint64) bool {
	if base == 0 || size == 0 {
		return false
	}
	last := base + size - 1
	if last < base {
		return false
	}
	spaceLast := barLimit(t) - 1 // wraps to 2^64-1 for 64-bit BARs
	return last < spaceLast
}

func (s *Segment) busFor(t BARType) *bus.Bus {
	if t == BARIO {
		return s.cfg.IO
	}
	return s.cfg.MMIO
}

// reconcile makes f's BAR mappings match its registers and notifies the
// device. It runs with s.mu held.
func (s *Segment) reconcile(f *function) {
	cmd := f.cs.Command()
	unmapped := false
	for i := range f.bars {
		st := &f.bars[i]
		base, want := f.wanted(i, cmd)
		if want && st.mapped && st.base == base {
			continue
		}
		unmapped = s.unmap(f, i) || unmapped
		st.failed = false
		if want {
			s.mapBAR(f, i, base, true)
		}
	}
	if unmapped {
		s.retryFailed()
	}
	if old := f.cmd; old != cmd {
		f.cmd = cmd
		if o, ok := f.dev.(CommandObserver); ok {
			o.CommandChanged(old, cmd)
		}
	}
}

// mapBAR inserts BAR i of f at base, recording a failure (and reporting it
// if report is set) if the bus refuses.
func (s *Segment) mapBAR(f *function, i int, base uint64, report bool) {
	st := &f.bars[i]
	b := s.busFor(st.decl.Type)
	err := errors.New("no bus for this BAR type")
	if b != nil {
		err = b.Insert(base, st.decl.Size, st.decl.Handler)
	}
	if err != nil {
		st.failed = true
		if report && s.cfg.OnMapError != nil {
			s.cfg.OnMapError(&MapError{Segment: s.cfg.Number, BDF: f.bdf, BAR: i, Type: st.decl.Type, Base: base, Size: st.decl.Size, Err: err})
		}
		return
	}
	st.mapped, st.base = true, base
	if o, ok := f.dev.(BARObserver); ok {
		o.BARMapped(i, base, true)
	}
}

// unmap removes BAR i of f from its bus if it is mapped.
func (s *Segment) unmap(f *function, i int) bool {
	st := &f.bars[i]
	if !st.mapped {
		return false
	}
	s.busFor(st.decl.Type).Remove(st.base)
	st.mapped = false
	if o, ok := f.dev.(BARObserver); ok {
		o.BARMapped(i, st.base, false)
	}
	return true
}

// retryFailed maps again every BAR that wanted a range the bus refused,
// now that something was unmapped.
func (s *Segment) retryFailed() {
	for j := range s.funcs {
		f := s.funcs[j].Load()
		if f == nil {
			continue
		}
		cmd := f.cs.Command()
		for i := range f.bars {
			if !f.bars[i].failed {
				continue
			}
			f.bars[i].failed = false
			if base, want := f.wanted(i, cmd); want {
				s.mapBAR(f, i, base, false)
			}
		}
	}
}

// BARMapping reports where BAR index of the function at b is mapped on its
// bus right now; ok is false if it is not mapped (or there is no such
// function or BAR).
func (s *Segment) BARMapping(b BDF, index int) (base uint64, ok bool) {
	f := s.lookup(b)
	if f == nil || index < 0 || index >= NumBARs {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &f.bars[index]
	return st.base, st.mapped
}
