// Package dma is the one interface between DMA-capable devices and the IOMMUs
// behind them: every address a device is given by its driver is an I/O
// virtual address (IOVA) that goes through an AddressSpace before it reaches
// guest RAM.
//
// With no IOMMU configured a device gets Identity, which maps every IOVA to the
// same guest-physical address. The VT-d unit and the virtio-iommu hand each
// device its own AddressSpace; the devices do not change.
package dma

import (
	"errors"
	"fmt"
)

// Access is the kind of DMA access a translation is asked for: Read (the
// device reads guest memory), Write (the device writes it), or both.
type Access uint8

// Access bits.
const (
	Read      Access = 1 << 0
	Write     Access = 1 << 1
	ReadWrite        = Read | Write
)

// String returns a short human-readable form of the value.
func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	case ReadWrite:
		return "read/write"
	}
	return fmt.Sprintf("access(%d)", uint8(a))
}

// AddressSpace translates device addresses.
//
// Translate returns the guest-physical address of iova and how many bytes
// from there, at most n and at least 1, are contiguous in guest-physical
// space with the same permission. n must be at least 1. A translation that
// is not permitted returns an error, normally a *Fault; the IOMMU has by then
// done what its specification asks on a fault (recorded it, raised an event).
//
// Implementations are safe for concurrent use by several device goroutines.
type AddressSpace interface {
	Translate(iova, n uint64, acc Access) (gpa, length uint64, err error)
}

// Identity is the address space of a device that is not behind an IOMMU:
// IOVA == GPA for every address.
type Identity struct{}

// Translate returns iova itself and n (capped so the range does not wrap).
func (Identity) Translate(iova, n uint64, _ Access) (uint64, uint64, error) {
	if n == 0 {
		return 0, 0, ErrZeroLength
	}
	if iova+n-1 < iova {
		n = -iova // up to 2^64 - 1 inclusive
	}
	return iova, n, nil
}

// ErrZeroLength is returned for a translation of zero bytes.
var ErrZeroLength = errors.New("dma: zero-length translation")

// Fault is a translation the IOMMU refused: the device must treat the DMA
// as failed (abort the request, report an error status).
type Fault struct {
	IOVA   uint64
	Access Access
	Reason string // the IOMMU's reason, e.g. "not present", "write not permitted"
}

// Error describes the failure, naming the offending address or value.
func (f *Fault) Error() string {
	return fmt.Sprintf("dma: %s of IOVA %#x faulted: %s", f.Access, f.IOVA, f.Reason)
}
