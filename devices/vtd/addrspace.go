package vtd

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/iovatree"
	"github.com/govmm/govmm/notifier"
)

// The interrupt address range (VT-d spec 3.14): a DMA write there is an
// interrupt request, not a memory write, so it is never translated as
// memory.
const (
	InterruptRangeFirst = 0xFEE00000
	InterruptRangeLast  = 0xFEEFFFFF
)

func inInterruptRange(a uint64) bool {
	return a-InterruptRangeFirst <= InterruptRangeLast-InterruptRangeFirst
}

func overlapsInterruptRange(first, last uint64) bool {
	return first <= InterruptRangeLast && last >= InterruptRangeFirst
}

// Registration errors.
var (
	// ErrNoCachingMode is returned when registering a MAP notifier on a unit
	// without caching mode: without CAP.CM the guest does not invalidate
	// new mappings, so they cannot be followed.
	ErrNoCachingMode = errors.New("vtd: MAP notifiers need caching mode (caching-mode=on)")
	// ErrNoDeviceIOTLB is returned when registering a DEVIOTLB_UNMAP
	// notifier on a unit without ECAP.DT (device-iotlb=on).
	ErrNoDeviceIOTLB = errors.New("vtd: DEVIOTLB_UNMAP notifiers need device-iotlb=on")
	// ErrAccess is returned by Translate for an access that is neither
	// dma.Read, dma.Write nor dma.ReadWrite.
	ErrAccess = errors.New("vtd: invalid DMA access kind")
)

// AddressSpace is the DMA address space of one requester (SID) behind the
// unit: a dma.AddressSpace for the device's own DMA, and a notifier hub
// for VMM components (VFIO, vhost, an event log) that must follow the
// guest's mappings of that requester.
//
// Translation (VT-d spec 3.4, 3.6): with translation disabled (GSTS.TES=0)
// every IOVA maps to itself. Otherwise the context entry of the SID (root
// table, then context table) selects pass-through (identity) or a 3- or
// 4-level second-level page table, and the walk yields a 4 KiB, 2 MiB or
// 1 GiB page. Results are cached in the context cache and the IOTLB, and
// in a small per-address-space first-level cache of IOTLB entries, which
// makes a repeated translation take two atomic loads. DMA to or from the interrupt address range
// (0xFEE00000-0xFEEFFFFF, as IOVA or as translated address) is refused.
//
// Faults: a refused translation returns a *dma.Fault and, unless the
// context entry's FPD bit suppresses it, is logged in the unit's fault
// recording registers and signalled with the fault event MSI.
//
// Shadowing (caching mode): the address space keeps a tree of the mappings
// its MAP notifiers were told about and, on every invalidation the guest
// issues, walks the invalidated range of its tables and tells the
// notifiers the difference. See Register.
//
// All methods are safe for concurrent use.
type AddressSpace struct {
	u   *Unit
	sid uint16

	ctx atomic.Pointer[ctxEntry] // context cache: nil, or a present valid entry
	// l1 is a direct-mapped cache of IOTLB entries this requester hit,
	// indexed by 4 KiB page number: a per-device first level in front of
	// the unit's IOTLB. A large page fills every slot it is used through.
	l1 [l1Slots]atomic.Pointer[tlbEntry]

	// Shadow state. Mutated only with the unit's lock held, and mu held
	// too; the notifier hub's replay reads tree under mu.
	mu          sync.Mutex
	tree        iovatree.Tree
	hub         *notifier.Hub
	removed     []iovatree.Mapping // scratch for tree.Remove
	shadowDID   uint16             // domain the shadow was last synced from
	shadowValid bool
}

func newAddressSpace(u *Unit, sid uint16) *AddressSpace {
	as := &AddressSpace{u: u, sid: sid}
	as.hub = notifier.NewHub(uint32(sid), as.replay)
	return as
}

