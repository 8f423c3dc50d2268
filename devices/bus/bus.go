// Package bus dispatches guest accesses to port-I/O and MMIO ranges: the
// handler interface every device model implements and an address-ordered map
// of ranges to handlers.
package bus

import (
	"fmt"
	"sort"
	"sync"
)

// Handler serves guest accesses to one range. off is the offset from the
// start of the range; len(data) is the access size (1, 2, 4 or 8 bytes for
// CPU accesses). Read fills data; Write consumes it. Handlers must not panic
// on any offset or size: unknown registers read as all ones or zero as the
// device's specification says, and writes to them are ignored.
type Handler interface {
	Read(off uint64, data []byte)
	Write(off uint64, data []byte)
}

// Bus maps non-overlapping [base, base+size) ranges to handlers. It is safe for
// concurrent use; lookups take a read lock only.
type Bus struct {
	mu     sync.RWMutex
	ranges []entry // sorted by base
}

type entry struct {
	base, size uint64
	h          Handler
}

// Insert maps [base, base+size) to h. It fails if the range is empty, wraps,
// or overlaps a range already mapped.
func (b *Bus) Insert(base, size uint64, h Handler) error {
	if size == 0 || base+size-1 < base {
		return fmt.Errorf("bus: bad range [%#x, +%#x)", base, size)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	i := sort.Search(len(b.ranges), func(i int) bool { return b.ranges[i].base >= base })
	if i > 0 && b.ranges[i-1].base+b.ranges[i-1].size > base {
		return fmt.Errorf("bus: [%#x, +%#x) overlaps [%#x, +%#x)", base, size, b.ranges[i-1].base, b.ranges[i-1].size)
	}
	if i < len(b.ranges) && base+size > b.ranges[i].base {
		return fmt.Errorf("bus: [%#x, +%#x) overlaps [%#x, +%#x)", base, size, b.ranges[i].base, b.ranges[i].size)
	}
	b.ranges = append(b.ranges, entry{})
	copy(b.ranges[i+1:], b.ranges[i:])
	b.ranges[i] = entry{base, size, h}
	return nil
}

// Remove unmaps the range that starts at base. It reports whether one did.
func (b *Bus) Remove(base uint64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := sort.Search(len(b.ranges), func(i int) bool { return b.ranges[i].base >= base })
	if i < len(b.ranges) && b.ranges[i].base == base {
		b.ranges = append(b.ranges[:i], b.ranges[i+1:]...)
		return true
	}
	return false
}

// Lookup returns the handler for addr and addr's offset in its range.
func (b *Bus) Lookup(addr uint64) (Handler, uint64, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	i := sort.Search(len(b.ranges), func(i int) bool { return b.ranges[i].base > addr })
	if i == 0 {
		return nil, 0, false
	}
	e := &b.ranges[i-1]
	if addr-e.base >= e.size {
		return nil, 0, false
	}
	return e.h, addr - e.base, true
}

// Read dispatches a read of len(data) bytes at addr. An access that hits no
// range reads as all ones and returns false.
func (b *Bus) Read(addr uint64, data []byte) bool {
	h, off, ok := b.Lookup(addr)
	if !ok {
		for i := range data {
			data[i] = 0xff
		}
		return false
	}
	h.Read(off, data)
	return true
}

// Write dispatches a write at addr. An access that hits no range is ignored
// and returns false.
func (b *Bus) Write(addr uint64, data []byte) bool {
	h, off, ok := b.Lookup(addr)
	if !ok {
		return false
	}
	h.Write(off, data)
	return true
}
