package aml

import "fmt"

// Resource is one resource data descriptor (ACPI 6.5 §6.4, "Resource Data
// Types for ACPI"). AppendResource appends its encoding; on error the
// returned slice is unspecified.
type Resource interface {
	AppendResource(dst []byte) ([]byte, error)
}

// endTag is the small End Tag descriptor (ACPI 6.5 §6.4.2.9): type 0xF,
// length 1, and a zero checksum byte, which means "checksum not used".
var endTag = []byte{0x79, 0x00}

// ResourceTemplate is the buffer of a _CRS, _PRS or similar object (ASL
// ResourceTemplate, ACPI 6.5 §6.4): the descriptors in order, followed by an
// End Tag, wrapped in a Buffer.
type ResourceTemplate []Resource

// AppendAML appends the Buffer holding the descriptors and the End Tag, or
// fails if a descriptor is invalid.
func (rt ResourceTemplate) AppendAML(dst []byte) ([]byte, error) {
	var b []byte
	for i, r := range rt {
		if r == nil {
			return dst, fmt.Errorf("aml: resource %d is nil", i)
		}
		var err error
		if b, err = r.AppendResource(b); err != nil {
			return dst, err
		}
	}
	b = append(b, endTag...)
	return Buffer(b).AppendAML(dst)
}

// IO is the small I/O Port descriptor (ACPI 6.5 §6.4.2.5, ASL IO()): tag
// 0x47, the decode flag (bit 0 set for 16-bit decode, clear for 10-bit ISA
// decode), the minimum and maximum base port, the base alignment and the
// number of ports. For a fixed range Min == Max.
type IO struct {
	Decode16 bool   // 16-bit decode (true) or 10-bit ISA decode
	Min      uint16 // lowest base port
	Max      uint16 // highest base port
	Align    uint8  // base alignment in ports
	Length   uint8  // number of ports
}

// AppendResource appends the 8-byte descriptor, or fails if Min > Max.
func (io IO) AppendResource(dst []byte) ([]byte, error) {
	if io.Min > io.Max {
		return dst, fmt.Errorf("aml: IO descriptor minimum %#x above maximum %#x", io.Min, io.Max)
	}
	var info byte
	if io.Decode16 {
		info = 1
	}
	return append(dst, 0x47, info, byte(io.Min), byte(io.Min>>8), byte(io.Max), byte(io.Max>>8), io.Align, io.Length), nil
}

// IRQNoFlags is the two-byte-mask form of the small IRQ descriptor (ACPI 6.5
// §6.4.2.1, ASL IRQNoFlags()): tag 0x22 and a 16-bit mask of ISA IRQs 0-15.
// The interrupts are edge-triggered, active-high and exclusive.
type IRQNoFlags []uint8

// AppendResource appends the 3-byte descriptor, or fails on an IRQ above 15.
func (irqs IRQNoFlags) AppendResource(dst []byte) ([]byte, error) {
	var mask uint16
	for _, irq := range irqs {
		if irq > 15 {
			return dst, fmt.Errorf("aml: IRQNoFlags IRQ %d is not an ISA IRQ (0-15)", irq)
		}
		mask |= 1 << irq
	}
	return append(dst, 0x22, byte(mask), byte(mask>>8)), nil
}

// Memory32Fixed is the large 32-Bit Fixed Memory Range descriptor (ACPI 6.5
// §6.4.3.4, ASL Memory32Fixed()): tag 0x86, length 9, the write-status flag
// (bit 0 set for read-write), the base address and the length in bytes.
type Memory32Fixed struct {
	ReadWrite bool   // writable (true) or read-only
	Base      uint32 // first address
	Length    uint32 // size in bytes
}

// AppendResource appends the 12-byte descriptor, or fails if the range
// wraps past 2^32.
func (m Memory32Fixed) AppendResource(dst []byte) ([]byte, error) {
	if m.Length > 0 && uint64(m.Base)+uint64(m.Length) > 1<<32 {
		return dst, fmt.Errorf("aml: Memory32Fixed [%#x, +%#x) wraps past 4 GiB", m.Base, m.Length)
	}
	var info byte
	if m.ReadWrite {
		info = 1
	}
	dst = append(dst, 0x86, 9, 0, info)
	dst = appendLE(dst, uint64(m.Base), 4)
	return appendLE(dst, uint64(m.Length), 4), nil
}

// appendLE appends the n low bytes of v, little-endian.
func appendLE(dst []byte, v uint64, n int) []byte {
	for i := 0; i < n; i++ {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}
