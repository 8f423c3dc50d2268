package vtd

import (
	"fmt"
	"sync"

	"github.com/govmm/govmm/devices/irq"
	"github.com/govmm/govmm/dma"
)

// FaultReason is a DMA-remapping fault reason code, the FR field of a fault
// record (VT-d spec 7.1.3, "Fault conditions and remapping hardware behavior
// for legacy mode").
type FaultReason uint8

// Legacy-mode fault reasons (VT-d spec 7.1.3, conditions LRT, LCT, LSL, LGN).
const (
	FaultRootNotPresent      FaultReason = 0x1 // LRT.2: root entry P=0
	FaultContextNotPresent   FaultReason = 0x2 // LCT.2: context entry P=0
	FaultContextInvalid      FaultReason = 0x3 // LCT.4: invalid programming of a context entry (TT, AW)
	FaultAddressBeyondAW     FaultReason = 0x4 // LGN.1: input address above the domain's address width
	FaultWrite               FaultReason = 0x5 // LGN.2: write to a not-present or read-only translation
	FaultRead                FaultReason = 0x6 // LGN.3: read of a not-present or write-only translation
	FaultPagingEntryAccess   FaultReason = 0x7 // LSL.1: second-level entry outside guest RAM
	FaultRootTableAccess     FaultReason = 0x8 // LRT.1: root entry outside guest RAM
	FaultContextTableAccess  FaultReason = 0x9 // LCT.1: context entry outside guest RAM
	FaultRootReserved        FaultReason = 0xA // LRT.3: reserved bit set in a present root entry
	FaultContextReserved     FaultReason = 0xB // LCT.3: reserved bit set in a present context entry
	FaultPagingEntryReserved FaultReason = 0xC // LSL.2: reserved bit set in a present second-level entry
	FaultTranslationType     FaultReason = 0xD // LCT.5: request blocked by the context entry's TT
	FaultInterruptAddress    FaultReason = 0xE // LGN.4: DMA to or from the interrupt address range
)

var faultNames = map[FaultReason]string{
	FaultRootNotPresent:      "root entry not present",
	FaultContextNotPresent:   "context entry not present",
	FaultContextInvalid:      "invalid context entry",
	FaultAddressBeyondAW:     "address beyond the address width",
	FaultWrite:               "write not permitted",
	FaultRead:                "read not permitted",
	FaultPagingEntryAccess:   "second-level entry outside guest RAM",
	FaultRootTableAccess:     "root entry outside guest RAM",
	FaultContextTableAccess:  "context entry outside guest RAM",
	FaultRootReserved:        "reserved bit in root entry",
	FaultContextReserved:     "reserved bit in context entry",
	FaultPagingEntryReserved: "reserved bit in second-level entry",
	FaultTranslationType:     "blocked by translation type",
	FaultInterruptAddress:    "interrupt address range",
}

// String returns the reason's description, e.g. "write not permitted".
func (r FaultReason) String() string {
	if s, ok := faultNames[r]; ok {
		return s
	}
	return fmt.Sprintf("fault reason %#x", uint8(r))
}

// qualified reports whether the fault is "qualified": suppressed when the
// context entry used for the request has FPD=1 (VT-d spec 7.1.3, the
// "Qualified" column).
func (r FaultReason) qualified() bool {
	switch r {
	case FaultContextNotPresent, FaultContextInvalid, FaultAddressBeyondAW,
		FaultWrite, FaultRead, FaultPagingEntryAccess, FaultPagingEntryReserved,
		FaultTranslationType, FaultInterruptAddress:
		return true
	}
	return false
}

// FaultRecord describes one translation fault, as passed to the hook set
// with Unit.SetFaultHook. Every fault a device sees is reported, including
// those the unit did not log in an FRCD register.
type FaultRecord struct {
	SID    uint16      // requester: bus<<8 | devfn
	Addr   uint64      // faulting IOVA (the FRCD FI field holds Addr with bits 11:0 clear)
	Reason FaultReason // FRCD FR field
	Access dma.Access  // dma.Write sets FRCD T=0, dma.Read T=1
	// Suppressed is set when the context entry's FPD bit suppressed a
	// qualified fault: nothing was logged.
	Suppressed bool
	// Logged is set when the fault was written to an FRCD register; a fault
	// that is neither Suppressed nor Logged was dropped because FSTS.PFO was
	// set or the next record was still pending (which sets PFO).
	Logged bool
}