// SID returns the requester ID of the address space: bus<<8 | devfn.
func (as *AddressSpace) SID() uint16 { return as.sid }

// String returns the requester as bus:device.function.
func (as *AddressSpace) String() string { return sidString(as.sid) }

func sidString(sid uint16) string {
	return fmt.Sprintf("%02x:%02x.%d", sid>>8, sid>>3&0x1f, sid&7)
}

// l1Slots is the number of entries of an address space's first-level
// translation cache (a power of two).
const l1Slots = 32

func l1Index(iova uint64) uint64 { return iova >> 12 & (l1Slots - 1) }

// Translate implements dma.AddressSpace. It returns the guest-physical
// address of iova and the number of bytes, at most n, that are contiguous
// from there within one page of the guest's tables (or up to the interrupt
// address range). A refused access returns a *dma.Fault whose Reason names
// the VT-d fault reason; n == 0 returns dma.ErrZeroLength and an access
// other than dma.Read, dma.Write or dma.ReadWrite returns ErrAccess.
//
// Translate does not take the unit's lock: on an IOTLB hit it performs
// only atomic loads and allocates nothing.
func (as *AddressSpace) Translate(iova, n uint64, acc dma.Access) (uint64, uint64, error) {
	if e := as.l1[l1Index(iova)].Load(); e != nil && iova&^e.mask == e.iova && acc != 0 && e.perm&acc == acc &&
		!e.window && n != 0 && !e.dead.Load() {
		off := iova & e.mask
		l := e.mask - off + 1
		if l > n {
			l = n
		}
		return e.gpa + off, l, nil
	}
	return as.translateSlow(iova, n, acc)
}

// translateSlow is Translate past the first-level cache: context cache,
// IOTLB, page walk, faults.
//
// Caches and invalidations never lock each other out. Every invalidation
// first bumps the unit's invalidation generation, then clears what it
// invalidates. A translation reads the generation before it reads any
// state or table; a context entry it caches is dropped again if the
// generation moved meanwhile, and an IOTLB entry is inserted only if it did
// not (checked under the IOTLB's lock). So no cache ever keeps what a
// completed invalidation removed.
func (as *AddressSpace) translateSlow(iova, n uint64, acc dma.Access) (uint64, uint64, error) {
	if n == 0 {
		return 0, 0, dma.ErrZeroLength
	}
	if acc == 0 || acc&^dma.ReadWrite != 0 {
		return 0, 0, fmt.Errorf("%w: %v at IOVA %#x", ErrAccess, acc, iova)
	}
	u := as.u
	gen := u.invGen.Load()
	st := u.state.Load()
	if !st.te {
		if inInterruptRange(iova) {
			return 0, 0, &dma.Fault{IOVA: iova, Access: acc, Reason: "interrupt address range (translation disabled)"}
		}
		return iova, identityLen(iova, n), nil
	}
	ce, fpd, fr := as.context(st, gen)
	if fr != 0 {
		return 0, 0, as.fault(iova, acc, fr, fpd)
	}
	if inInterruptRange(iova) {
		return 0, 0, as.fault(iova, acc, FaultInterruptAddress, ce.fpd)
	}
	if ce.tt == ttPassThrough {
		return iova, identityLen(iova, n), nil
	}
	if iova>>ce.agaw != 0 {
		return 0, 0, as.fault(iova, acc, FaultAddressBeyondAW, ce.fpd)
	}
	e := u.tlb.lookup(ce.did, as.sid, iova)
	if e == nil || e.perm&acc != acc {
		l, res := walk(u.mem, &u.cfg, ce, iova)
		switch {
		case res == walkAccess:
			return 0, 0, as.fault(iova, acc, FaultPagingEntryAccess, ce.fpd)
		case res == walkReserved:
			return 0, 0, as.fault(iova, acc, FaultPagingEntryReserved, ce.fpd)
		case res == walkNotPresent || l.perm&acc != acc:
			return 0, 0, as.fault(iova, acc, permFault(acc, l.perm), ce.fpd)
		}
		e = &tlbEntry{
			iova: l.iova, key: tlbKey(ce.did, as.sid, l.level), gpa: l.gpa, mask: l.size - 1,
			did: ce.did, sid: as.sid, level: uint8(l.level), perm: l.perm,
			window: overlapsInterruptRange(l.iova, l.iova+l.size-1) || overlapsInterruptRange(l.gpa, l.gpa+l.size-1),
		}
		if !u.tlb.insert(e, gen, &u.invGen) {
			// An invalidation raced with the walk: use the result for this
			// access, which was in flight, but remember it nowhere.
			return as.clip(e, iova, n, acc, ce.fpd)
		}
	}
	as.l1[l1Index(iova)].Store(e)
	return as.clip(e, iova, n, acc, ce.fpd)
}

