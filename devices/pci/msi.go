package pci

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync"

	"github.com/govmm/govmm/devices/irq"
)

// MSI capability register offsets from the capability start and Message
// Control bits (PCI Local Bus Specification 3.0 §6.8.1, 64-bit layout with
// optional per-vector masking).
const (
	MSIControl      = 0x02   // [2] Message Control
	MSIAddressLo    = 0x04   // [4] Message Address, bits 1:0 hardwired to 0
	MSIAddressHi    = 0x08   // [4] Message Upper Address
	MSIData         = 0x0c   // [2] Message Data
	MSIMask         = 0x10   // [4] Mask Bits (per-vector masking only)
	MSIPending      = 0x14   // [4] Pending Bits (per-vector masking only), read-only
	MSIEnable       = 1 << 0 // MSI Enable
	MSIMMCShift     = 1      // Multiple Message Capable, bits 3:1, log2(vectors)
	MSIMMEShift     = 4      // Multiple Message Enable, bits 6:4, log2(allocated)
	MSI64Bit        = 1 << 7 // 64 Bit Address Capable
	MSIPerVectorMsk = 1 << 8 // Per-Vector Masking Capable
	msiSizeNoMask   = 0x10   // 0x0E bytes, padded to a DWORD
	msiSizeMask     = 0x18
	msiMaxVectors   = 32
)

// MSIConfig describes an MSI capability.
type MSIConfig struct {
	// Vectors is the number of vectors the function requests (Multiple
	// Message Capable): 1, 2, 4, 8, 16 or 32. 0 means 1.
	Vectors int
	// PerVectorMask adds the Mask Bits and Pending Bits registers.
	PerVectorMask bool
}

// MSI is a function's MSI capability (PCI Local Bus Specification 3.0
// §6.8.1) with 64-bit addresses. Its registers live in the ConfigSpace;
// the guest programs them through configuration writes and the device
// raises vectors with Trigger, which sends irq.MSI{Addr, Data, DevID}
// through the irq.MSISender (the VMM's, which injects it through KVM).
//
// A Trigger of a masked vector sets its Pending bit instead; the message is
// sent when the guest unmasks the vector (or re-enables MSI or bus
// mastering) while the bit is set. An MSI is safe for concurrent use.
type MSI struct {
	cs       *ConfigSpace
	off      int
	vectors  int
	maskable bool
	sender   irq.MSISender

	mu       sync.Mutex
	hook     VectorHook
	reported [msiMaxVectors]vectorState
}

// AddMSI adds an MSI capability to cs and returns it. Message Control,
// Message Address, Message Upper Address, Message Data and (with
// PerVectorMask) the Mask Bits of the requested vectors are
// guest-writable; everything else is read-only. It fails if Vectors is not
// a power of two up to 32, or if the capability does not fit (ErrNoSpace).
func AddMSI(cs *ConfigSpace, cfg MSIConfig, sender irq.MSISender) (*MSI, error) {
	n := cfg.Vectors
	if n == 0 {
		n = 1
	}
	if n < 0 || n > msiMaxVectors || n&(n-1) != 0 {
		return nil, fmt.Errorf("pci: MSI vector count %d is not a power of two in [1, 32]", cfg.Vectors)
	}
	if sender == nil {
		return nil, fmt.Errorf("pci: MSI needs an irq.MSISender")
	}
	size := msiSizeNoMask
	ctl := uint16(bits.TrailingZeros(uint(n)))<<MSIMMCShift | MSI64Bit
	if cfg.PerVectorMask {
		size = msiSizeMask
		ctl |= MSIPerVectorMsk
	}
	body := make([]byte, size-2)
	wm := make([]byte, size-2)
	le := binary.LittleEndian
	le.PutUint16(body[MSIControl-2:], ctl)
	le.PutUint16(wm[MSIControl-2:], MSIEnable|7<<MSIMMEShift)
	le.PutUint32(wm[MSIAddressLo-2:], 0xfffffffc)
	le.PutUint32(wm[MSIAddressHi-2:], 0xffffffff)
	le.PutUint16(wm[MSIData-2:], 0xffff)
	if cfg.PerVectorMask {
		le.PutUint32(wm[MSIMask-2:], uint32(uint64(1)<<n-1))
	}
	off, err := cs.AddCapability(CapIDMSI, body, wm)
	if err != nil {
		return nil, err
	}
	m := &MSI{cs: cs, off: off, vectors: n, maskable: cfg.PerVectorMask, sender: sender}
	cs.OnWrite(off, size, m.changed)
	cs.OnWrite(RegCommand, 2, m.changed)
	return m, nil
}

// Offset returns the capability's offset in configuration space.
func (m *MSI) Offset() int { return m.off }

