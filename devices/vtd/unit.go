package vtd

import (
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/govmm/govmm/devices/irq"
	"github.com/govmm/govmm/memory"
)

// unitRequesterID is the requester ID carried by the unit's own event MSIs
// (fault and invalidation-completion events), which are not DMA requests.
const unitRequesterID = 0

// hwState is the part of the unit's state the translation path reads
// without the unit's lock: whether translation is enabled (GSTS.TES) and
// the latched root table (RTADDR at the last SRTP). It is replaced, never
// modified.
type hwState struct {
	te      bool
	rootSet bool // GSTS.RTPS: a root table was latched
	root    uint64
}

// Unit is one emulated VT-d DMA-remapping hardware unit (one DRHD): the
// register window at RegisterBase, the root/context/second-level
// translation, the context cache and IOTLB, register-based and queued
// invalidation, primary fault logging, and caching-mode shadowing of the
// guest's mappings to notifiers.
//
// A Unit is a bus.Handler for its register window. It is safe for
// concurrent use: MMIO accesses (from vCPUs) are serialised by the unit's
// lock, and translations (from device goroutines) take no lock unless they
// fault. Create it with New.
type Unit struct {
	cfg Config
	mem *memory.Memory

	mu     sync.Mutex // serialises MMIO, invalidation, shadowing and the address-space table
	regs   *regFile
	queue  invQueue
	irta   uint64 // IRTA latched by SIRTP, for interrupt remapping
	spaces map[uint16]*AddressSpace
	list   []*AddressSpace // spaces in SID order

	fault  faultUnit
	state  atomic.Pointer[hwState]
	invGen atomic.Uint64 // bumped before every invalidation; see AddressSpace.Translate
	tlb    *iotlb

	faultHook atomic.Pointer[func(FaultRecord)]
	errHook   atomic.Pointer[func(error)]
	msi       irq.MSISender
}

// New returns a unit configured as cfg (see Config.Validate), translating
// into guest RAM mem and sending its fault and invalidation-completion
// events through msi (nil drops them). The unit starts in its reset state:
// translation disabled, so every address space is the identity over guest
// RAM.
func New(cfg Config, mem *memory.Memory, msi irq.MSISender) (*Unit, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if mem == nil {
		return nil, fmt.Errorf("%w: no guest memory", ErrConfig)
	}
	u := &Unit{
		cfg:    cfg,
		mem:    mem,
		msi:    msi,
		regs:   newRegFile(registerSpecs(&cfg)),
		spaces: map[uint16]*AddressSpace{},
		tlb:    &iotlb{},
	}
	u.fault.msi = msi
	u.fault.onErr = u.report
	u.fault.reset()
	u.state.Store(&hwState{})
	return u, nil
}

// Config returns the unit's configuration.
func (u *Unit) Config() Config { return u.cfg }

// SetFaultHook sets a function called for every translation fault a device
// meets, whether it was logged, dropped or suppressed by FPD (nil removes
// it). It is called from the faulting device's goroutine, after the fault
// was logged; it must not call back into the unit's register window.
func (u *Unit) SetFaultHook(fn func(FaultRecord)) {
	if fn == nil {
		u.faultHook.Store(nil)
		return
	}
	u.faultHook.Store(&fn)
}

// SetErrorHook sets a function called with errors the unit cannot return
// to anyone: a notifier that failed to apply a MAP or UNMAP during
// shadowing, an event MSI that could not be delivered (nil removes it). It
// may be called with the unit's lock held; it must not call back into the
// unit.
func (u *Unit) SetErrorHook(fn func(error)) {
	if fn == nil {
		u.errHook.Store(nil)
		return
	}
	u.errHook.Store(&fn)
}

func (u *Unit) report(err error) {
	if p := u.errHook.Load(); p != nil {
		(*p)(err)
	}
}

