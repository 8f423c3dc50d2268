package pci

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
)

// ConfigSpace is one function's 4 KiB configuration space (PCI Express Base
// Specification §7.2, §7.5): the register bytes plus, for every byte, a mask
// of the bits the guest may write and a mask of the bits a guest write of 1
// clears (RW1C). Every other bit is read-only to the guest: a guest write
// to a read-only or unknown register changes nothing.
//
// A device model owns (or embeds) one ConfigSpace, built with
// NewConfigSpace, and describes itself through it: header identity, BARs
// (AddBAR), capabilities (AddCapability, AddExtendedCapability, AddMSI,
// AddMSIX, AddPCIExpress). The Segment reads the Command and BAR registers
// from it to decide what is decoded where.
//
// Two views of the bytes exist. ReadConfig and WriteConfig are the guest's
// view: writes go through the masks and run the write hooks (OnWrite);
// reads run the read hooks (OnRead) first. Uint8/Uint16/Uint32 and
// PutUint8/PutUint16/PutUint32 are the device's view: they see and change
// every bit, ignore the masks and run no hooks. All multi-byte registers are
// little-endian.
//
// A ConfigSpace is safe for concurrent use. It must not be copied after
// first use.
type ConfigSpace struct {
	mu    sync.RWMutex
	data  [ConfigSize]byte
	wmask [ConfigSize]byte // 1 = guest-writable bit
	w1c   [ConfigSize]byte // 1 = guest write of 1 clears the bit

	bars             [NumBARs]barDecl
	capLast, capNext int // standard capability list tail and next free offset
	extLast, extNext int // extended capability list tail and next free offset

	hookMu     sync.Mutex // serialises hook registration
	readHooks  atomic.Pointer[[]hook]
	writeHooks atomic.Pointer[[]hook]

	// loc is where the Segment placed the function: bit 32 set once placed,
	// bits 31:16 the segment number, bits 15:0 the requester ID.
	loc atomic.Uint64
}

type hook struct {
	off, end int
	fn       func(off, size int)
}

// NewConfigSpace returns a configuration space with a type 0 header
// carrying h, Command and Status at their reset values (all zero: no
// decode, no bus mastering), no BARs and no capabilities.
//
// Guest-writable from the start: the Command bits listed by the Cmd*
// constants, the Status error bits (RW1C), Cache Line Size and Interrupt
// Line. It fails if h's vendor ID is 0xFFFF, its class code is wider than
// 24 bits, or its interrupt pin is above 4.
func NewConfigSpace(h Header) (*ConfigSpace, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	return newConfigSpace(h), nil
}

func newConfigSpace(h Header) *ConfigSpace {
	c := &ConfigSpace{capNext: firstStandardCapSlot, extNext: firstExtendedCapSlot}
	c.initHeader(h)
	return c
}

func (c *ConfigSpace) initHeader(h Header) {
	le := binary.LittleEndian
	le.PutUint16(c.data[RegVendorID:], h.VendorID)
	le.PutUint16(c.data[RegDeviceID:], h.DeviceID)
	c.data[RegRevisionID] = h.RevisionID
	c.data[RegClassCode] = uint8(h.Class)
	c.data[RegClassCode+1] = uint8(h.Class >> 8)
	c.data[RegClassCode+2] = uint8(h.Class >> 16)
	le.PutUint16(c.data[RegSubsystemVendorID:], h.SubsystemVendorID)
	le.PutUint16(c.data[RegSubsystemID:], h.SubsystemID)
	c.data[RegInterruptPin] = h.InterruptPin
	le.PutUint16(c.wmask[RegCommand:], cmdWritable)
	le.PutUint16(c.w1c[RegStatus:], statusW1C)
	c.wmask[RegCacheLineSize] = 0xff
	c.wmask[RegInterruptLine] = 0xff
}

// Config returns c itself, so that a *ConfigSpace (and any type embedding
// one) satisfies Device.
func (c *ConfigSpace) Config() *ConfigSpace { return c }

// inRange reports whether [off, off+n) is a non-empty range inside
// configuration space.
func inRange(off, n int) bool {
	return off >= 0 && n > 0 && n <= ConfigSize && off <= ConfigSize-n
}