// Vectors returns the number of vectors the capability offers.
func (m *MSI) Vectors() int { return m.vectors }

// msiRegs is a consistent snapshot of the capability's registers.
type msiRegs struct {
	ctl, cmd        uint16
	addr            uint64
	data            uint16
	mask, pending   uint32
	enabled, master bool
	allocated       int
}

func (m *MSI) regs() msiRegs {
	c := m.cs
	c.mu.RLock()
	d := c.data[m.off:]
	le := binary.LittleEndian
	r := msiRegs{
		ctl:  le.Uint16(d[MSIControl:]),
		cmd:  le.Uint16(c.data[RegCommand:]),
		addr: uint64(le.Uint32(d[MSIAddressLo:])) | uint64(le.Uint32(d[MSIAddressHi:]))<<32,
		data: le.Uint16(d[MSIData:]),
	}
	if m.maskable {
		r.mask = le.Uint32(d[MSIMask:])
		r.pending = le.Uint32(d[MSIPending:])
	}
	c.mu.RUnlock()
	r.enabled = r.ctl&MSIEnable != 0
	r.master = r.cmd&CmdBusMaster != 0
	mme := int(r.ctl>>MSIMMEShift) & 7
	if mmc := bits.TrailingZeros(uint(m.vectors)); mme > mmc {
		mme = mmc // software must not allocate more than requested
	}
	r.allocated = 1 << mme
	return r
}

// message returns the message vector v sends given r, and whether it is
// (effectively) masked.
func (m *MSI) message(r msiRegs, v int) (irq.MSI, bool) {
	data := uint32(r.data)&^uint32(r.allocated-1) | uint32(v)
	msg := irq.MSI{Addr: r.addr, Data: data, DevID: uint32(m.cs.RequesterID())}
	return msg, !r.enabled || v >= r.allocated || r.mask&(1<<v) != 0
}

// Message returns the message vector v would send now and whether it is
// masked (see VectorHook). An out-of-range vector is reported masked.
func (m *MSI) Message(v int) (irq.MSI, bool) {
	if v < 0 || v >= m.vectors {
		return irq.MSI{}, true
	}
	return m.message(m.regs(), v)
}

// Trigger raises vector v (0 ≤ v < the allocated count). It sends the
// message at once if MSI is enabled and the vector unmasked; if the vector
// is masked it sets the vector's Pending bit and returns nil. It returns
// ErrDisabled if MSI is disabled or v is not allocated, ErrBusMaster if
// bus mastering is off, an error naming v if it is out of range, or the
// sender's error.
func (m *MSI) Trigger(v int) error {
	if v < 0 || v >= m.vectors {
		return fmt.Errorf("pci: MSI vector %d out of range [0, %d)", v, m.vectors)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.regs()
	if !r.enabled {
		return ErrDisabled
	}
	if v >= r.allocated {
		return fmt.Errorf("%w: MSI vector %d, %d allocated", ErrDisabled, v, r.allocated)
	}
	msg, masked := m.message(r, v)
	if masked {
		m.cs.update32(m.off+MSIPending, func(p uint32) uint32 { return p | 1<<v })
		return nil
	}
	if !r.master {
		return ErrBusMaster
	}
	return m.sender.SendMSI(msg)
}

// Pending reports whether vector v's Pending bit is set.
func (m *MSI) Pending(v int) bool {
	if !m.maskable || v < 0 || v >= m.vectors {
		return false
	}
	return m.cs.Uint32(m.off+MSIPending)&(1<<v) != 0
}

// SetVectorHook installs fn (nil removes it) and calls it at once for
// every vector with its current state, then again on every change.
func (m *MSI) SetVectorHook(fn VectorHook) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hook = fn
	m.reported = [msiMaxVectors]vectorState{}
	r := m.regs()
	reportChanges(m.hook, m.reported[:], 0, m.vectors, func(v int) (irq.MSI, bool) { return m.message(r, v) })
}

// changed runs after a guest write to the capability or to Command: it
// reports vector changes and delivers pending vectors that became
// deliverable. Send errors are dropped: there is nobody to return them to.
func (m *MSI) changed(int, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.regs()
	reportChanges(m.hook, m.reported[:], 0, m.vectors, func(v int) (irq.MSI, bool) { return m.message(r, v) })
	if r.pending == 0 || !r.master {
		return
	}
	for v := 0; v < m.vectors; v++ {
		if r.pending&(1<<v) == 0 {
			continue
		}
		msg, masked := m.message(r, v)
		if masked {
			continue
		}
		m.cs.update32(m.off+MSIPending, func(p uint32) uint32 { return p &^ (1 << v) })
		_ = m.sender.SendMSI(msg)
	}
}
