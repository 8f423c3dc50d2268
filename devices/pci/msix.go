package pci

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/govmm/govmm/devices/irq"
)

// MSI-X capability register offsets from the capability start, Message
// Control bits, and table entry layout (PCI Local Bus Specification 3.0
// §6.8.2).
const (
	MSIXControl       = 0x02    // [2] Message Control
	MSIXTable         = 0x04    // [4] Table Offset (bits 31:3) | Table BIR (bits 2:0)
	MSIXPBA           = 0x08    // [4] PBA Offset (bits 31:3) | PBA BIR (bits 2:0)
	MSIXEnable        = 1 << 15 // MSI-X Enable
	MSIXFunctionMask  = 1 << 14 // Function Mask: every vector masked
	MSIXTableSizeMask = 0x7ff   // Table Size field: vectors - 1
	MSIXEntrySize     = 16      // bytes per table entry
	MSIXEntryAddrLo   = 0x0     // [4] Message Address, bits 1:0 hardwired to 0
	MSIXEntryAddrHi   = 0x4     // [4] Message Upper Address
	MSIXEntryData     = 0x8     // [4] Message Data
	MSIXEntryCtrl     = 0xc     // [4] Vector Control; bit 0 Mask Bit
	MSIXMaxVectors    = 2048    // the 11-bit Table Size field's limit
	msixCapSize       = 12
)

// MSIXConfig places an MSI-X capability's table and Pending Bit Array
// (PBA) in the function's memory BARs.
type MSIXConfig struct {
	Vectors     int    // 1–2048
	TableBAR    int    // BAR (0–5) holding the table; must be a memory BAR already declared
	TableOffset uint32 // offset of the table in that BAR, 8-byte aligned
	PBABAR      int    // BAR holding the PBA; may be TableBAR
	PBAOffset   uint32 // offset of the PBA in that BAR, 8-byte aligned
}

// TableSize returns the table's size in bytes, 16 per vector.
func (c MSIXConfig) TableSize() uint64 { return uint64(c.Vectors) * MSIXEntrySize }

// PBASize returns the PBA's size in bytes: one bit per vector, in QWORDs.
func (c MSIXConfig) PBASize() uint64 { return uint64(c.Vectors+63) / 64 * 8 }

// MSIX is a function's MSI-X capability (PCI Local Bus Specification 3.0
// §6.8.2). Message Control (MSI-X Enable, Function Mask) lives in the
// ConfigSpace; the vector table and the PBA live in BAR memory, which the
// device's BAR handler passes to ReadBAR and WriteBAR.
//
// Trigger sends vector v's message through the irq.MSISender when MSI-X is
// enabled and neither the function nor the vector is masked. A Trigger of
// a masked vector sets its pending bit; the message is sent, and the bit
// cleared, when the vector becomes unmasked (or bus mastering is turned
// on) while the bit is set. Vectors start masked with a zero message.
// An MSIX is safe for concurrent use.
type MSIX struct {
	cs     *ConfigSpace
	off    int
	cfg    MSIXConfig
	sender irq.MSISender

	mu       sync.Mutex
	table    []byte   // cfg.Vectors entries of 16 bytes
	pending  []uint64 // the PBA, one bit per vector
	hook     VectorHook
	reported []vectorState
}