// identityLen returns how many bytes from iova, at most n, an identity
// translation covers: up to the end of the address space or the start of
// the interrupt address range.
func identityLen(iova, n uint64) uint64 {
	if iova+n-1 < iova {
		n = -iova
	}
	if iova < InterruptRangeFirst && iova+n-1 >= InterruptRangeFirst {
		n = InterruptRangeFirst - iova
	}
	return n
}

// clip returns the translation of iova inside page e, at most n bytes and
// stopping short of the interrupt address range on either side.
func (as *AddressSpace) clip(e *tlbEntry, iova, n uint64, acc dma.Access, fpd bool) (uint64, uint64, error) {
	off := iova - e.iova
	gpa := e.gpa + off
	l := e.mask - off + 1
	if l > n {
		l = n
	}
	if e.window {
		if inInterruptRange(gpa) {
			return 0, 0, as.fault(iova, acc, FaultInterruptAddress, fpd)
		}
		if iova < InterruptRangeFirst && iova+l-1 >= InterruptRangeFirst {
			l = InterruptRangeFirst - iova
		}
		if gpa < InterruptRangeFirst && gpa+l-1 >= InterruptRangeFirst {
			l = InterruptRangeFirst - gpa
		}
	}
	return gpa, l, nil
}

// permFault returns the fault reason for an access the page's permission
// perm does not allow: a write is reported as a write fault, a read as a
// read fault (VT-d spec 7.1.3, LGN.2 and LGN.3).
func permFault(acc, perm dma.Access) FaultReason {
	if acc&dma.Write != 0 && perm&dma.Write == 0 {
		return FaultWrite
	}
	return FaultRead
}

// context returns the context entry of the address space from the context
// cache, or reads it through the root table and caches it. Entries that
// are not present or not valid are never cached.
func (as *AddressSpace) context(st *hwState, gen uint64) (*ctxEntry, bool, FaultReason) {
	if c := as.ctx.Load(); c != nil {
		return c, c.fpd, 0
	}
	ce, fpd, fr := readContext(as.u.mem, &as.u.cfg, st.root, as.sid)
	if fr != 0 {
		return nil, fpd, fr
	}
	c := &ce
	as.ctx.Store(c)
	if as.u.invGen.Load() != gen {
		as.ctx.CompareAndSwap(c, nil)
	}
	return c, c.fpd, 0
}

// fault reports a refused translation: logged in the fault recording
// registers unless FPD suppresses it, passed to the fault hook, and
// returned to the device as a *dma.Fault.
func (as *AddressSpace) fault(iova uint64, acc dma.Access, fr FaultReason, fpd bool) error {
	rec := FaultRecord{SID: as.sid, Addr: iova, Reason: fr, Access: acc}
	if fpd && fr.qualified() {
		rec.Suppressed = true
	} else {
		rec.Logged = as.u.fault.record(as.sid, iova, fr, acc)
	}
	if p := as.u.faultHook.Load(); p != nil {
		(*p)(rec)
	}
	return &dma.Fault{IOVA: iova, Access: acc, Reason: fmt.Sprintf("VT-d fault reason %#x (%s), requester %s", uint8(fr), fr, sidString(as.sid))}
}

