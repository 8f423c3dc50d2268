package checker

import (
	"sync"

	"golang.org/x/sys/unix"

	"github.com/govmm/govmm/notifier"
)

// DefaultEntryLimit is the default of the vfio_iommu_type1 module parameter
// dma_entry_limit: the number of VFIO_IOMMU_MAP_DMA entries one container
// may hold.
const DefaultEntryLimit = 65535

// Type1 is a Notifier that applies each event as a VFIO type1 v2 container
// (VFIO_TYPE1v2_IOMMU, Linux drivers/vfio/vfio_iommu_type1.c) would apply
// the ioctl a VFIO consumer makes of it, and refuses what the kernel
// refuses, with the kernel's errno:
//
// Map, as VFIO_IOMMU_MAP_DMA (one entry per event):
//   - no permission or undefined permission bits: EINVAL (ErrPerm);
//   - size 0: EINVAL (ErrZeroSize);
//   - IOVA, size or address not a multiple of the page size: EINVAL
//     (ErrUnaligned);
//   - IOVA or address range past 2^64: EINVAL (ErrWrap);
//   - overlapping an existing entry: EEXIST (ErrOverlap);
//   - Limit entries already held: ENOSPC (ErrLimit);
//   - overlapping a Reserved range: EINVAL (ErrReserved).
//
// Unmap, as VFIO_IOMMU_UNMAP_DMA with v2 semantics:
//   - IOVA or size not a multiple of the page size, size 0, or a range past
//     2^64: EINVAL (ErrUnaligned, ErrZeroSize, ErrWrap);
//   - an entry that contains the first or the last byte of the range but
//     is not wholly inside it: EINVAL (ErrBisect), and nothing is removed;
//   - otherwise every entry inside the range is removed; a range with
//     nothing in it succeeds (counted in Counts.EmptyUnmaps).
//
// DevIOTLBUnmap and undefined kinds have no type1 operation: EINVAL
// (ErrKind).
//
// The address checks apply to Addr, the guest-physical address, standing
// for the host virtual address (vaddr) the consumer passes: guest RAM is
// mapped page-aligned, so both have the same offset in their page.
//
// A refused event changes nothing and is returned as a *Violation (which
// wraps the unix.Errno) and recorded for Violations and Err. The SID of
// events is ignored: a container is one IOVA space, however many devices
// and hubs feed it.
//
// Set the fields before the first event. The zero value is a container with
// 4 KiB pages, the default entry limit and no reserved range. A Type1 is
// safe for concurrent use.
type Type1 struct {
	// PageSize is the container's IOMMU page-size bitmap
	// (vfio_iommu_type1_info.iova_pgsizes) or simply its minimum page size:
	// its lowest set bit is the alignment required. 0 means 4 KiB.
	PageSize uint64
	// Limit is dma_entry_limit; 0 means DefaultEntryLimit.
	Limit int
	// Reserved are the IOVA ranges the host IOMMU reserves (for example
	// X86MSIWindow).
	Reserved []Range

	mu sync.Mutex
	b  book
}

var _ notifier.Notifier = (*Type1)(nil)

// mask returns the alignment mask, page size - 1.
func (c *Type1) mask() uint64 {
	ps := c.PageSize
	if ps == 0 {
		ps = 4096
	}
	return ps&-ps - 1
}

func (c *Type1) limit() int {
	if c.Limit <= 0 {
		return DefaultEntryLimit
	}
	return c.Limit
}

// Notify applies ev as described on Type1, returning a *Violation if the
// kernel would refuse it.
func (c *Type1) Notify(ev notifier.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.b.count(ev)
	switch ev.Kind {
	case notifier.Map:
		return c.b.refuse(c.mapDMA(ev))
	case notifier.Unmap:
		return c.b.refuse(c.unmapDMA(ev))
	}
	return c.b.refuse(&Violation{Op: "none", Event: ev, Errno: unix.EINVAL, Reason: ErrKind})
}