// AddMSIX adds an MSI-X capability to cs, with the table and PBA where cfg
// says. Only MSI-X Enable and Function Mask are guest-writable in config
// space. It fails if Vectors is outside [1, 2048], a BAR is not a declared
// memory BAR, an offset is not 8-byte aligned, the table or the PBA does
// not fit in its BAR, they overlap, or the capability does not fit
// (ErrNoSpace).
func AddMSIX(cs *ConfigSpace, cfg MSIXConfig, sender irq.MSISender) (*MSIX, error) {
	if cfg.Vectors < 1 || cfg.Vectors > MSIXMaxVectors {
		return nil, fmt.Errorf("pci: MSI-X vector count %d is outside [1, %d]", cfg.Vectors, MSIXMaxVectors)
	}
	if sender == nil {
		return nil, fmt.Errorf("pci: MSI-X needs an irq.MSISender")
	}
	if err := cfg.checkRegion(cs, "table", cfg.TableBAR, cfg.TableOffset, cfg.TableSize()); err != nil {
		return nil, err
	}
	if err := cfg.checkRegion(cs, "PBA", cfg.PBABAR, cfg.PBAOffset, cfg.PBASize()); err != nil {
		return nil, err
	}
	if cfg.TableBAR == cfg.PBABAR {
		t, p := uint64(cfg.TableOffset), uint64(cfg.PBAOffset)
		if t < p+cfg.PBASize() && p < t+cfg.TableSize() {
			return nil, fmt.Errorf("pci: MSI-X table [%#x, +%#x) and PBA [%#x, +%#x) overlap in BAR %d", t, cfg.TableSize(), p, cfg.PBASize(), cfg.TableBAR)
		}
	}
	body := make([]byte, msixCapSize-2)
	wm := make([]byte, msixCapSize-2)
	le := binary.LittleEndian
	le.PutUint16(body[MSIXControl-2:], uint16(cfg.Vectors-1))
	le.PutUint16(wm[MSIXControl-2:], MSIXEnable|MSIXFunctionMask)
	le.PutUint32(body[MSIXTable-2:], cfg.TableOffset|uint32(cfg.TableBAR))
	le.PutUint32(body[MSIXPBA-2:], cfg.PBAOffset|uint32(cfg.PBABAR))
	off, err := cs.AddCapability(CapIDMSIX, body, wm)
	if err != nil {
		return nil, err
	}
	m := &MSIX{
		cs: cs, off: off, cfg: cfg, sender: sender,
		table:    make([]byte, cfg.TableSize()),
		pending:  make([]uint64, cfg.PBASize()/8),
		reported: make([]vectorState, cfg.Vectors),
	}
	for v := range cfg.Vectors {
		m.table[v*MSIXEntrySize+MSIXEntryCtrl] = 1 // Mask Bit set at reset
	}
	cs.OnWrite(off+MSIXControl, 2, m.controlChanged)
	cs.OnWrite(RegCommand, 2, m.controlChanged)
	return m, nil
}

func (c MSIXConfig) checkRegion(cs *ConfigSpace, what string, bar int, off uint32, size uint64) error {
	b, ok := cs.BAR(bar)
	if !ok || b.Type == BARIO {
		return fmt.Errorf("pci: MSI-X %s BAR %d is not a declared memory BAR", what, bar)
	}
	if off&7 != 0 {
		return fmt.Errorf("pci: MSI-X %s offset %#x is not 8-byte aligned", what, off)
	}
	if uint64(off)+size > b.Size {
		return fmt.Errorf("pci: MSI-X %s [%#x, +%#x) does not fit in BAR %d of %#x bytes", what, off, size, bar, b.Size)
	}
	return nil
}

// Offset returns the capability's offset in configuration space.
func (m *MSIX) Offset() int { return m.off }

// Layout returns where the table and the PBA are.
func (m *MSIX) Layout() MSIXConfig { return m.cfg }

// control returns MSI-X Enable, Function Mask and Bus Master Enable.
func (m *MSIX) control() (enabled, fmask, master bool) {
	ctl, cmd := m.cs.read16x2(m.off+MSIXControl, RegCommand)
	return ctl&MSIXEnable != 0, ctl&MSIXFunctionMask != 0, cmd&CmdBusMaster != 0
}

// entry returns vector v's message and its own Mask Bit; m.mu held.
func (m *MSIX) entry(v int) (irq.MSI, bool) {
	e := m.table[v*MSIXEntrySize:]
	le := binary.LittleEndian
	return irq.MSI{
		Addr:  uint64(le.Uint32(e[MSIXEntryAddrLo:])) | uint64(le.Uint32(e[MSIXEntryAddrHi:]))<<32,
		Data:  le.Uint32(e[MSIXEntryData:]),
		DevID: uint32(m.cs.RequesterID()),
	}, e[MSIXEntryCtrl]&1 != 0
}

// state returns vector v's message and effective mask; m.mu held.
func (m *MSIX) state(v int, enabled, fmask bool) (irq.MSI, bool) {
	msg, masked := m.entry(v)
	return msg, masked || fmask || !enabled
}

