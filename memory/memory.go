// Package memory models guest RAM: a set of non-overlapping guest-physical
// regions, each backed by host memory, with bounds-checked access.
//
// Every access names a guest-physical address (GPA) and a length in bytes;
// an access that is not wholly inside one region fails with an
// *AccessError and touches nothing. Nothing in this package panics on a
// guest-supplied address.
//
// Concurrency: a Memory is immutable after New and safe for concurrent use.
// Accesses to the same bytes from several goroutines (or from vCPUs) are not
// synchronised, exactly as on real hardware; the 8-byte Load64/Store64
// helpers are single atomic accesses when naturally aligned, which is what
// page-table walkers need.
package memory

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"unsafe"
)

// Region is one contiguous range of guest RAM: GPA is its first guest-physical
// address and Data its host backing, len(Data) bytes long.
type Region struct {
	GPA  uint64
	Data []byte
}

// End returns the first GPA after the region.
func (r Region) End() uint64 { return r.GPA + uint64(len(r.Data)) }

// Memory is guest RAM. The zero value has no regions: every access fails.
type Memory struct {
	regions []Region // sorted by GPA, non-overlapping
}

// ErrOverlap is returned by New when two regions overlap or one wraps past 2^64.
var ErrOverlap = errors.New("memory: regions overlap")

// AccessError reports an access to [GPA, GPA+Len) that is not wholly inside
// guest RAM.
type AccessError struct {
	GPA uint64
	Len uint64
}

// Error describes the failure, naming the offending address or value.
func (e *AccessError) Error() string {
	return fmt.Sprintf("memory: access [%#x, +%#x) is outside guest RAM", e.GPA, e.Len)
}

// New returns guest RAM made of the given regions. Regions must not overlap
// or wrap past 2^64 (ErrOverlap); empty regions are dropped.
func New(regions ...Region) (*Memory, error) {
	rs := make([]Region, 0, len(regions))
	for _, r := range regions {
		if len(r.Data) == 0 {
			continue
		}
		if r.GPA+uint64(len(r.Data)) < r.GPA {
			return nil, fmt.Errorf("%w: region at %#x wraps", ErrOverlap, r.GPA)
		}
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].GPA < rs[j].GPA })
	for i := 1; i < len(rs); i++ {
		if rs[i].GPA < rs[i-1].End() {
			return nil, fmt.Errorf("%w: %#x and %#x", ErrOverlap, rs[i-1].GPA, rs[i].GPA)
		}
	}
	return &Memory{regions: rs}, nil
}

// Regions returns the regions in ascending GPA order. The caller must not
// modify the returned slice.
func (m *Memory) Regions() []Region { return m.regions }

// Size returns the total number of bytes of guest RAM.
func (m *Memory) Size() uint64 {
	var n uint64
	for _, r := range m.regions {
		n += uint64(len(r.Data))
	}
	return n
}

// Slice returns the host bytes backing [gpa, gpa+n). The range must lie inside
// one region; otherwise it returns an *AccessError. The slice aliases guest
// RAM: writes through it are guest-visible.
func (m *Memory) Slice(gpa, n uint64) ([]byte, error) {
	for i := range m.regions {
		r := &m.regions[i]
		if gpa < r.GPA {
			break
		}
		off := gpa - r.GPA
		if off < uint64(len(r.Data)) {
			if n > uint64(len(r.Data))-off {
				break
			}
			return r.Data[off : off+n : off+n], nil
		}
	}
	return nil, &AccessError{GPA: gpa, Len: n}
}

// Contains reports whether [gpa, gpa+n) lies inside one region.
func (m *Memory) Contains(gpa, n uint64) bool {
	_, err := m.Slice(gpa, n)
	return err == nil
}

// ReadAt copies len(p) bytes from guest RAM at gpa into p.
func (m *Memory) ReadAt(p []byte, gpa uint64) error {
	s, err := m.Slice(gpa, uint64(len(p)))
	if err != nil {
		return err
	}
	copy(p, s)
	return nil
}

// WriteAt copies p into guest RAM at gpa.
func (m *Memory) WriteAt(p []byte, gpa uint64) error {
	s, err := m.Slice(gpa, uint64(len(p)))
	if err != nil {
		return err
	}
	copy(s, p)
	return nil
}

// Load64 reads the little-endian 64-bit value at gpa; when gpa is 8-byte
// aligned the read is a single atomic access (a page-table entry read).
func (m *Memory) Load64(gpa uint64) (uint64, error) {
	s, err := m.Slice(gpa, 8)
	if err != nil {
		return 0, err
	}
	if gpa&7 == 0 && uintptr(unsafe.Pointer(&s[0]))&7 == 0 {
		return atomic.LoadUint64((*uint64)(unsafe.Pointer(&s[0]))), nil
	}
	return binary.LittleEndian.Uint64(s), nil
}

// Store64 writes v little-endian at gpa; atomic when gpa is 8-byte aligned.
func (m *Memory) Store64(gpa, v uint64) error {
	s, err := m.Slice(gpa, 8)
	if err != nil {
		return err
	}
	if gpa&7 == 0 && uintptr(unsafe.Pointer(&s[0]))&7 == 0 {
		atomic.StoreUint64((*uint64)(unsafe.Pointer(&s[0])), v)
		return nil
	}
	binary.LittleEndian.PutUint64(s, v)
	return nil
}

// Load32 reads the little-endian 32-bit value at gpa (atomic when aligned).
func (m *Memory) Load32(gpa uint64) (uint32, error) {
	s, err := m.Slice(gpa, 4)
	if err != nil {
		return 0, err
	}
	if gpa&3 == 0 && uintptr(unsafe.Pointer(&s[0]))&3 == 0 {
		return atomic.LoadUint32((*uint32)(unsafe.Pointer(&s[0]))), nil
	}
	return binary.LittleEndian.Uint32(s), nil
}

// Store32 writes v little-endian at gpa (atomic when aligned).
func (m *Memory) Store32(gpa uint64, v uint32) error {
	s, err := m.Slice(gpa, 4)
	if err != nil {
		return err
	}
	if gpa&3 == 0 && uintptr(unsafe.Pointer(&s[0]))&3 == 0 {
		atomic.StoreUint32((*uint32)(unsafe.Pointer(&s[0])), v)
		return nil
	}
	binary.LittleEndian.PutUint32(s, v)
	return nil
}
