package pci

import (
	"encoding/binary"
	"fmt"

	"github.com/govmm/govmm/devices/bus"
)

// BARType is the kind of address range a Base Address Register requests
// (PCI Local Bus Specification 3.0 §6.2.5.1).
type BARType uint8

// BAR types. The zero BARType means "no BAR".
const (
	BARIO    BARType = iota + 1 // I/O space; register bit 0 = 1
	BARMem32                    // 32-bit memory space; bits 2:1 = 00
	BARMem64                    // 64-bit memory space, two registers; bits 2:1 = 10
)

// String returns "io", "mem32" or "mem64".
func (t BARType) String() string {
	switch t {
	case BARIO:
		return "io"
	case BARMem32:
		return "mem32"
	case BARMem64:
		return "mem64"
	}
	return fmt.Sprintf("BARType(%d)", uint8(t))
}

// Size limits of BARs. An I/O BAR requests 4–256 bytes (PCI Local Bus
// Specification 3.0 §6.2.5.1: no more than 256 bytes per I/O BAR); a
// memory BAR at least 16 bytes, and at least 4 KiB is recommended so that
// no two functions share a page. A 32-bit memory BAR is at most 2 GiB.
const (
	MinIOBARSize     = 4
	MaxIOBARSize     = 256
	MinMemBARSize    = 16
	MaxMem32BARSize  = 1 << 31
	MaxMem64BARSize  = 1 << 63
	ioSpaceLimit     = 1 << 16 // x86 port space; I/O BARs decode 16 address bits
	barIOFlag        = 0x1
	barMem64Flag     = 0x4
	barPrefetchFlag  = 0x8
	barIOAddrMask    = 0xfffc
	barMemAddrMask   = 0xfffffff0
	barMem32AddrMask = uint64(barMemAddrMask)
)

// BAR declares one Base Address Register: the range it requests and the
// handler that serves guest accesses to it once it is mapped. Handler
// receives offsets relative to the start of the BAR (0 … Size-1).
type BAR struct {
	Type         BARType
	Size         uint64 // bytes; a power of two within the limits above
	Prefetchable bool   // memory BARs only: register bit 3
	Handler      bus.Handler
}

type barDecl struct {
	BAR
	upper bool // this register is the upper half of the 64-bit BAR below it
}

// AddBAR declares BAR index (0–5; a BARMem64 takes index and index+1, so
// index ≤ 4) and sets up its register for the sizing protocol: the type
// bits are read-only, the address bits below Size are hardwired to zero and
// the ones above are guest-writable, so a guest that writes all ones reads
// back ^(Size-1) with the type bits (PCI Local Bus Specification 3.0
// §6.2.5.1). I/O BARs decode 16 address bits (the x86 port space); the
// upper 16 bits of their register are hardwired to zero.
//
// The BAR starts at address 0; Segment.Add assigns it an address from the
// segment's windows. It fails if the index (or its upper half) is taken,
// the type is unknown, Size is not a power of two within the limits,
// an I/O BAR is marked prefetchable, or Handler is nil.
func (c *ConfigSpace) AddBAR(index int, b BAR) error {
	if err := b.validate(index); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bars[index].Type != 0 || c.bars[index].upper || (b.Type == BARMem64 && (c.bars[index+1].Type != 0 || c.bars[index+1].upper)) {
		return fmt.Errorf("pci: BAR %d is already declared", index)
	}
	c.bars[index] = barDecl{BAR: b}
	reg := RegBAR0 + 4*index
	le := binary.LittleEndian
	inv := ^(b.Size - 1)
	switch b.Type {
	case BARIO:
		le.PutUint32(c.data[reg:], barIOFlag)
		le.PutUint32(c.wmask[reg:], uint32(inv)&barIOAddrMask)
	case BARMem32:
		le.PutUint32(c.data[reg:], b.flags())
		le.PutUint32(c.wmask[reg:], uint32(inv)&barMemAddrMask)
	case BARMem64:
		c.bars[index+1] = barDecl{upper: true}
		le.PutUint32(c.data[reg:], b.flags())
		le.PutUint32(c.wmask[reg:], uint32(inv)&barMemAddrMask)
		le.PutUint32(c.data[reg+4:], 0)
		le.PutUint32(c.wmask[reg+4:], uint32(inv>>32))
	}
	return nil
}