// String formats the record like Linux's DMAR fault message.
func (f FaultRecord) String() string {
	return fmt.Sprintf("DMAR %s [%02x:%02x.%d] fault addr %#x reason %#02x (%s)",
		f.Access, f.SID>>8, (f.SID>>3)&0x1f, f.SID&7, f.Addr, uint8(f.Reason), f.Reason)
}

// FSTS and FECTL bits (VT-d spec 10.4.9, 10.4.10).
const (
	fstsPFO    = 1 << 0
	fstsPPF    = 1 << 1
	fstsIQE    = 1 << 4
	fstsICE    = 1 << 5
	fstsITE    = 1 << 6
	fstsFRISh  = 8
	fstsFRI    = 0xff << fstsFRISh
	fstsW1C    = fstsPFO | fstsIQE | fstsICE | fstsITE
	fectlIM    = 1 << 31
	fectlIP    = 1 << 30
	frcdF      = 1 << 63
	frcdT      = 1 << 62
	frcdFRSh   = 32
	feDataMask = 0xffff
	feAddrMask = 0xfffffffc
)

// faultUnit holds the fault-reporting registers: FSTS, FECTL, FEDATA,
// FEADDR, FEUADDR and the FRCD ring (VT-d spec 7.3 primary fault logging,
// 7.4 fault event interrupts). It has its own lock so device goroutines can
// record faults without waiting for a vCPU that holds the unit's lock.
type faultUnit struct {
	mu      sync.Mutex
	fsts    uint32 // PFO, IQE, ICE, ITE, FRI; PPF is derived from the records
	fectl   uint32 // IM, IP
	fedata  uint32
	feaddr  uint32
	feuaddr uint32
	rec     [NumFaultRecords][2]uint64
	next    int // index of the record the next fault goes to
	msi     irq.MSISender
	onErr   func(error)
}

func (f *faultUnit) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fsts, f.fectl, f.fedata, f.feaddr, f.feuaddr = 0, fectlIM, 0, 0, 0
	f.rec = [NumFaultRecords][2]uint64{}
	f.next = 0
}

// isFaultReg reports whether off (4-byte aligned) belongs to this group.
func isFaultReg(off uint64) bool {
	switch {
	case off >= RegFSTS && off <= RegFEUADDR:
		return true
	case off >= RegFRCD && off < RegFRCD+NumFaultRecords*16:
		return true
	}
	return false
}

// fstsLocked returns FSTS as software reads it: PPF is set while any record
// has F=1.
func (f *faultUnit) fstsLocked() uint32 {
	v := f.fsts
	for i := range f.rec {
		if f.rec[i][1]&frcdF != 0 {
			v |= fstsPPF
			break
		}
	}
	return v
}

// conditionLocked reports whether an interrupt condition is pending: any of
// PFO, PPF, IQE, ICE, ITE.
func (f *faultUnit) conditionLocked() bool {
	return f.fstsLocked()&(fstsPFO|fstsPPF|fstsIQE|fstsICE|fstsITE) != 0
}

func (f *faultUnit) read32(off uint64) uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch off {
	case RegFSTS:
		return f.fstsLocked()
	case RegFECTL:
		return f.fectl
	case RegFEDATA:
		return f.fedata
	case RegFEADDR:
		return f.feaddr
	case RegFEUADDR:
		return f.feuaddr
	}
	if off >= RegFRCD && off < RegFRCD+NumFaultRecords*16 {
		r := (off - RegFRCD) / 16
		q := (off - RegFRCD) % 16 / 8
		v := f.rec[r][q]
		if off%8 != 0 {
			return uint32(v >> 32)
		}
		return uint32(v)
	}
	return 0
}

