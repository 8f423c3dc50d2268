package vtd

import (
	"fmt"

	"github.com/govmm/govmm/iovatree"
	"github.com/govmm/govmm/notifier"
)

// This file is caching-mode shadowing (the model of QEMU's
// vtd_sync_shadow_page_table): each address space with MAP notifiers keeps
// an iovatree of what its notifiers were told, and every guest
// invalidation walks the invalidated range of the guest's tables and
// notifies the difference:
//
//	unchanged leaf         nothing
//	changed leaf           UNMAP of the old mapping(s), then MAP
//	new leaf               MAP
//	gone (hole)            UNMAP of every mapping the hole overlaps
//
// A hole is a not-present entry at any level and covers that entry's whole
// range, so unmapping a 2 MiB, 1 GiB or 512 GiB table can reach beyond the
// invalidated range (the deliberate "wide" unmap of QEMU 36d2d52bdb). UNMAPs
// name exactly the mappings that were told (whole entries, never a part of
// one), which is what VFIO type1 v2 and iommufd require. When removing an
// old mapping uncovers addresses outside the walked range, they are walked
// too, so the shadow never loses a mapping the tables still hold.

// walkBudget bounds the page-table entries one synchronisation visits. A
// guest can build tables that alias themselves (every entry pointing at
// the same table) and make a full walk astronomically long; past the
// budget the rest of the range is treated as unmapped and an error is
// reported. 2^24 entries cover 64 GiB of 4 KiB mappings.
var walkBudget = 1 << 24

// viewMode says how an address space translates right now.
type viewMode uint8

const (
	viewNone     viewMode = iota // translation enabled, no usable context entry: nothing mapped
	viewIdentity                 // translation disabled, or pass-through: identity over RAM
	viewTables                   // the context entry's second-level tables
)

// view is an address space's translation as the guest's tables define it
// now (read without the caches).
type view struct {
	mode  viewMode
	ce    ctxEntry
	ctxOK bool // ce is a present, valid context entry
}

func (u *Unit) viewLocked(as *AddressSpace) view {
	st := u.state.Load()
	if !st.te {
		return view{mode: viewIdentity}
	}
	ce, _, fr := readContext(u.mem, &u.cfg, st.root, as.sid)
	if fr != 0 {
		return view{mode: viewNone}
	}
	if ce.tt == ttPassThrough {
		return view{mode: viewIdentity, ce: ce, ctxOK: true}
	}
	return view{mode: viewTables, ce: ce, ctxOK: true}
}

// span is one piece of an address space's translation: [first, last]
// (inclusive) maps to addr with perm, or is a hole when perm is 0.
type span struct {
	first, last uint64
	addr        uint64
	perm        iovatree.Perm
}

// hasNotifiers reports whether anyone listens to the address space.
func (as *AddressSpace) hasNotifiers() bool { return as.hub.Kinds() != 0 }

// resyncAllLocked resynchronises every address space with notifiers, first
// unmapping everything when unmapFirst (translation or root table change).
func (u *Unit) resyncAllLocked(unmapFirst bool) {
	for _, as := range u.list {
		as.syncAllLocked(unmapFirst)
	}
}

