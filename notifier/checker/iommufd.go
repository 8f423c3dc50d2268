package checker

import (
	"sync"

	"golang.org/x/sys/unix"

	"github.com/govmm/govmm/notifier"
)

// IOMMUFD is a Notifier that applies each event as an iommufd IOAS (Linux
// drivers/iommu/iommufd/ioas.c and io_pagetable.c) would apply the ioctl an
// iommufd consumer makes of it, and refuses what the kernel refuses, with
// the kernel's errno:
//
// Map, as IOMMU_IOAS_MAP with IOMMU_IOAS_MAP_FIXED_IOVA (one area per
// event), checks in the kernel's order:
//   - undefined permission bits: EOPNOTSUPP (ErrPerm);
//   - IOVA or size 2^64-1 (ULONG_MAX) or more: EOVERFLOW (ErrWrap);
//   - no permission: EINVAL (ErrPerm);
//   - size 0: EINVAL (ErrZeroSize); size above 2^64-1-4096: EINVAL
//     (ErrWrap);
//   - address + size past 2^64: EOVERFLOW (ErrWrap);
//   - size or IOVA not a multiple of Alignment: EINVAL (ErrUnaligned);
//   - IOVA range past 2^64: EOVERFLOW (ErrWrap);
//   - overlapping a Reserved range: EINVAL (ErrReserved);
//   - overlapping an existing area: EEXIST (ErrOverlap);
//   - an address whose offset in its 4 KiB page is not a multiple of
//     Alignment: EINVAL (ErrUnaligned).
//
// Unmap, as IOMMU_IOAS_UNMAP (no alignment is required):
//   - IOVA 0 with size 2^64-1 unmaps everything and always succeeds;
//   - otherwise IOVA or size 2^64-1: EOVERFLOW (ErrWrap); size 0: EINVAL
//     (ErrZeroSize); a range past 2^64: EOVERFLOW (ErrWrap);
//   - areas inside the range are removed in ascending IOVA order; the first
//     area met that is only partly inside stops the unmap with ENOENT
//     (ErrBisect) and the areas already removed stay removed, as in
//     iopt_unmap_iova_range;
//   - a range with nothing in it: ENOENT (ErrNotMapped), unless
//     EmptyUnmapOK, in which case it succeeds and is counted in
//     Counts.EmptyUnmaps.
//
// DevIOTLBUnmap and undefined kinds have no IOAS operation: EINVAL (ErrKind).
//
// The address checks apply to Addr, the guest-physical address, standing
// for the host virtual address (user_va) the consumer passes: guest RAM is
// mapped page-aligned, so both have the same offset in their page.
//
// A refused event is returned as a *Violation (which wraps the unix.Errno)
// and recorded for Violations and Err. The SID of events is ignored: an IOAS
// is one IOVA space.
//
// Set the fields before the first event. The zero value is an IOAS with a
// 4 KiB alignment and no reserved range that reports empty unmaps. An
// IOMMUFD is safe for concurrent use.
type IOMMUFD struct {
	// Alignment is the IOAS's iova_alignment
	// (iommu_ioas_iova_ranges.out_iova_alignment), a power of two; 0
	// means 4 KiB.
	Alignment uint64
	// Reserved are the IOVA ranges the IOAS reserves (for example
	// X86MSIWindow).
	Reserved []Range
	// EmptyUnmapOK accepts an unmap with nothing mapped in its range. The
	// kernel answers ENOENT, the same errno as for a bisected area; a
	// consumer that treats that ENOENT as success (nothing to do) can set
	// this so that only real bisections are reported.
	EmptyUnmapOK bool

	mu sync.Mutex
	b  book
}

var _ notifier.Notifier = (*IOMMUFD)(nil)

const (
	ulongMax = ^uint64(0)
	pageSize = 4096
)

func (c *IOMMUFD) mask() uint64 {
	a := c.Alignment
	if a == 0 {
		a = pageSize
	}
	return a&-a - 1
}

// Notify applies ev as described on IOMMUFD, returning a *Violation if the
// kernel would refuse it.
func (c *IOMMUFD) Notify(ev notifier.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.b.count(ev)
	switch ev.Kind {
	case notifier.Map:
		return c.b.refuse(c.ioasMap(ev))
	case notifier.Unmap:
		return c.b.refuse(c.ioasUnmap(ev))
	}
	return c.b.refuse(&Violation{Op: "none", Event: ev, Errno: unix.EINVAL, Reason: ErrKind})
}