// Message returns the message vector v would send now and whether it is
// (effectively) masked; an out-of-range vector is reported masked.
func (m *MSIX) Message(v int) (irq.MSI, bool) {
	if v < 0 || v >= m.cfg.Vectors {
		return irq.MSI{}, true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	en, fm, _ := m.control()
	return m.state(v, en, fm)
}

// Pending reports whether vector v's pending bit is set.
func (m *MSIX) Pending(v int) bool {
	if v < 0 || v >= m.cfg.Vectors {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pending[v/64]&(1<<(v%64)) != 0
}

// Trigger raises vector v. It sends the message if MSI-X is enabled and
// the vector is unmasked; if the vector or the function is masked it sets
// the vector's pending bit and returns nil. It returns ErrDisabled if MSI-X
// is disabled, ErrBusMaster if bus mastering is off, an error naming v if
// it is out of range, or the sender's error.
func (m *MSIX) Trigger(v int) error {
	if v < 0 || v >= m.cfg.Vectors {
		return fmt.Errorf("pci: MSI-X vector %d out of range [0, %d)", v, m.cfg.Vectors)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	en, fm, master := m.control()
	if !en {
		return ErrDisabled
	}
	msg, masked := m.state(v, en, fm)
	if masked {
		m.pending[v/64] |= 1 << (v % 64)
		return nil
	}
	if !master {
		return ErrBusMaster
	}
	return m.sender.SendMSI(msg)
}

// SetVectorHook installs fn (nil removes it) and calls it at once for
// every vector with its current state, then again on every change of a
// vector's message or effective mask (table writes, MSI-X Enable, Function
// Mask).
func (m *MSIX) SetVectorHook(fn VectorHook) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hook = fn
	clear(m.reported)
	en, fm, _ := m.control()
	m.report(0, m.cfg.Vectors, en, fm)
}

func (m *MSIX) report(lo, hi int, en, fm bool) {
	reportChanges(m.hook, m.reported, lo, hi, func(v int) (irq.MSI, bool) { return m.state(v, en, fm) })
}

// deliver sends the pending vectors in [lo, hi) that are now unmasked and
// clears their bits; m.mu held. Send errors are dropped: there is nobody
// to return them to.
func (m *MSIX) deliver(lo, hi int, en, fm, master bool) {
	if !en || fm || !master {
		return
	}
	for v := lo; v < hi; v++ {
		w, bit := v/64, uint64(1)<<(v%64)
		if m.pending[w]&bit == 0 {
			if m.pending[w] == 0 {
				v |= 63 // skip the rest of an empty word
			}
			continue
		}
		if msg, masked := m.state(v, en, fm); !masked {
			m.pending[w] &^= bit
			_ = m.sender.SendMSI(msg)
		}
	}
}

// controlChanged runs after a guest write to Message Control or Command.
func (m *MSIX) controlChanged(int, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	en, fm, master := m.control()
	m.report(0, m.cfg.Vectors, en, fm)
	m.deliver(0, m.cfg.Vectors, en, fm, master)
}

// region returns which region of the BAR off falls in and its offset
// there: 1 for the table, 2 for the PBA, 0 for neither.
func (m *MSIX) region(bar int, off uint64) (int, uint64) {
	if bar == m.cfg.TableBAR && off >= uint64(m.cfg.TableOffset) && off-uint64(m.cfg.TableOffset) < m.cfg.TableSize() {
		return 1, off - uint64(m.cfg.TableOffset)
	}
	if bar == m.cfg.PBABAR && off >= uint64(m.cfg.PBAOffset) && off-uint64(m.cfg.PBAOffset) < m.cfg.PBASize() {
		return 2, off - uint64(m.cfg.PBAOffset)
	}
	return 0, 0
}

// ReadBAR serves a guest read of len(data) bytes at offset off of BAR bar
// if off lies in the MSI-X table or PBA, and reports whether it did. The
// table and PBA are byte-addressable; bytes of the access past the end of
// the region read as 0. Software is expected to use aligned DWORD or
// QWORD accesses (§6.8.2).
func (m *MSIX) ReadBAR(bar int, off uint64, data []byte) bool {
	r, o := m.region(bar, off)
	if r == 0 {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range data {
		data[i] = 0
		p := o + uint64(i)
		switch {
		case r == 1 && p < uint64(len(m.table)):
			data[i] = m.table[p]
		case r == 2 && p < uint64(len(m.pending))*8:
			data[i] = uint8(m.pending[p/8] >> (8 * (p % 8)))
		}
	}
	return true
}

// WriteBAR serves a guest write at offset off of BAR bar if off lies in
// the MSI-X table or PBA, and reports whether it did. In a table entry the
// Message Address (bits 1:0 read-only zero), Upper Address and Data are
// writable and of Vector Control only the Mask Bit; the PBA is read-only.
// A write that unmasks a pending vector delivers it.
func (m *MSIX) WriteBAR(bar int, off uint64, data []byte) bool {
	r, o := m.region(bar, off)
	if r == 0 {
		return false
	}
	if r == 2 {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	end := o
	for i, b := range data {
		p := o + uint64(i)
		if p >= uint64(len(m.table)) {
			break
		}
		switch p % MSIXEntrySize {
		case MSIXEntryAddrLo:
			b &^= 3
		case MSIXEntryCtrl:
			b &= 1
		case MSIXEntryCtrl + 1, MSIXEntryCtrl + 2, MSIXEntryCtrl + 3:
			b = 0
		}
		m.table[p] = b
		end = p + 1
	}
	if end == o {
		return true
	}
	lo, hi := int(o/MSIXEntrySize), int((end-1)/MSIXEntrySize)+1
	en, fm, master := m.control()
	m.report(lo, hi, en, fm)
	m.deliver(lo, hi, en, fm, master)
	return true
}