// syncAllLocked brings the notifiers of the address space up to date with
// its whole translation. Without MAP notifiers there is nothing to walk:
// UNMAP notifiers get one UNMAP of the whole address space. The unit's
// lock is held.
func (as *AddressSpace) syncAllLocked(unmapFirst bool) {
	k := as.hub.Kinds()
	if k == 0 {
		return
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	if k&notifier.Map == 0 {
		if k&notifier.Unmap != 0 {
			if err := as.hub.NotifyRange(notifier.Unmap, 0, ^uint64(0)); err != nil {
				as.u.report(fmt.Errorf("vtd: requester %s: unmap all: %w", as, err))
			}
		}
		return
	}
	if unmapFirst {
		s := syncer{as: as}
		s.unmap(0, ^uint64(0))
	}
	as.syncLockedAS(as.u.viewLocked(as), 0, ^uint64(0), false)
}

// syncRangeLocked brings the notifiers up to date with [first, last] after
// a page-selective invalidation; v is the address space's current view.
// UNMAP-only notifiers get the raw range, with no walk.
func (as *AddressSpace) syncRangeLocked(v view, first, last uint64) {
	k := as.hub.Kinds()
	if k&notifier.Map == 0 {
		if k&notifier.Unmap != 0 {
			ev := notifier.Event{Kind: notifier.Unmap, IOVA: first, Size: last - first + 1}
			if err := as.hub.Notify(ev); err != nil {
				as.u.report(fmt.Errorf("vtd: requester %s: unmap [%#x, %#x]: %w", as, first, last, err))
			}
		}
		return
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	as.syncLockedAS(v, first, last, false)
}

// notifyDeviceTLBLocked passes a device-TLB invalidation of [first, last]
// to the DEVIOTLB_UNMAP notifiers.
func (as *AddressSpace) notifyDeviceTLBLocked(first, last uint64) {
	if as.hub.Kinds()&notifier.DevIOTLBUnmap == 0 {
		return
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	var err error
	if first == 0 && last == ^uint64(0) {
		err = as.hub.NotifyRange(notifier.DevIOTLBUnmap, 0, last)
	} else {
		err = as.hub.Notify(notifier.Event{Kind: notifier.DevIOTLBUnmap, IOVA: first, Size: last - first + 1})
	}
	if err != nil {
		as.u.report(fmt.Errorf("vtd: requester %s: device-TLB invalidation [%#x, %#x]: %w", as, first, last, err))
	}
}

// syncLockedAS makes the shadow (and the notifiers, unless silent) match
// the view over [lo, hi] and beyond, as far as removed mappings reach. The
// unit's lock and as.mu are held.
func (as *AddressSpace) syncLockedAS(v view, lo, hi uint64, silent bool) {
	s := syncer{as: as, v: v, silent: silent, budget: walkBudget}
	cLo, cHi := lo, hi
	s.pass(lo, hi, &cLo, &cHi)
	for s.ext && (s.extLo < cLo || s.extHi > cHi) {
		extLo, extHi := s.extLo, s.extHi
		s.ext = false
		if extLo < cLo {
			s.pass(extLo, cLo-1, &cLo, &cHi)
		}
		if extHi > cHi {
			s.pass(cHi+1, extHi, &cLo, &cHi)
		}
	}
	as.shadowDID, as.shadowValid = v.ce.did, v.ctxOK
}

// syncer carries one synchronisation's state.
type syncer struct {
	as     *AddressSpace
	v      view
	silent bool
	budget int
	over   bool // budget exhausted (reported once)
	// ext: the union of the mappings removed, which may reach outside the
	// range walked so far.
	ext          bool
	extLo, extHi uint64
}

// pass visits the spans of [lo, hi], widening the covered range
// [*cLo, *cHi] by the spans' own extent.
func (s *syncer) pass(lo, hi uint64, cLo, cHi *uint64) {
	s.spans(lo, hi, func(sp span) {
		*cLo = min(*cLo, sp.first)
		*cHi = max(*cHi, sp.last)
		s.apply(sp)
	})
}

// apply makes the shadow agree with one span.
func (s *syncer) apply(sp span) {
	as := s.as
	if sp.perm == 0 {
		s.unmap(sp.first, sp.last)
		return
	}
	m := iovatree.Mapping{IOVA: sp.first, Size: sp.last - sp.first + 1, Addr: sp.addr, Perm: sp.perm}
	if cur, ok := as.tree.Find(sp.first); ok && cur == m {
		return
	}
	s.unmap(sp.first, sp.last)
	if !s.silent {
		ev := notifier.Event{Kind: notifier.Map, IOVA: m.IOVA, Size: m.Size, Addr: m.Addr, Perm: notifier.Perm(m.Perm)}
		if err := as.hub.Notify(ev); err != nil {
			// The hub took back what it had delivered; leaving the mapping
			// out of the shadow makes the next synchronisation retry it.
			as.u.report(fmt.Errorf("vtd: requester %s: map [%#x, +%#x) -> %#x: %w", as, m.IOVA, m.Size, m.Addr, err))
			return
		}
	}
	if err := as.tree.Insert(m); err != nil {
		as.u.report(fmt.Errorf("vtd: requester %s: shadow: %w", as, err))
	}
}

// unmap removes every shadow mapping overlapping [first, last] and, unless
// silent, tells the notifiers with one UNMAP per mapping.
func (s *syncer) unmap(first, last uint64) {
	as := s.as
	if as.tree.Len() == 0 {
		return
	}
	as.removed = as.removed[:0]
	if first == 0 && last == ^uint64(0) {
		as.removed = as.tree.Remove(0, 1<<63, as.removed)
		as.removed = as.tree.Remove(1<<63, 1<<63, as.removed)
	} else {
		if _, ok := as.tree.Overlap(first, last-first+1); !ok {
			return
		}
		as.removed = as.tree.Remove(first, last-first+1, as.removed)
	}
	for _, r := range as.removed {
		if !s.ext {
			s.ext, s.extLo, s.extHi = true, r.IOVA, r.Last()
		} else {
			s.extLo, s.extHi = min(s.extLo, r.IOVA), max(s.extHi, r.Last())
		}
		if s.silent {
			continue
		}
		ev := notifier.Event{Kind: notifier.Unmap, IOVA: r.IOVA, Size: r.Size}
		if err := as.hub.Notify(ev); err != nil {
			as.u.report(fmt.Errorf("vtd: requester %s: unmap [%#x, +%#x): %w", as, r.IOVA, r.Size, err))
		}
	}
}

// spans calls fn for the spans of the view that overlap [lo, hi], in
// ascending order. They tile [lo, hi] and may reach beyond it.
func (s *syncer) spans(lo, hi uint64, fn func(span)) {
	switch s.v.mode {
	case viewNone:
		fn(span{first: 0, last: ^uint64(0)})
	case viewIdentity:
		s.identitySpans(lo, hi, fn)
	case viewTables:
		ce := &s.v.ce
		top := uint64(1)<<ce.agaw - 1
		if lo <= top {
			s.walkSpans(ce.slptptr, int(ce.levels), 0, lo, min(hi, top), iovatree.PermRW, fn)
		}
		if hi > top {
			fn(span{first: top + 1, last: ^uint64(0)})
		}
	}
}

// identitySpans yields the identity over guest RAM: one span per RAM
// region, holes between them.
func (s *syncer) identitySpans(lo, hi uint64, fn func(span)) {
	next := uint64(0) // first address not yet yielded
	for _, r := range s.as.u.mem.Regions() {
		if r.GPA > next && r.GPA-1 >= lo && next <= hi {
			fn(span{first: next, last: r.GPA - 1})
		}
		if r.End()-1 >= lo && r.GPA <= hi {
			fn(span{first: r.GPA, last: r.End() - 1, addr: r.GPA, perm: iovatree.PermRW})
		}
		next = r.End()
	}
	if next <= hi {
		fn(span{first: next, last: ^uint64(0)})
	}
}

// walkSpans yields the spans of the level-level table at table, whose
// first entry translates IOVA base, that overlap [lo, hi]; perm is the
// permission granted by the entries above. Entries that are not present,
// have reserved bits set, lie outside guest RAM or map the interrupt
// address range are holes, as wide as the entry.
func (s *syncer) walkSpans(table uint64, level int, base, lo, hi uint64, perm iovatree.Perm, fn func(span)) {
	shift := slShift(level)
	size := uint64(1) << shift
	cfg := &s.as.u.cfg
	for idx := (lo - base) >> shift; idx < 512; idx++ {
		first := base + idx<<shift
		if first > hi {
			return
		}
		last := first + size - 1
		if s.budget <= 0 {
			if !s.over {
				s.over = true
				s.as.u.report(fmt.Errorf("vtd: requester %s: page walk stopped after %d entries at IOVA %#x; the rest is treated as unmapped", s.as, walkBudget, first))
			}
			fn(span{first: first, last: max(hi, last)})
			return
		}
		s.budget--
		pte, err := s.as.u.mem.Load64(table + idx*8)
		p := perm & iovatree.Perm(pte&(slR|slW))
		isLeaf := level == 1 || (level <= 3 && pte&slPS != 0)
		switch {
		case err != nil || p == 0 || pte&slReserved(level, isLeaf, cfg.AWBits, cfg.DeviceIOTLB) != 0:
			fn(span{first: first, last: last})
		case isLeaf:
			gpa := pte & slAddr &^ (size - 1)
			if overlapsInterruptRange(gpa, gpa+size-1) {
				fn(span{first: first, last: last})
			} else {
				fn(span{first: first, last: last, addr: gpa, perm: p})
			}
		default:
			s.walkSpans(pte&slAddr, level-1, first, max(lo, first), min(hi, last), p, fn)
		}
	}
}
