package iovatree

import "fmt"

// Perm is the access a mapping permits: PermRead (the device may read guest
// memory through it), PermWrite (the device may write it), or both. The bit
// values are those of dma.Access, so a Perm converts to and from a
// dma.Access with a plain type conversion. They model the R and W bits of a
// VT-d second-level page-table entry (VT-d spec §9.8) and the
// VIRTIO_IOMMU_MAP_F_READ/WRITE flags of a virtio-iommu MAP request
// (virtio spec §5.13.6.5).
type Perm uint8

// Permission bits. A mapping stored in a Tree has a non-empty subset of
// PermRW; PermNone and bits outside PermRW are rejected by Insert.
const (
	PermNone  Perm = 0
	PermRead  Perm = 1 << 0
	PermWrite Perm = 1 << 1
	PermRW         = PermRead | PermWrite
)

// String returns "r-", "-w", "rw" or "--" for the four valid values and
// "perm(0xNN)" for anything else.
func (p Perm) String() string {
	switch p {
	case PermNone:
		return "--"
	case PermRead:
		return "r-"
	case PermWrite:
		return "-w"
	case PermRW:
		return "rw"
	}
	return fmt.Sprintf("perm(%#x)", uint8(p))
}

// Mapping is one translation: the Size bytes of I/O virtual address space
// [IOVA, IOVA+Size) map to the translated (guest-physical) addresses
// [Addr, Addr+Size), with permission Perm.
//
// A valid mapping has Size >= 1, neither range wraps past 2^64 (so a range
// may end at the very last byte, 2^64-1), and Perm is a non-empty subset of
// PermRW. Sizes are in bytes and need not be a power of two or page aligned:
// virtio-iommu MAP requests may name any byte range.
type Mapping struct {
	IOVA uint64 // first I/O virtual address
	Size uint64 // length in bytes, >= 1
	Addr uint64 // translated address of IOVA
	Perm Perm   // permitted accesses
}

// Last returns the last IOVA of the mapping, IOVA+Size-1 (inclusive). It is
// meaningful only for Size >= 1.
func (m Mapping) Last() uint64 { return m.IOVA + m.Size - 1 }

// Contains reports whether iova lies in [IOVA, IOVA+Size).
func (m Mapping) Contains(iova uint64) bool {
	return m.Size != 0 && iova >= m.IOVA && iova-m.IOVA < m.Size
}

// Translate returns the translated address of iova, Addr+(iova-IOVA). The
// result is meaningful only if m.Contains(iova).
func (m Mapping) Translate(iova uint64) uint64 { return m.Addr + (iova - m.IOVA) }

// String formats the mapping as "[iova, last] -> addr perm" in hexadecimal,
// with inclusive bounds so that a range ending at 2^64-1 prints exactly.
func (m Mapping) String() string {
	if m.Size == 0 {
		return fmt.Sprintf("[%#x, +0) -> %#x %v", m.IOVA, m.Addr, m.Perm)
	}
	return fmt.Sprintf("[%#x, %#x] -> %#x %v", m.IOVA, m.Last(), m.Addr, m.Perm)
}

// check validates m for Insert; it returns nil or a *RangeError.
func (m Mapping) check() error {
	switch {
	case m.Size == 0:
		return &RangeError{Op: "insert", IOVA: m.IOVA, Size: m.Size, Err: ErrZeroSize}
	case m.IOVA+(m.Size-1) < m.IOVA:
		return &RangeError{Op: "insert", IOVA: m.IOVA, Size: m.Size, Err: ErrWrap}
	case m.Addr+(m.Size-1) < m.Addr:
		return &RangeError{Op: "insert", IOVA: m.IOVA, Size: m.Size, Addr: m.Addr, Err: ErrWrap}
	case m.Perm == PermNone || m.Perm&^PermRW != 0:
		return &RangeError{Op: "insert", IOVA: m.IOVA, Size: m.Size, Perm: m.Perm, Err: ErrNoPerm}
	}
	return nil
}
