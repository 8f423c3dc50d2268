package vtd

// This file holds the cache invalidations (VT-d spec 6.5), shared by the
// register-based commands (CCMD, IOTLB) and the queued descriptors, and
// what each one means for the shadows of address spaces with notifiers
// (caching mode).

// fmMask returns the SID bits a context-cache device-selective
// invalidation ignores for function mask fm (VT-d spec 10.4.7, FM field):
// 0 none, 1 bit 2, 2 bits 2:1, 3 bits 2:0 (the function number).
func fmMask(fm uint8) uint16 {
	switch fm & 3 {
	case 1:
		return 0x4
	case 2:
		return 0x6
	case 3:
		return 0x7
	}
	return 0
}

// invalidateContextLocked invalidates the context cache at granularity g:
// global, domain did, or device sid (with function mask fm). A cached
// context entry may be replaced, so the requesters' IOTLB entries go too,
// and their shadows are resynchronised against the (possibly new) context
// entry: a new domain's mappings are mapped, a removed entry unmaps all.
func (u *Unit) invalidateContextLocked(g uint8, did, sid uint16, fm uint8) {
	var match func(as *AddressSpace) bool
	switch g {
	case granGlobal:
		match = func(*AddressSpace) bool { return true }
	case granDomain:
		// Under caching mode, not-present entries count as cached with
		// DID 0 (VT-d spec 6.1): DID 0 also covers requesters without a
		// valid context entry.
		cmZero := did == 0 && u.cfg.CachingMode
		match = func(as *AddressSpace) bool {
			c := as.ctx.Load()
			return c != nil && c.did == did || as.shadowValid && as.shadowDID == did ||
				cmZero && c == nil && !as.shadowValid
		}
	case granDevice:
		m := fmMask(fm)
		match = func(as *AddressSpace) bool { return as.sid&^m == sid&^m }
	default:
		return
	}
	u.invGen.Add(1)
	var hit []*AddressSpace
	for _, as := range u.list {
		if match(as) {
			as.ctx.Store(nil)
			hit = append(hit, as)
		}
	}
	switch g {
	case granGlobal:
		u.tlb.flushAll()
	case granDevice:
		m := fmMask(fm)
		u.tlb.flushWhere(func(s uint16) bool { return s&^m == sid&^m }, 0, false)
	default:
		set := map[uint16]bool{}
		for _, as := range hit {
			set[as.sid] = true
		}
		u.tlb.flushWhere(func(s uint16) bool { return set[s] }, did, true)
	}
	for _, as := range hit {
		as.syncAllLocked(false)
	}
}

// invalidateIOTLBLocked invalidates the IOTLB at granularity g: global,
// domain did (DSI), or the 2^am pages at addr in domain did (PSI; addr's
// low bits under the mask are ignored). Shadows follow: global and DSI
// resynchronise whole address spaces of the domain, PSI walks only the
// invalidated range.
func (u *Unit) invalidateIOTLBLocked(g uint8, did uint16, addr uint64, am uint8) {
	switch g {
	case granGlobal:
		u.invGen.Add(1)
		u.tlb.flushAll()
		for _, as := range u.list {
			as.syncAllLocked(false)
		}
	case granDomain:
		u.invGen.Add(1)
		u.tlb.flushDomain(did)
		for _, as := range u.list {
			if as.hasNotifiers() {
				if v := u.viewLocked(as); v.ctxOK && v.ce.did == did {
					as.syncAllLocked(false)
				}
			}
		}
	case granDevice:
		size := uint64(1) << (12 + am)
		first := addr &^ (size - 1)
		last := first + size - 1
		u.invGen.Add(1)
		u.tlb.flushPages(did, first, last)
		for _, as := range u.list {
			if as.hasNotifiers() {
				if v := u.viewLocked(as); v.ctxOK && v.ce.did == did {
					as.syncRangeLocked(v, first, last)
				}
			}
		}
	}
}

// invalidateDeviceTLBLocked handles a device-TLB invalidation of
// [first, last] for requester sid: there is no device TLB in the unit
// itself, so it only tells the address space's DEVIOTLB_UNMAP notifiers
// (vhost with ATS), and only with ECAP.DT.
func (u *Unit) invalidateDeviceTLBLocked(sid uint16, first, last uint64) {
	if !u.cfg.DeviceIOTLB {
		return
	}
	if as, ok := u.spaces[sid]; ok {
		as.notifyDeviceTLBLocked(first, last)
	}
}

// writeCCMDLocked runs a register-based context-cache invalidation when
// software sets CCMD.ICC (VT-d spec 10.4.7): the requested granularity
// (CIRG) is performed as asked and reported in CAIG, then ICC clears. A
// reserved granularity, or a command while queued invalidation is enabled
// (which the spec forbids), reports CAIG=0 and invalidates nothing.
func (u *Unit) writeCCMDLocked() {
	v := u.regs.get64(RegCCMD)
	if v&ccmdICC == 0 {
		return
	}
	g := uint8(v >> ccmdCIRGSh & 3)
	if u.regs.get32(RegGSTS)&gcmdQIE != 0 {
		g = 0
	}
	if g != 0 {
		u.invalidateContextLocked(g, uint16(v), uint16(v>>16), uint8(v>>32&3))
	}
	v &^= ccmdICC | 3<<ccmdCAIGSh
	u.regs.set64(RegCCMD, v|uint64(g)<<ccmdCAIGSh)
}

// writeIOTLBLocked runs a register-based IOTLB invalidation when software
// sets IOTLB.IVT (VT-d spec 10.4.8): IIRG global, domain (DID) or page
// (DID with IVA.ADDR and IVA.AM). The actual granularity is reported in
// IAIG: a PSI whose AM exceeds MAMV is carried out as a DSI. A reserved
// granularity, or a command while queued invalidation is enabled, reports
// IAIG=0 and invalidates nothing.
func (u *Unit) writeIOTLBLocked() {
	v := u.regs.get64(RegIOTLB)
	if v&iotlbIVT == 0 {
		return
	}
	g := uint8(v >> iotlbIIRGSh & 3)
	if u.regs.get32(RegGSTS)&gcmdQIE != 0 {
		g = 0
	}
	iva := u.regs.get64(RegIVA)
	am := uint8(iva & descAMMask)
	if g == granDevice && am > capMAMV {
		g = granDomain
	}
	if g != 0 {
		u.invalidateIOTLBLocked(g, uint16(v>>32), iva&descAddrMask, am)
	}
	v &^= iotlbIVT | 3<<iotlbIAIGSh
	u.regs.set64(RegIOTLB, v|uint64(g)<<iotlbIAIGSh)
}
