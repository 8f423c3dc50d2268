package checker

import (
	"fmt"

	"github.com/govmm/govmm/notifier"
)

// Mapping is one host mapping as the kernel keeps it: one vfio_dma entry of
// a type1 container, or one iopt_area of an iommufd IOAS. [IOVA, IOVA+Size)
// translates to [Addr, Addr+Size) with Perm; Addr is the guest-physical
// address the event carried (the VMM turns it into a host virtual address
// for the ioctl; the checker does not need to).
type Mapping struct {
	IOVA, Size, Addr uint64
	Perm             notifier.Perm
}

// Last returns the last IOVA of the mapping, IOVA+Size-1.
func (m Mapping) Last() uint64 { return m.IOVA + m.Size - 1 }

// String returns a short human-readable form of the value.
func (m Mapping) String() string {
	return fmt.Sprintf("[%#x, %#x] -> %#x %s", m.IOVA, m.Last(), m.Addr, m.Perm)
}

// Range is an inclusive IOVA range [First, Last].
type Range struct{ First, Last uint64 }

// X86MSIWindow is the IOVA range the host IOMMU reserves for MSIs on x86
// (the interrupt address range 0xFEE00000-0xFEEFFFFF, VT-d specification
// chapter 3, "Handling Requests to Interrupt Address Range"): VFIO and
// iommufd refuse to map IOVAs there with EINVAL.
// Put it in Type1.Reserved or IOMMUFD.Reserved to check for it.
var X86MSIWindow = Range{First: 0xfee00000, Last: 0xfeefffff}

// Coalesce merges, in a list of mappings sorted by IOVA (as Mappings returns
// it), every run of mappings that are adjacent in IOVA, adjacent in Addr and
// have the same Perm, and returns the merged list (a new slice; ms is not
// modified). Two address spaces hold the same translations exactly when
// their coalesced lists are equal, however each was split into entries, so
// this is how a test compares a checker against the guest's page tables.
func Coalesce(ms []Mapping) []Mapping {
	var out []Mapping
	for _, m := range ms {
		if n := len(out); n > 0 {
			p := &out[n-1]
			if p.Last() != ^uint64(0) && p.Last()+1 == m.IOVA && p.Addr+p.Size == m.Addr && p.Perm == m.Perm && p.Size+m.Size != 0 {
				p.Size += m.Size
				continue
			}
		}
		out = append(out, m)
	}
	return out
}