// ReadConfig is a guest read of len(data) bytes at off. The read hooks
// whose range overlaps the access run first. A range not wholly inside the
// 4 KiB space reads as all ones.
func (c *ConfigSpace) ReadConfig(off int, data []byte) {
	if !inRange(off, len(data)) {
		fill(data, 0xff)
		return
	}
	runHooks(c.readHooks.Load(), off, len(data))
	c.mu.RLock()
	copy(data, c.data[off:])
	c.mu.RUnlock()
}

// WriteConfig is a guest write of data at off: each bit changes only if its
// writable mask bit is set, and a 1 written to a RW1C bit clears it. The
// write hooks whose range overlaps the access run afterwards, without any
// lock of c held. A range not wholly inside the 4 KiB space is ignored.
func (c *ConfigSpace) WriteConfig(off int, data []byte) {
	if !inRange(off, len(data)) {
		return
	}
	c.mu.Lock()
	for i, v := range data {
		j := off + i
		b := c.data[j]&^c.wmask[j] | v&c.wmask[j]
		c.data[j] = b &^ (v & c.w1c[j])
	}
	c.mu.Unlock()
	runHooks(c.writeHooks.Load(), off, len(data))
}

func runHooks(hs *[]hook, off, n int) {
	if hs == nil {
		return
	}
	for _, h := range *hs {
		if off < h.end && h.off < off+n {
			h.fn(off, n)
		}
	}
}

// OnRead registers fn to run before every guest read (ReadConfig) that
// overlaps [off, off+size); fn receives the access's offset and size and
// may refresh the registers with the Put methods. Use it for registers
// whose value is computed on demand (e.g. a window into a BAR).
func (c *ConfigSpace) OnRead(off, size int, fn func(off, size int)) {
	c.addHook(&c.readHooks, off, size, fn)
}

// OnWrite registers fn to run after every guest write (WriteConfig) that
// overlaps [off, off+size); fn receives the access's offset and size and
// reads the new register values with the Uint methods. Hooks run with no
// lock of c held and may use any method of c.
func (c *ConfigSpace) OnWrite(off, size int, fn func(off, size int)) {
	c.addHook(&c.writeHooks, off, size, fn)
}

func (c *ConfigSpace) addHook(p *atomic.Pointer[[]hook], off, size int, fn func(off, size int)) {
	if fn == nil || !inRange(off, size) {
		return
	}
	c.hookMu.Lock()
	defer c.hookMu.Unlock()
	var hs []hook
	if old := p.Load(); old != nil {
		hs = append(hs, *old...)
	}
	hs = append(hs, hook{off: off, end: off + size, fn: fn})
	p.Store(&hs)
}

// Uint8 returns the byte at off (device view). Out of range reads 0xFF.
func (c *ConfigSpace) Uint8(off int) uint8 {
	var b [1]byte
	c.get(off, b[:])
	return b[0]
}

// Uint16 returns the little-endian 16-bit register at off (device view).
// Out of range reads 0xFFFF.
func (c *ConfigSpace) Uint16(off int) uint16 {
	var b [2]byte
	c.get(off, b[:])
	return binary.LittleEndian.Uint16(b[:])
}

// Uint32 returns the little-endian 32-bit register at off (device view).
// Out of range reads 0xFFFFFFFF.
func (c *ConfigSpace) Uint32(off int) uint32 {
	var b [4]byte
	c.get(off, b[:])
	return binary.LittleEndian.Uint32(b[:])
}

// PutUint8 stores v at off (device view: masks ignored, no hooks run).
// Out of range is ignored.
func (c *ConfigSpace) PutUint8(off int, v uint8) { c.put(off, []byte{v}) }

// PutUint16 stores v little-endian at off (device view). Out of range is
// ignored.
func (c *ConfigSpace) PutUint16(off int, v uint16) {
	var b [2]byte
	binary.LittleEndian.PutUint16(b[:], v)
	c.put(off, b[:])
}

// PutUint32 stores v little-endian at off (device view). Out of range is
// ignored.
func (c *ConfigSpace) PutUint32(off int, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	c.put(off, b[:])
}

func (c *ConfigSpace) get(off int, b []byte) {
	if !inRange(off, len(b)) {
		fill(b, 0xff)
		return
	}
	c.mu.RLock()
	copy(b, c.data[off:])
	c.mu.RUnlock()
}