// AddressSpace returns the DMA address space of the requester sid
// (bus<<8 | devfn, with the bus number the guest assigned), creating it on
// first use. Devices translate every DMA address through it; VMM
// components register notifiers on it to follow the guest's mappings.
func (u *Unit) AddressSpace(sid uint16) *AddressSpace {
	u.mu.Lock()
	defer u.mu.Unlock()
	if as, ok := u.spaces[sid]; ok {
		return as
	}
	as := newAddressSpace(u, sid)
	u.spaces[sid] = as
	i := sort.Search(len(u.list), func(i int) bool { return u.list[i].sid > sid })
	u.list = append(u.list, nil)
	copy(u.list[i+1:], u.list[i:])
	u.list[i] = as
	return as
}

// Reset puts the unit in its power-on state, as a platform reset does:
// registers at their reset values, translation and queued invalidation
// disabled, caches empty, fault records clear. Notifiers stay registered;
// MAP notifiers are told to unmap everything and then to map the identity
// over guest RAM that a disabled unit provides.
func (u *Unit) Reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.regs = newRegFile(registerSpecs(&u.cfg))
	u.fault.reset()
	u.queue = invQueue{}
	u.irta = 0
	u.invGen.Add(1)
	u.state.Store(&hwState{})
	u.flushCachesLocked()
	u.resyncAllLocked(true)
}

