package virtiotest

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/govmm/govmm/dma"
)

// PagePermutation is an IOMMU-like dma.AddressSpace: IOVA page i of
// [IOVABase, IOVABase+Pages*4096) maps to guest-physical page Perm[i] of
// [GPABase, ...), every other IOVA faults. With IOVABase far from RAM and a
// permutation without fixed points, a device that used an IOVA as a GPA
// would touch nothing or the wrong page. Translations never cross a page.
type PagePermutation struct {
	IOVABase, GPABase uint64
	Perm              []uint64 // page index in the GPA range for each IOVA page
}

// NewPagePermutation returns a permutation of pages pages (at least 2)
// with no fixed point, derived from seed.
func NewPagePermutation(iovaBase, gpaBase uint64, pages int, seed uint64) *PagePermutation {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	p := make([]uint64, pages)
	for i := range p {
		p[i] = uint64(i)
	}
	// Sattolo's algorithm: a single cycle, so no page maps to itself.
	for i := pages - 1; i > 0; i-- {
		j := r.IntN(i)
		p[i], p[j] = p[j], p[i]
	}
	return &PagePermutation{IOVABase: iovaBase, GPABase: gpaBase, Perm: p}
}

// Translate implements dma.AddressSpace.
func (p *PagePermutation) Translate(iova, n uint64, acc dma.Access) (uint64, uint64, error) {
	if n == 0 {
		return 0, 0, dma.ErrZeroLength
	}
	if iova < p.IOVABase || (iova-p.IOVABase)/pageSize >= uint64(len(p.Perm)) {
		return 0, 0, &dma.Fault{IOVA: iova, Access: acc, Reason: "not mapped"}
	}
	page, off := (iova-p.IOVABase)/pageSize, iova&pageMask
	return p.GPABase + p.Perm[page]*pageSize + off, min(n, pageSize-off), nil
}

// Size returns the size in bytes of the mapped IOVA range.
func (p *PagePermutation) Size() uint64 { return uint64(len(p.Perm)) * pageSize }

// Offset is dma.AddressSpace IOVA = GPA + Delta: the simplest translating
// address space, contiguous everywhere.
type Offset struct{ Delta uint64 }

// Translate implements dma.AddressSpace.
func (o Offset) Translate(iova, n uint64, acc dma.Access) (uint64, uint64, error) {
	if n == 0 {
		return 0, 0, dma.ErrZeroLength
	}
	if iova < o.Delta {
		return 0, 0, &dma.Fault{IOVA: iova, Access: acc, Reason: "below the window"}
	}
	return iova - o.Delta, n, nil
}

// Faulting wraps an address space and makes accesses of the given kinds
// to a range of IOVAs fault, like an IOMMU whose mapping was removed or
// is read-only. The range can be changed while a device runs.
type Faulting struct {
	AS dma.AddressSpace

	mu     sync.RWMutex
	lo, hi uint64 // faulting IOVAs [lo, hi)
	acc    dma.Access
	faults atomic.Int64
}

// SetFault makes accesses (of a kind in acc) that touch [lo, hi) fault;
// SetFault(0, 0, 0) removes the fault.
func (f *Faulting) SetFault(lo, hi uint64, acc dma.Access) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lo, f.hi, f.acc = lo, hi, acc
}

// Faults returns how many translations faulted.
func (f *Faulting) Faults() int64 { return f.faults.Load() }

// Translate implements dma.AddressSpace: it faults if [iova, iova+n)
// overlaps the faulting range and acc includes a faulting kind;
// otherwise the wrapped space answers, cut at the faulting range.
func (f *Faulting) Translate(iova, n uint64, acc dma.Access) (uint64, uint64, error) {
	f.mu.RLock()
	lo, hi, fa := f.lo, f.hi, f.acc
	f.mu.RUnlock()
	if n == 0 {
		return 0, 0, dma.ErrZeroLength
	}
	if fa&acc != 0 && lo < hi {
		if iova >= lo && iova < hi {
			f.faults.Add(1)
			return 0, 0, &dma.Fault{IOVA: iova, Access: acc, Reason: fmt.Sprintf("[%#x, %#x) is not mapped for %v", lo, hi, fa)}
		}
		if iova < lo && n > lo-iova {
			n = lo - iova
		}
	}
	return f.AS.Translate(iova, n, acc)
}

// Counting wraps an address space and counts translations by access kind.
type Counting struct {
	AS            dma.AddressSpace
	reads, writes atomic.Int64
}

// Translate implements dma.AddressSpace.
func (c *Counting) Translate(iova, n uint64, acc dma.Access) (uint64, uint64, error) {
	if acc&dma.Write != 0 {
		c.writes.Add(1)
	} else {
		c.reads.Add(1)
	}
	return c.AS.Translate(iova, n, acc)
}

// Counts returns the number of read and write translations so far.
func (c *Counting) Counts() (reads, writes int64) { return c.reads.Load(), c.writes.Load() }
