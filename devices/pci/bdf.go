package pci

import (
	"fmt"
	"strconv"
	"strings"
)

// BDF is the location of one PCI function inside a segment: bus (0–255),
// device (0–31) and function (0–7). The zero value is 00:00.0, where the
// host bridge lives.
//
// Its 16-bit packing, bus<<8 | device<<3 | function, is the requester ID of
// every transaction the function issues (PCI Express Base Specification
// §2.2.6.2) and the source-id (SID) the VT-d unit keys its context entries
// by (VT-d specification §3.4.1).
type BDF struct {
	Bus      uint8
	Device   uint8 // 0–31
	Function uint8 // 0–7
}

// BDFFromRequesterID unpacks a 16-bit requester ID (bus<<8 | devfn).
func BDFFromRequesterID(id uint16) BDF {
	return BDF{Bus: uint8(id >> 8), Device: uint8(id>>3) & 0x1f, Function: uint8(id) & 7}
}

// Valid reports whether Device ≤ 31 and Function ≤ 7.
func (b BDF) Valid() bool { return b.Device < 32 && b.Function < 8 }

// DevFn returns the 8-bit device/function number, device<<3 | function.
func (b BDF) DevFn() uint8 { return b.Device<<3 | b.Function&7 }

// RequesterID returns bus<<8 | devfn, the requester ID / VT-d source-id.
func (b BDF) RequesterID() uint16 { return uint16(b.Bus)<<8 | uint16(b.DevFn()) }

// String formats b as Linux does, "bb:dd.f" in hexadecimal (e.g. "00:03.0").
func (b BDF) String() string {
	return fmt.Sprintf("%02x:%02x.%x", b.Bus, b.Device, b.Function)
}

// ParseBDF parses "bb:dd.f" (hexadecimal bus and device, as printed by
// String and lspci) or "dd.f" (bus 0). It fails on anything else, including
// a device above 0x1f or a function above 7.
func ParseBDF(s string) (BDF, error) {
	rest := s
	var bus uint64
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		v, err := strconv.ParseUint(rest[:i], 16, 8)
		if err != nil {
			return BDF{}, fmt.Errorf("pci: bad bus in %q", s)
		}
		bus, rest = v, rest[i+1:]
	}
	dot := strings.IndexByte(rest, '.')
	if dot < 0 {
		return BDF{}, fmt.Errorf("pci: %q is not bb:dd.f", s)
	}
	dev, err := strconv.ParseUint(rest[:dot], 16, 8)
	if err != nil || dev > 0x1f {
		return BDF{}, fmt.Errorf("pci: bad device in %q", s)
	}
	fn, err := strconv.ParseUint(rest[dot+1:], 16, 8)
	if err != nil || fn > 7 {
		return BDF{}, fmt.Errorf("pci: bad function in %q", s)
	}
	return BDF{Bus: uint8(bus), Device: uint8(dev), Function: uint8(fn)}, nil
}