// Read serves a guest read of len(data) bytes at offset off of the register
// window (bus.Handler). Only naturally aligned 4- and 8-byte accesses
// inside the window are served; others, and offsets that hold no register,
// read as 0.
func (u *Unit) Read(off uint64, data []byte) {
	clear(data)
	if !validAccess(off, len(data)) {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for i := 0; i < len(data); i += 4 {
		binary.LittleEndian.PutUint32(data[i:], u.read32Locked(off+uint64(i)))
	}
}

// Write serves a guest write at offset off of the register window
// (bus.Handler). Only naturally aligned 4- and 8-byte accesses inside the
// window take effect; others are ignored. Commands (GCMD, CCMD, IOTLB, IQT)
// complete before Write returns: a write to IQT processes the whole
// invalidation queue, including wait-descriptor status writes.
func (u *Unit) Write(off uint64, data []byte) {
	if !validAccess(off, len(data)) {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for i := 0; i < len(data); i += 4 {
		u.write32Locked(off+uint64(i), binary.LittleEndian.Uint32(data[i:]))
	}
}

func validAccess(off uint64, n int) bool {
	return (n == 4 || n == 8) && off%uint64(n) == 0 && off < RegisterWindowSize && off+uint64(n) <= RegisterWindowSize
}

func (u *Unit) read32Locked(off uint64) uint32 {
	if isFaultReg(off) {
		return u.fault.read32(off)
	}
	return u.regs.read32(off)
}

// write32Locked stores one 32-bit slot and runs the side effect of the
// register it completes. 64-bit commands (CCMD, IOTLB) act when their upper
// half is written, so an 8-byte write and a low-then-high pair of 4-byte
// writes behave alike; IQT acts on its lower half, which holds the tail.
func (u *Unit) write32Locked(off uint64, v uint32) {
	if isFaultReg(off) {
		if u.fault.write32(off, v) {
			u.processQueueLocked() // IQE cleared: the queue resumes
		}
		return
	}
	u.regs.write32(off, v)
	switch off {
	case RegGCMD:
		u.writeGCMDLocked(v)
	case RegCCMD + 4:
		u.writeCCMDLocked()
	case RegIOTLB + 4:
		u.writeIOTLBLocked()
	case RegIQT:
		u.processQueueLocked()
	case RegICS:
		if u.regs.get32(RegICS)&icsIWC == 0 {
			u.regs.set32(RegIECTL, u.regs.get32(RegIECTL)&^iectlIP)
		}
	case RegIECTL:
		if c := u.regs.get32(RegIECTL); c&iectlIM == 0 && c&iectlIP != 0 {
			u.sendCompletionLocked()
		}
	}
}

// writeGCMDLocked carries out a Global Command write (VT-d spec 10.4.4).
// Linux writes the persistent bits it wants (TE, QIE, IRE, CFI) together
// with at most one one-shot command (SRTP, SIRTP, WBF); kvm-unit-tests
// writes GSTS|bit, so a one-shot bit may be re-asserted on every write,
// which is harmless. Every command completes before the write returns, so
// the matching GSTS bit is already set (or clear) when software polls it.
func (u *Unit) writeGCMDLocked(v uint32) {
	if v&gcmdSRTP != 0 {
		u.setRootTableLocked()
	}
	if v&gcmdSIRTP != 0 {
		// Latch the interrupt remapping table; it is used once interrupt
		// remapping (ECAP.IR) is offered.
		u.irta = u.regs.get64(RegIRTA)
		u.setGSTS(gcmdSIRTP, true)
	}
	gsts := u.regs.get32(RegGSTS)
	if (v^gsts)&gcmdQIE != 0 {
		u.enableQILocked(v&gcmdQIE != 0)
	}
	if (v^gsts)&gcmdTE != 0 {
		u.enableTranslationLocked(v&gcmdTE != 0)
	}
	// IRE and CFI need ECAP.IR, which is 0: the bits are ignored and
	// IRES/CFIS stay clear. WBF has nothing to flush (CAP.RWBF=0), so WBFS
	// is never seen set.
}

func (u *Unit) setGSTS(bit uint32, on bool) {
	g := u.regs.get32(RegGSTS)
	if on {
		g |= bit
	} else {
		g &^= bit
	}
	u.regs.set32(RegGSTS, g)
}

// setRootTableLocked latches RTADDR (SRTP). Re-latching the same table is a
// no-op; a new table flushes the caches and, with translation enabled,
// re-shadows every address space from scratch.
func (u *Unit) setRootTableLocked() {
	root := u.regs.get64(RegRTADDR) & (haw(u.cfg.AWBits) &^ pageMask4K)
	u.setGSTS(gcmdSRTP, true) // RTPS
	st := u.state.Load()
	if st.rootSet && st.root == root {
		return
	}
	u.invGen.Add(1)
	u.state.Store(&hwState{te: st.te, rootSet: true, root: root})
	u.flushCachesLocked()
	if st.te {
		u.resyncAllLocked(true)
	}
}

// enableTranslationLocked sets or clears TE. Either way the caches are
// flushed and every address space with notifiers is unmapped and
// re-shadowed: the identity over RAM when disabled, the guest's tables
// when enabled.
func (u *Unit) enableTranslationLocked(on bool) {
	st := u.state.Load()
	u.invGen.Add(1)
	u.state.Store(&hwState{te: on, rootSet: st.rootSet, root: st.root})
	u.setGSTS(gcmdTE, on)
	u.flushCachesLocked()
	u.resyncAllLocked(true)
}

// flushCachesLocked empties the context cache and the IOTLB. The caller has
// bumped invGen.
func (u *Unit) flushCachesLocked() {
	for _, as := range u.list {
		as.ctx.Store(nil)
	}
	u.tlb.flushAll()
}

// sendCompletionLocked sends the invalidation-completion event MSI (IEDATA,
// IEADDR, IEUADDR) and clears IECTL.IP.
func (u *Unit) sendCompletionLocked() {
	u.regs.set32(RegIECTL, u.regs.get32(RegIECTL)&^iectlIP)
	if u.msi == nil {
		return
	}
	m := irq.MSI{
		Addr:  uint64(u.regs.get32(RegIEUADDR))<<32 | uint64(u.regs.get32(RegIEADDR)),
		Data:  u.regs.get32(RegIEDATA),
		DevID: unitRequesterID,
	}
	if err := u.msi.SendMSI(m); err != nil {
		u.report(fmt.Errorf("vtd: invalidation completion MSI to %#x: %w", m.Addr, err))
	}
}

// completionEventLocked signals an invalidation wait descriptor with IF
// (VT-d spec 6.5.2.8, 7.5): if ICS.IWC is already set nothing happens;
// otherwise IWC and IECTL.IP are set, and unless IECTL.IM masks it the MSI
// is sent and IP cleared.
func (u *Unit) completionEventLocked() {
	if u.regs.get32(RegICS)&icsIWC != 0 {
		return
	}
	u.regs.set32(RegICS, icsIWC)
	u.regs.set32(RegIECTL, u.regs.get32(RegIECTL)|iectlIP)
	if u.regs.get32(RegIECTL)&iectlIM == 0 {
		u.sendCompletionLocked()
	}
}
