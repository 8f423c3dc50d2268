package pci

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Standard capability IDs (PCI Code and ID Assignment Specification §2).
const (
	CapIDPowerManagement = 0x01
	CapIDMSI             = 0x05
	CapIDVendorSpecific  = 0x09 // used by virtio-pci for its structure locators
	CapIDPCIExpress      = 0x10
	CapIDMSIX            = 0x11
)

// Extended capability IDs (PCI Code and ID Assignment Specification §3).
const (
	ExtCapIDAER            = 0x0001 // Advanced Error Reporting
	ExtCapIDVendorSpecific = 0x000b
	ExtCapIDACS            = 0x000d // Access Control Services
	ExtCapIDATS            = 0x000f // Address Translation Services
	ExtCapIDPASID          = 0x001b // Process Address Space ID
)

// ErrNoSpace is returned when a capability does not fit in what is left of
// the standard (0x40–0xFF) or extended (0x100–0xFFF) capability area.
var ErrNoSpace = errors.New("pci: no room left in configuration space")

// Capability is one entry of a capability list.
type Capability struct {
	Offset   int    // offset of the capability header in configuration space
	ID       uint16 // capability ID: 8 bits for a standard one, 16 for an extended one
	Extended bool   // in the extended list at 0x100 (PCI Express Base Specification §7.6)
	Version  uint8  // extended capabilities only: the 4-bit version
}

// AddCapability appends a standard capability (PCI Local Bus Specification
// 3.0 §6.7) to the list at 0x40–0xFF and returns its offset (4-byte
// aligned). The capability is the ID byte, the next-pointer byte, then body:
// body[0] lands at offset+2. writable is nil (the body is read-only to the
// guest) or len(body) per-bit masks of the guest-writable bits. The new
// capability is linked at the end of the list (the previous tail's next
// pointer, or RegCapabilitiesPtr for the first one, points to it) and
// Status.CapabilitiesList is set. It fails with ErrNoSpace if 2+len(body)
// bytes do not fit below 0x100.
func (c *ConfigSpace) AddCapability(id uint8, body, writable []byte) (int, error) {
	if writable != nil && len(writable) != len(body) {
		return 0, fmt.Errorf("pci: capability %#02x: %d writable mask bytes for a %d-byte body", id, len(writable), len(body))
	}
	n := align4(2 + len(body))
	c.mu.Lock()
	defer c.mu.Unlock()
	off := c.capNext
	if off+n > CompatSize {
		return 0, fmt.Errorf("%w: capability %#02x needs %d bytes at %#x", ErrNoSpace, id, n, off)
	}
	c.data[off] = id
	c.data[off+1] = 0
	copy(c.data[off+2:], body)
	copy(c.wmask[off+2:], writable)
	if c.capLast == 0 {
		c.data[RegCapabilitiesPtr] = uint8(off)
		c.data[RegStatus] |= StatusCapabilitiesList
	} else {
		c.data[c.capLast+1] = uint8(off)
	}
	c.capLast, c.capNext = off, off+n
	return off, nil
}