// write32 applies a guest write. It returns true when the write cleared
// FSTS.IQE, so the caller can let the invalidation queue resume.
func (f *faultUnit) write32(off uint64, v uint32) (iqeCleared bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch off {
	case RegFSTS:
		iqeCleared = f.fsts&fstsIQE != 0 && v&fstsIQE != 0
		f.fsts &^= v & fstsW1C
		f.settleLocked()
	case RegFECTL:
		f.fectl = f.fectl&^fectlIM | v&fectlIM
		if f.fectl&fectlIM == 0 && f.fectl&fectlIP != 0 {
			f.sendLocked()
		}
	case RegFEDATA:
		f.fedata = v & feDataMask
	case RegFEADDR:
		f.feaddr = v & feAddrMask
	case RegFEUADDR:
		f.feuaddr = v
	default:
		// FRCD: only F (bit 127, bit 31 of the record's last dword) is
		// writable, and it is RW1C.
		if off >= RegFRCD && off < RegFRCD+NumFaultRecords*16 && (off-RegFRCD)%16 == 12 {
			r := (off - RegFRCD) / 16
			if v&(1<<31) != 0 {
				f.rec[r][1] &^= frcdF
				f.settleLocked()
			}
		}
	}
	return iqeCleared
}

// settleLocked clears FECTL.IP once software has serviced every interrupt
// condition (VT-d spec 10.4.10, IP field).
func (f *faultUnit) settleLocked() {
	if !f.conditionLocked() {
		f.fectl &^= fectlIP
	}
}

// raiseLocked generates a fault event for a condition that just appeared,
// unless one was already pending (before reports conditionLocked before the
// change): IP is set, and unless IM masks it the MSI is sent and IP
// cleared.
func (f *faultUnit) raiseLocked(before bool) {
	if before {
		return
	}
	f.fectl |= fectlIP
	if f.fectl&fectlIM == 0 {
		f.sendLocked()
	}
}

func (f *faultUnit) sendLocked() {
	f.fectl &^= fectlIP
	if f.msi == nil {
		return
	}
	m := irq.MSI{Addr: uint64(f.feuaddr)<<32 | uint64(f.feaddr), Data: f.fedata, DevID: unitRequesterID}
	if err := f.msi.SendMSI(m); err != nil && f.onErr != nil {
		f.onErr(fmt.Errorf("vtd: fault event MSI to %#x: %w", m.Addr, err))
	}
}

// record logs a primary fault (VT-d spec 7.3.1): dropped if PFO is set;
// sets PFO and drops it if the next record is still pending; otherwise
// writes the record, points FRI at it if it is the only pending one, and
// raises a fault event. It reports whether the fault was logged.
func (f *faultUnit) record(sid uint16, addr uint64, reason FaultReason, acc dma.Access) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	before := f.conditionLocked()
	if f.fsts&fstsPFO != 0 {
		return false
	}
	if f.rec[f.next][1]&frcdF != 0 {
		f.fsts |= fstsPFO
		f.raiseLocked(before)
		return false
	}
	hadPending := f.fstsLocked()&fstsPPF != 0
	hi := uint64(sid) | uint64(reason)<<frcdFRSh | frcdF
	if acc&dma.Write == 0 {
		hi |= frcdT // T=1: read request
	}
	f.rec[f.next] = [2]uint64{addr &^ 0xfff, hi}
	if !hadPending {
		f.fsts = f.fsts&^fstsFRI | uint32(f.next)<<fstsFRISh
	}
	f.next = (f.next + 1) % NumFaultRecords
	f.raiseLocked(before)
	return true
}

// setIQE sets FSTS.IQE (invalidation queue error) and raises a fault event.
func (f *faultUnit) setIQE() {
	f.mu.Lock()
	defer f.mu.Unlock()
	before := f.conditionLocked()
	f.fsts |= fstsIQE
	f.raiseLocked(before)
}

// iqe reports whether FSTS.IQE is set (the invalidation queue is halted).
func (f *faultUnit) iqe() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fsts&fstsIQE != 0
}