func (c *Type1) mapDMA(ev notifier.Event) *Violation {
	v := func(errno unix.Errno, reason error) *Violation {
		return &Violation{Op: "VFIO_IOMMU_MAP_DMA", Event: ev, Errno: errno, Reason: reason}
	}
	mask := c.mask()
	switch {
	case ev.Perm == 0 || ev.Perm&^notifier.PermRW != 0:
		return v(unix.EINVAL, ErrPerm)
	case ev.Size == 0:
		return v(unix.EINVAL, ErrZeroSize)
	case (ev.IOVA|ev.Size|ev.Addr)&mask != 0:
		return v(unix.EINVAL, ErrUnaligned)
	case ev.IOVA+ev.Size-1 < ev.IOVA || ev.Addr+ev.Size-1 < ev.Addr:
		return v(unix.EINVAL, ErrWrap)
	}
	last := ev.IOVA + ev.Size - 1
	if m, ok := c.b.areas.firstOverlap(ev.IOVA, last); ok {
		bad := v(unix.EEXIST, ErrOverlap)
		bad.Conflict = m
		return bad
	}
	if c.b.areas.len() >= c.limit() {
		return v(unix.ENOSPC, ErrLimit)
	}
	if r, ok := overlapReserved(c.Reserved, ev.IOVA, last); ok {
		bad := v(unix.EINVAL, ErrReserved)
		bad.Conflict = Mapping{IOVA: r.First, Size: r.Last - r.First + 1}
		return bad
	}
	c.b.areas.insert(Mapping{IOVA: ev.IOVA, Size: ev.Size, Addr: ev.Addr, Perm: ev.Perm})
	return nil
}

func (c *Type1) unmapDMA(ev notifier.Event) *Violation {
	v := func(errno unix.Errno, reason error) *Violation {
		return &Violation{Op: "VFIO_IOMMU_UNMAP_DMA", Event: ev, Errno: errno, Reason: reason}
	}
	mask := c.mask()
	switch {
	case ev.Size == 0:
		return v(unix.EINVAL, ErrZeroSize)
	case (ev.IOVA|ev.Size)&mask != 0:
		return v(unix.EINVAL, ErrUnaligned)
	case ev.IOVA+ev.Size-1 < ev.IOVA:
		return v(unix.EINVAL, ErrWrap)
	}
	first, last := ev.IOVA, ev.IOVA+ev.Size-1
	// v2: the range must not bisect an entry at either end.
	if m, ok := c.b.areas.containing(first); ok && m.IOVA != first {
		bad := v(unix.EINVAL, ErrBisect)
		bad.Conflict = m
		return bad
	}
	if m, ok := c.b.areas.containing(last); ok && m.Last() != last {
		bad := v(unix.EINVAL, ErrBisect)
		bad.Conflict = m
		return bad
	}
	removed := 0
	for {
		m, ok := c.b.areas.firstOverlap(first, last)
		if !ok {
			break
		}
		c.b.areas.remove(m.IOVA)
		removed++
	}
	if removed == 0 {
		c.b.counts.EmptyUnmaps++
	}
	return nil
}

// Mappings returns the entries the container holds, ascending by IOVA: the
// union of the accepted maps minus the accepted unmaps.
func (c *Type1) Mappings() []Mapping {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.areas.appendAll(make([]Mapping, 0, c.b.areas.len()))
}

// Lookup returns the entry that contains iova.
func (c *Type1) Lookup(iova uint64) (Mapping, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.areas.containing(iova)
}

// Len returns the number of entries held (what dma_entry_limit counts).
func (c *Type1) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.areas.len()
}

// Counts returns the event counters.
func (c *Type1) Counts() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.counts
}

// Violations returns the first MaxKept violations, oldest first.
func (c *Type1) Violations() []*Violation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Violation(nil), c.b.kept...)
}

// Err returns nil when no event was refused, the violation when one was,
// and otherwise an error that counts them and wraps the first.
func (c *Type1) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.err()
}