func (c *IOMMUFD) ioasMap(ev notifier.Event) *Violation {
	v := func(errno unix.Errno, reason error) *Violation {
		return &Violation{Op: "IOMMU_IOAS_MAP", Event: ev, Errno: errno, Reason: reason}
	}
	mask := c.mask()
	switch {
	case ev.Perm&^notifier.PermRW != 0:
		return v(unix.EOPNOTSUPP, ErrPerm)
	case ev.IOVA >= ulongMax || ev.Size >= ulongMax:
		return v(unix.EOVERFLOW, ErrWrap)
	case ev.Perm == 0:
		return v(unix.EINVAL, ErrPerm)
	case ev.Size == 0:
		return v(unix.EINVAL, ErrZeroSize)
	case ev.Size > ulongMax-pageSize:
		return v(unix.EINVAL, ErrWrap)
	case ev.Addr+ev.Size < ev.Addr:
		return v(unix.EOVERFLOW, ErrWrap)
	case ev.Size&mask != 0 || ev.IOVA&mask != 0:
		return v(unix.EINVAL, ErrUnaligned)
	case ev.IOVA+ev.Size-1 < ev.IOVA:
		return v(unix.EOVERFLOW, ErrWrap)
	}
	last := ev.IOVA + ev.Size - 1
	if r, ok := overlapReserved(c.Reserved, ev.IOVA, last); ok {
		bad := v(unix.EINVAL, ErrReserved)
		bad.Conflict = Mapping{IOVA: r.First, Size: r.Last - r.First + 1}
		return bad
	}
	if m, ok := c.b.areas.firstOverlap(ev.IOVA, last); ok {
		bad := v(unix.EEXIST, ErrOverlap)
		bad.Conflict = m
		return bad
	}
	if (ev.Addr%pageSize)&mask != 0 {
		return v(unix.EINVAL, ErrUnaligned)
	}
	c.b.areas.insert(Mapping{IOVA: ev.IOVA, Size: ev.Size, Addr: ev.Addr, Perm: ev.Perm})
	return nil
}

func (c *IOMMUFD) ioasUnmap(ev notifier.Event) *Violation {
	v := func(errno unix.Errno, reason error) *Violation {
		return &Violation{Op: "IOMMU_IOAS_UNMAP", Event: ev, Errno: errno, Reason: reason}
	}
	all := ev.IOVA == 0 && ev.Size == ulongMax
	first, last := uint64(0), ulongMax
	if !all {
		switch {
		case ev.IOVA >= ulongMax || ev.Size >= ulongMax:
			return v(unix.EOVERFLOW, ErrWrap)
		case ev.Size == 0:
			return v(unix.EINVAL, ErrZeroSize)
		case ev.IOVA+ev.Size-1 < ev.IOVA:
			return v(unix.EOVERFLOW, ErrWrap)
		}
		first, last = ev.IOVA, ev.IOVA+ev.Size-1
	}
	removed := 0
	for {
		m, ok := c.b.areas.firstOverlap(first, last)
		if !ok {
			break
		}
		if m.IOVA < first || m.Last() > last {
			bad := v(unix.ENOENT, ErrBisect)
			bad.Conflict = m
			return bad
		}
		c.b.areas.remove(m.IOVA)
		removed++
	}
	if removed == 0 {
		if !all && !c.EmptyUnmapOK {
			return v(unix.ENOENT, ErrNotMapped)
		}
		c.b.counts.EmptyUnmaps++
	}
	return nil
}

// Mappings returns the areas the IOAS holds, ascending by IOVA: the union of
// the accepted maps minus the unmapped areas.
func (c *IOMMUFD) Mappings() []Mapping {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.areas.appendAll(make([]Mapping, 0, c.b.areas.len()))
}

// Lookup returns the area that contains iova.
func (c *IOMMUFD) Lookup(iova uint64) (Mapping, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.areas.containing(iova)
}

// Len returns the number of areas held.
func (c *IOMMUFD) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.areas.len()
}

// Counts returns the event counters.
func (c *IOMMUFD) Counts() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.counts
}

// Violations returns the first MaxKept violations, oldest first.
func (c *IOMMUFD) Violations() []*Violation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Violation(nil), c.b.kept...)
}

// Err returns nil when no event was refused, the violation when one was,
// and otherwise an error that counts them and wraps the first.
func (c *IOMMUFD) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.err()
}