func (c *ConfigSpace) put(off int, b []byte) {
	if !inRange(off, len(b)) {
		return
	}
	c.mu.Lock()
	copy(c.data[off:], b)
	c.mu.Unlock()
}

// update applies fn to the 32-bit register at off under the write lock
// (device view) and returns the new value.
func (c *ConfigSpace) update32(off int, fn func(uint32) uint32) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := fn(binary.LittleEndian.Uint32(c.data[off:]))
	binary.LittleEndian.PutUint32(c.data[off:], v)
	return v
}

// SetWritable makes the bits set in mask of the size-byte register at off
// (size 1, 2 or 4) guest-writable and the other bits of that register
// read-only; those bits stop being RW1C. It fails on a bad size or a range
// outside configuration space.
func (c *ConfigSpace) SetWritable(off, size int, mask uint32) error {
	return c.setMask(off, size, mask, false)
}

// SetW1C makes the bits set in mask of the size-byte register at off (size
// 1, 2 or 4) write-1-to-clear and the other bits of that register not
// RW1C; those bits stop being plainly writable. It fails on a bad size or a
// range outside configuration space.
func (c *ConfigSpace) SetW1C(off, size int, mask uint32) error {
	return c.setMask(off, size, mask, true)
}

func (c *ConfigSpace) setMask(off, size int, mask uint32, w1c bool) error {
	if size != 1 && size != 2 && size != 4 {
		return fmt.Errorf("pci: register size %d is not 1, 2 or 4", size)
	}
	if !inRange(off, size) {
		return fmt.Errorf("pci: register [%#x, +%d) is outside configuration space", off, size)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range size {
		m := uint8(mask >> (8 * i))
		if w1c {
			c.w1c[off+i] = m
			c.wmask[off+i] &^= m
		} else {
			c.wmask[off+i] = m
			c.w1c[off+i] &^= m
		}
	}
	return nil
}

// Masks returns copies of the writable and RW1C masks of the size bytes at
// off (nil, nil if the range is outside configuration space).
func (c *ConfigSpace) Masks(off, size int) (writable, w1c []byte) {
	if !inRange(off, size) {
		return nil, nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([]byte(nil), c.wmask[off:off+size]...), append([]byte(nil), c.w1c[off:off+size]...)
}

// Bytes returns a copy of all 4096 register bytes (device view).
func (c *ConfigSpace) Bytes() []byte {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([]byte(nil), c.data[:]...)
}

// Command returns the Command register (see the Cmd* bits).
func (c *ConfigSpace) Command() uint16 { return c.Uint16(RegCommand) }

// Location reports where a Segment placed the function: its segment group
// number and BDF. ok is false until Segment.Add has placed it.
func (c *ConfigSpace) Location() (segment uint16, bdf BDF, ok bool) {
	v := c.loc.Load()
	if v&(1<<32) == 0 {
		return 0, BDF{}, false
	}
	return uint16(v >> 16), BDFFromRequesterID(uint16(v)), true
}

// RequesterID returns the function's requester ID, bus<<8 | devfn (the
// VT-d source-id and the DevID of its MSIs); 0 until Segment.Add places it.
func (c *ConfigSpace) RequesterID() uint16 { return uint16(c.loc.Load()) }

func (c *ConfigSpace) place(segment uint16, bdf BDF) bool {
	return c.loc.CompareAndSwap(0, 1<<32|uint64(segment)<<16|uint64(bdf.RequesterID()))
}

func (c *ConfigSpace) unplace() { c.loc.Store(0) }

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}

// update16 applies fn to the 16-bit register at off under the write lock
// (device view) and returns the new value.
func (c *ConfigSpace) update16(off int, fn func(uint16) uint16) uint16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := fn(binary.LittleEndian.Uint16(c.data[off:]))
	binary.LittleEndian.PutUint16(c.data[off:], v)
	return v
}

// read16x2 returns the 16-bit registers at a and b read under one lock.
func (c *ConfigSpace) read16x2(a, b int) (uint16, uint16) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return binary.LittleEndian.Uint16(c.data[a:]), binary.LittleEndian.Uint16(c.data[b:])
}