// AddExtendedCapability appends a PCI Express extended capability (PCI
// Express Base Specification §7.6.3) to the list starting at 0x100 and
// returns its offset. The capability is a 32-bit header (ID in bits 15:0,
// version in 19:16, next offset in 31:20) followed by body; writable is nil
// or len(body) masks as for AddCapability. Guests only look at extended
// space for functions with a PCI Express capability (AddPCIExpress). It
// fails if version is above 15 or with ErrNoSpace if 4+len(body) bytes do
// not fit below 0x1000.
func (c *ConfigSpace) AddExtendedCapability(id uint16, version uint8, body, writable []byte) (int, error) {
	if version > 0xf {
		return 0, fmt.Errorf("pci: extended capability %#04x: version %d is wider than 4 bits", id, version)
	}
	if writable != nil && len(writable) != len(body) {
		return 0, fmt.Errorf("pci: extended capability %#04x: %d writable mask bytes for a %d-byte body", id, len(writable), len(body))
	}
	n := align4(4 + len(body))
	c.mu.Lock()
	defer c.mu.Unlock()
	off := c.extNext
	if off+n > ConfigSize {
		return 0, fmt.Errorf("%w: extended capability %#04x needs %d bytes at %#x", ErrNoSpace, id, n, off)
	}
	binary.LittleEndian.PutUint32(c.data[off:], uint32(id)|uint32(version)<<16)
	copy(c.data[off+4:], body)
	copy(c.wmask[off+4:], writable)
	if c.extLast != 0 {
		h := binary.LittleEndian.Uint32(c.data[c.extLast:])
		binary.LittleEndian.PutUint32(c.data[c.extLast:], h&0xfffff|uint32(off)<<20)
	}
	c.extLast, c.extNext = off, off+n
	return off, nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// Capabilities walks both capability lists as the guest would see them
// (standard list first). See ParseCapabilities for the error.
func (c *ConfigSpace) Capabilities() ([]Capability, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return ParseCapabilities(c.data[:])
}

// FindCapability returns the offset of the first standard capability with
// the given ID.
func (c *ConfigSpace) FindCapability(id uint8) (int, bool) {
	caps, _ := c.Capabilities()
	for _, cp := range caps {
		if !cp.Extended && cp.ID == uint16(id) {
			return cp.Offset, true
		}
	}
	return 0, false
}

// FindExtendedCapability returns the offset of the first extended
// capability with the given ID.
func (c *ConfigSpace) FindExtendedCapability(id uint16) (int, bool) {
	caps, _ := c.Capabilities()
	for _, cp := range caps {
		if cp.Extended && cp.ID == id {
			return cp.Offset, true
		}
	}
	return 0, false
}

// ParseCapabilities walks the capability lists of a raw configuration space
// image cfg (256 bytes for the standard list only, 4096 for both), for
// example one read from a passed-through host device. The standard list is
// walked only when Status.CapabilitiesList is set, from RegCapabilitiesPtr,
// ignoring the two low bits of every pointer (PCI Local Bus Specification
// 3.0 §6.7); the extended list from 0x100 unless its header is 0 or all
// ones (PCI Express Base Specification §7.6.3).
//
// It returns the capabilities found up to the first malformed link and an
// error naming it: a pointer into the header (below 0x40), an extended
// pointer below 0x100, a pointer past the end of cfg, or a loop. It never
// reads outside cfg and always terminates.
func ParseCapabilities(cfg []byte) ([]Capability, error) {
	if len(cfg) < CompatSize {
		return nil, fmt.Errorf("pci: configuration space image is %d bytes, want at least %d", len(cfg), CompatSize)
	}
	var caps []Capability
	var errs []error
	if binary.LittleEndian.Uint16(cfg[RegStatus:])&StatusCapabilitiesList != 0 {
		var seen [CompatSize / 4]bool
		for ptr := int(cfg[RegCapabilitiesPtr] & capabilityPointerMask); ptr != 0; ptr = int(cfg[ptr+1] & capabilityPointerMask) {
			if ptr < firstStandardCapSlot {
				errs = append(errs, fmt.Errorf("pci: capability pointer %#02x points into the header", ptr))
				break
			}
			if seen[ptr/4] {
				errs = append(errs, fmt.Errorf("pci: capability list loops back to %#02x", ptr))
				break
			}
			seen[ptr/4] = true
			caps = append(caps, Capability{Offset: ptr, ID: uint16(cfg[ptr])})
		}
	}
	if len(cfg) >= firstExtendedCapSlot+4 {
		var seen [ConfigSize / 4]bool // next pointers are 12 bits
		for off := firstExtendedCapSlot; ; {
			h := binary.LittleEndian.Uint32(cfg[off:])
			if off == firstExtendedCapSlot && (h == 0 || h == 0xffffffff) {
				break
			}
			seen[off/4] = true
			caps = append(caps, Capability{Offset: off, ID: uint16(h), Extended: true, Version: uint8(h>>16) & 0xf})
			next := int(h>>20) &^ 3
			if next == 0 {
				break
			}
			if next < firstExtendedCapSlot {
				errs = append(errs, fmt.Errorf("pci: extended capability at %#03x points below 0x100 (%#03x)", off, next))
				break
			}
			if next+4 > len(cfg) {
				errs = append(errs, fmt.Errorf("pci: extended capability at %#03x points past the %d-byte image (%#03x)", off, len(cfg), next))
				break
			}
			if seen[next/4] {
				errs = append(errs, fmt.Errorf("pci: extended capability list loops back to %#03x", next))
				break
			}
			off = next
		}
	}
	return caps, errors.Join(errs...)
}