func (b BAR) flags() uint32 {
	var f uint32
	switch b.Type {
	case BARIO:
		return barIOFlag
	case BARMem64:
		f = barMem64Flag
	}
	if b.Prefetchable {
		f |= barPrefetchFlag
	}
	return f
}

func (b BAR) validate(index int) error {
	if index < 0 || index >= NumBARs || (b.Type == BARMem64 && index == NumBARs-1) {
		return fmt.Errorf("pci: BAR index %d out of range for a %v BAR", index, b.Type)
	}
	if b.Handler == nil {
		return fmt.Errorf("pci: BAR %d has no handler", index)
	}
	if b.Size&(b.Size-1) != 0 {
		return fmt.Errorf("pci: BAR %d size %#x is not a power of two", index, b.Size)
	}
	var lo, hi uint64
	switch b.Type {
	case BARIO:
		if b.Prefetchable {
			return fmt.Errorf("pci: I/O BAR %d cannot be prefetchable", index)
		}
		lo, hi = MinIOBARSize, MaxIOBARSize
	case BARMem32:
		lo, hi = MinMemBARSize, MaxMem32BARSize
	case BARMem64:
		lo, hi = MinMemBARSize, MaxMem64BARSize
	default:
		return fmt.Errorf("pci: BAR %d has unknown type %v", index, b.Type)
	}
	if b.Size < lo || b.Size > hi {
		return fmt.Errorf("pci: %v BAR %d size %#x is outside [%#x, %#x]", b.Type, index, b.Size, lo, hi)
	}
	return nil
}

// BAR returns the declaration of BAR index; ok is false if none was
// declared there (including the upper half of a 64-bit BAR).
func (c *ConfigSpace) BAR(index int) (b BAR, ok bool) {
	if index < 0 || index >= NumBARs {
		return BAR{}, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	d := c.bars[index]
	return d.BAR, d.Type != 0
}

// BARAddress returns the address currently programmed in BAR index (both
// registers of a 64-bit BAR, type bits stripped), whether or not decode is
// enabled; 0 for an undeclared BAR.
func (c *ConfigSpace) BARAddress(index int) uint64 {
	if index < 0 || index >= NumBARs {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.barAddressLocked(index)
}

func (c *ConfigSpace) barAddressLocked(index int) uint64 {
	reg := RegBAR0 + 4*index
	lo := uint64(binary.LittleEndian.Uint32(c.data[reg:]))
	switch c.bars[index].Type {
	case BARIO:
		return lo & barIOAddrMask
	case BARMem32:
		return lo & barMem32AddrMask
	case BARMem64:
		return lo&barMem32AddrMask | uint64(binary.LittleEndian.Uint32(c.data[reg+4:]))<<32
	}
	return 0
}

// SetBARAddress programs addr into BAR index (device view: no hooks, no
// remapping; Segment.Add uses it for the initial assignment). addr must be
// aligned to the BAR's size and the range must fit the BAR's address space
// (64 KiB for I/O, 4 GiB for a 32-bit memory BAR).
func (c *ConfigSpace) SetBARAddress(index int, addr uint64) error {
	b, ok := c.BAR(index)
	if !ok {
		return fmt.Errorf("pci: BAR %d is not declared", index)
	}
	if addr&(b.Size-1) != 0 {
		return fmt.Errorf("pci: BAR %d address %#x is not aligned to its size %#x", index, addr, b.Size)
	}
	limit := barLimit(b.Type)
	if addr+b.Size-1 < addr || (limit != 0 && addr+b.Size > limit) {
		return fmt.Errorf("pci: %v BAR %d range [%#x, +%#x) does not fit its address space", b.Type, index, addr, b.Size)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	reg := RegBAR0 + 4*index
	binary.LittleEndian.PutUint32(c.data[reg:], uint32(addr)|b.flags())
	if b.Type == BARMem64 {
		binary.LittleEndian.PutUint32(c.data[reg+4:], uint32(addr>>32))
	}
	return nil
}

// barLimit returns the first address past the BAR type's address space, 0
// for the full 64-bit space.
func barLimit(t BARType) uint64 {
	switch t {
	case BARIO:
		return ioSpaceLimit
	case BARMem32:
		return 1 << 32
	}
	return 0
}