// Register adds a notifier for the guest's mappings of this requester,
// through the address space's notifier.Hub: kinds selects the events
// (notifier.Map, notifier.Unmap, notifier.DevIOTLBUnmap) and [first, last]
// (inclusive) the IOVA range n hears about. It returns the handle for
// Unregister.
//
// MAP notifiers need caching mode (ErrNoCachingMode otherwise) and
// DEVIOTLB_UNMAP notifiers need device-iotlb (ErrNoDeviceIOTLB). A MAP
// notifier is first told every current mapping (a replay, to it alone,
// with nothing unmapped first); from then on each guest invalidation
// becomes UNMAP events for mappings that went away and MAP events for new
// ones, a changed mapping being an UNMAP then a MAP. While translation is
// disabled, or the context entry selects pass-through, the mappings are
// the identity over each guest RAM region. UNMAP-only notifiers (vhost)
// get the invalidated ranges without any page walk; DEVIOTLB_UNMAP
// notifiers get the ranges of device-TLB invalidations.
//
// Notifiers are called synchronously while the guest's invalidation is
// processed, with the unit's lock held: they must not call back into the
// unit's registers or Register/Unregister, though they may Translate.
func (as *AddressSpace) Register(n notifier.Notifier, kinds notifier.Kind, first, last uint64) (notifier.Handle, error) {
	u := as.u
	if kinds&notifier.Map != 0 && !u.cfg.CachingMode {
		return 0, fmt.Errorf("%w (requester %s)", ErrNoCachingMode, as)
	}
	if kinds&notifier.DevIOTLBUnmap != 0 && !u.cfg.DeviceIOTLB {
		return 0, fmt.Errorf("%w (requester %s)", ErrNoDeviceIOTLB, as)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	as.mu.Lock()
	defer as.mu.Unlock()
	if kinds&notifier.Map != 0 && as.hub.Kinds()&notifier.Map == 0 {
		// Nobody was told anything: build the shadow silently, then the
		// hub replays it to n.
		as.tree.Clear()
		as.syncLockedAS(u.viewLocked(as), 0, ^uint64(0), true)
	}
	h, err := as.hub.Register(n, kinds, first, last)
	if err != nil {
		if as.hub.Kinds()&notifier.Map == 0 {
			as.tree.Clear()
		}
		return 0, fmt.Errorf("vtd: register notifier on requester %s: %w", as, err)
	}
	return h, nil
}

// Unregister removes the registration h and reports whether it existed.
// The notifier is told nothing more (its mappings are its owner's to tear
// down).
func (as *AddressSpace) Unregister(h notifier.Handle) bool {
	as.u.mu.Lock()
	defer as.u.mu.Unlock()
	as.mu.Lock()
	defer as.mu.Unlock()
	ok := as.hub.Unregister(h)
	if as.hub.Kinds()&notifier.Map == 0 {
		as.tree.Clear()
		as.shadowValid = false
	}
	return ok
}

// replay is the hub's Replayer: it yields the shadow tree, which is what
// the MAP notifiers already registered were told. The hub calls it from
// Register, where mu is held.
func (as *AddressSpace) replay(yield func(notifier.Event) error) error {
	for m := range as.tree.All() {
		ev := notifier.Event{Kind: notifier.Map, SID: uint32(as.sid), IOVA: m.IOVA, Size: m.Size, Addr: m.Addr, Perm: notifier.Perm(m.Perm)}
		if err := yield(ev); err != nil {
			return err
		}
	}
	return nil
}

// Mappings returns the number of mappings in the shadow: what the MAP
// notifiers have been told and not yet told to unmap (0 without MAP
// notifiers).
func (as *AddressSpace) Mappings() int {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.tree.Len()
}
