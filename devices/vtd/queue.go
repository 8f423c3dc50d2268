package vtd

// invQueue is the invalidation queue latched when queued invalidation is
// enabled (VT-d spec 6.5.2): a ring of 2^(QS+8) 128-bit descriptors at the
// IQA base, consumed from IQH to IQT.
type invQueue struct {
	base uint64 // IQA.IQA: guest-physical base, 4 KiB aligned
	qs   uint8  // IQA.QS
	dw   bool   // IQA.DW: 256-bit descriptors (scalable mode only)
}

// entries returns the number of descriptors the queue holds.
func (q *invQueue) entries() uint64 {
	n := uint64(256) << q.qs
	if q.dw {
		n /= 2
	}
	return n
}

// enableQILocked sets or clears GCMD.QIE (VT-d spec 10.4.4). Enabling
// latches IQA and processes anything already queued (software may have
// written IQT first); disabling resets IQH to 0.
func (u *Unit) enableQILocked(on bool) {
	u.regs.set64(RegIQH, 0)
	if !on {
		u.setGSTS(gcmdQIE, false)
		return
	}
	iqa := u.regs.get64(RegIQA)
	u.queue = invQueue{base: iqa &^ pageMask4K, qs: uint8(iqa & iqaQS), dw: iqa&iqaDW != 0}
	u.setGSTS(gcmdQIE, true)
	u.processQueueLocked()
}

// queueErrorLocked stops the queue: FSTS.IQE is set (raising a fault
// event), IQER.IQEI says why, and IQH keeps pointing at the offending
// descriptor. Nothing is fetched until software clears FSTS.IQE.
func (u *Unit) queueErrorLocked(iqei uint8) {
	u.regs.set64(RegIQER, uint64(iqei))
	u.fault.setIQE()
}

// processQueueLocked runs every descriptor from IQH up to IQT, in order,
// synchronously (the guest sees them all completed when its IQT write
// returns). It does nothing while queued invalidation is disabled or the
// queue is halted by an error. It visits at most the queue's size in
// descriptors, so any IQT value terminates.
func (u *Unit) processQueueLocked() {
	if u.regs.get32(RegGSTS)&gcmdQIE == 0 || u.fault.iqe() {
		return
	}
	q := &u.queue
	if q.dw {
		// 256-bit descriptors exist only with scalable mode (ECAP.SMTS).
		u.queueErrorLocked(iqeiWidth)
		return
	}
	n := q.entries()
	tail := u.regs.get64(RegIQT) >> 4
	if tail >= n {
		u.queueErrorLocked(iqeiTail)
		return
	}
	head := u.regs.get64(RegIQH) >> 4 % n
	for head != tail {
		addr := q.base + head*16
		lo, err := u.mem.Load64(addr)
		if err != nil {
			u.queueErrorLocked(iqeiFetch)
			return
		}
		hi, err := u.mem.Load64(addr + 8)
		if err != nil {
			u.queueErrorLocked(iqeiFetch)
			return
		}
		d := descriptor{lo: lo, hi: hi}
		if iqei := d.check(&u.cfg); iqei != 0 {
			u.queueErrorLocked(iqei)
			return
		}
		if iqei := u.executeLocked(d); iqei != 0 {
			u.queueErrorLocked(iqei)
			return
		}
		head = (head + 1) % n
		u.regs.set64(RegIQH, head<<4)
	}
}

// executeLocked carries out one valid descriptor. It returns an IQEI code
// when the descriptor cannot complete (a status write outside guest RAM).
func (u *Unit) executeLocked(d descriptor) uint8 {
	switch d.typ() {
	case descCC:
		u.invalidateContextLocked(uint8(d.lo>>4&3), uint16(d.lo>>16), uint16(d.lo>>32), uint8(d.lo>>48&3))
	case descIOTLB:
		u.invalidateIOTLBLocked(uint8(d.lo>>4&3), uint16(d.lo>>16), d.hi&descAddrMask, uint8(d.hi&descAMMask))
	case descDevTLB:
		first, last := devTLBRange(d.hi)
		u.invalidateDeviceTLBLocked(uint16(d.lo>>32), first, last)
	case descIEC:
		// No interrupt entry cache: interrupt remapping is not offered.
	case descWait:
		// FN (fence) needs nothing: descriptors complete in order.
		if d.lo&waitSW != 0 {
			if err := u.mem.Store32(d.hi&^3, uint32(d.lo>>32)); err != nil {
				return iqeiFetch
			}
		}
		if d.lo&waitIF != 0 {
			u.completionEventLocked()
		}
	}
	return 0
}
