package checker_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"

	"github.com/govmm/govmm/notifier"
	"github.com/govmm/govmm/notifier/checker"
)

// space is a minimal device address space that owns a hub as the notifier
// package's locking contract says, and unmaps exactly what it mapped (as the
// VT-d and virtio-iommu models do by diffing against their iovatree).
type space struct {
	mu   sync.Mutex
	maps map[uint64]checker.Mapping // by IOVA
	hub  *notifier.Hub
}

func newSpace(sid uint32) *space {
	s := &space{maps: map[uint64]checker.Mapping{}}
	s.hub = notifier.NewHub(sid, func(yield func(notifier.Event) error) error {
		for _, m := range s.sorted() {
			if err := yield(notifier.Event{Kind: notifier.Map, IOVA: m.IOVA, Size: m.Size, Addr: m.Addr, Perm: m.Perm}); err != nil {
				return err
			}
		}
		return nil
	})
	return s
}

func (s *space) sorted() []checker.Mapping {
	out := make([]checker.Mapping, 0, len(s.maps))
	for _, m := range s.maps {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].IOVA < out[j].IOVA })
	return out
}

func (s *space) register(t *testing.T, n notifier.Notifier) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.hub.Register(n, notifier.Map|notifier.Unmap, 0, 1<<64-1); err != nil {
		t.Fatal(err)
	}
}

func (s *space) mapRange(m checker.Mapping) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.hub.Notify(notifier.Event{Kind: notifier.Map, IOVA: m.IOVA, Size: m.Size, Addr: m.Addr, Perm: m.Perm})
	if err == nil {
		s.maps[m.IOVA] = m
	}
	return err
}

func (s *space) unmap(iova uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.maps[iova]
	if !ok {
		return nil
	}
	delete(s.maps, iova)
	return s.hub.Notify(notifier.Event{Kind: notifier.Unmap, IOVA: m.IOVA, Size: m.Size})
}

// A random workload of page-aligned maps and unmaps of any size and
// alignment, fanned out by a hub, is acceptable to both kernel interfaces,
// and both end up holding exactly what the address space maps.
func TestHubStreamsAreAcceptable(t *testing.T) {
	s := newSpace(0x10)
	t1 := &checker.Type1{}
	fd := &checker.IOMMUFD{}
	s.register(t, t1)

	r := rand.New(rand.NewPCG(11, 12))
	for i := range 3000 {
		if i == 1000 {
			s.register(t, fd) // joins late: gets a replay
		}
		page := r.Uint64N(1 << 12)
		if m, ok := s.maps[page<<12]; ok && r.IntN(2) == 0 {
			if err := s.unmap(m.IOVA); err != nil {
				t.Fatalf("unmap %v: %v", m, err)
			}
			continue
		}
		m := checker.Mapping{IOVA: page << 12, Size: (1 + r.Uint64N(24)) << 12, Addr: r.Uint64N(1<<20) << 12, Perm: notifier.Perm(1 + r.IntN(3))}
		free := true
		for _, o := range s.maps {
			if o.IOVA <= m.Last() && m.IOVA <= o.Last() {
				free = false
			}
		}
		if free {
			if err := s.mapRange(m); err != nil {
				t.Fatalf("map %v: %v", m, err)
			}
		}
	}
	if err := t1.Err(); err != nil {
		t.Errorf("type1: %v", err)
	}
	if err := fd.Err(); err != nil {
		t.Errorf("iommufd: %v", err)
	}
	want := checker.Coalesce(s.sorted())
	if diff := cmp.Diff(want, checker.Coalesce(t1.Mappings()), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("type1 holds a different set (-space +type1):\n%s", diff)
	}
	if diff := cmp.Diff(want, checker.Coalesce(fd.Mappings()), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("iommufd holds a different set (-space +iommufd):\n%s", diff)
	}
	if c := t1.Counts(); c.Maps == 0 || c.Unmaps == 0 {
		t.Errorf("type1 counts %+v: the workload did not exercise both kinds", c)
	}
}

// The checkers catch what the hub's splitting exists to prevent: unmapping
// part of what was mapped.
func TestPartialUnmapIsCaught(t *testing.T) {
	tests := []struct {
		name   string
		c      notifier.Notifier
		errno  unix.Errno
		reason error
	}{
		{"type1", &checker.Type1{}, unix.EINVAL, checker.ErrBisect},
		{"iommufd", &checker.IOMMUFD{}, unix.ENOENT, checker.ErrBisect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := notifier.NewHub(0x18, nil)
			if _, err := h.Register(tt.c, notifier.Map|notifier.Unmap, 0, 1<<64-1); err != nil {
				t.Fatal(err)
			}
			// [0x1000, 0x7fff] reaches the consumer as 4 KiB + 8 KiB + 16 KiB.
			if err := h.Notify(notifier.Event{Kind: notifier.Map, IOVA: 0x1000, Size: 0x7000, Addr: 0x100000, Perm: notifier.PermRW}); err != nil {
				t.Fatal(err)
			}
			// Unmapping one page of the 16 KiB block bisects it.
			err := h.Notify(notifier.Event{Kind: notifier.Unmap, IOVA: 0x5000, Size: 0x1000})
			var de *notifier.DeliveryError
			if !errors.As(err, &de) || !errors.Is(err, tt.errno) || !errors.Is(err, tt.reason) {
				t.Fatalf("partial unmap = %v, want a DeliveryError wrapping %s and %v", err, unix.ErrnoName(tt.errno), tt.reason)
			}
			// The whole range unmaps cleanly: same range, same split.
			if err := h.Notify(notifier.Event{Kind: notifier.Unmap, IOVA: 0x1000, Size: 0x7000}); err != nil {
				t.Fatalf("unmap of the mapped range: %v", err)
			}
		})
	}
}

// A Map that runs into dma_entry_limit part-way is rolled back by the hub,
// leaving the container as it was.
func TestEntryLimitRollsBack(t *testing.T) {
	t1 := &checker.Type1{Limit: 10}
	h := notifier.NewHub(1, nil)
	if _, err := h.Register(t1, notifier.Map|notifier.Unmap, 0, 1<<64-1); err != nil {
		t.Fatal(err)
	}
	for i := range uint64(8) {
		if err := h.Notify(notifier.Event{Kind: notifier.Map, IOVA: 0x100000 + i<<12, Size: 0x1000, Addr: i << 12, Perm: notifier.PermRW}); err != nil {
			t.Fatal(err)
		}
	}
	before := t1.Mappings()
	// [0x1000, 0x7fff] is three blocks; the third would be entry 11.
	err := h.Notify(notifier.Event{Kind: notifier.Map, IOVA: 0x1000, Size: 0x7000, Addr: 0x200000, Perm: notifier.PermRW})
	if !errors.Is(err, unix.ENOSPC) || !errors.Is(err, checker.ErrLimit) {
		t.Fatalf("Notify = %v, want ENOSPC", err)
	}
	if diff := cmp.Diff(before, t1.Mappings()); diff != "" {
		t.Errorf("container after the rolled-back map (-before +after):\n%s", diff)
	}
	if got := t1.Counts(); got.Maps != 11 || got.Unmaps != 2 || got.Violations != 1 {
		t.Errorf("Counts = %+v, want 11 maps (8 + 3 tried), 2 rollback unmaps, 1 violation", got)
	}
}

// A checker registered late is brought up to date by the replay, with no
// unmap first, and a replay that fails is undone.
func TestReplayIntoChecker(t *testing.T) {
	s := newSpace(0x20)
	for i := range uint64(5) {
		if err := s.mapRange(checker.Mapping{IOVA: i << 21, Size: 0x3000, Addr: i << 30, Perm: notifier.PermRW}); err != nil {
			t.Fatal(err)
		}
	}
	t1 := &checker.Type1{}
	s.register(t, t1)
	if c := t1.Counts(); c.Unmaps != 0 || c.Maps != 10 || t1.Err() != nil {
		t.Errorf("replay counts %+v, err %v; want 10 maps (5 x 4 KiB + 8 KiB), no unmap", c, t1.Err())
	}
	if diff := cmp.Diff(checker.Coalesce(s.sorted()), checker.Coalesce(t1.Mappings())); diff != "" {
		t.Errorf("replayed set (-space +type1):\n%s", diff)
	}

	small := &checker.Type1{Limit: 7}
	s.mu.Lock()
	_, err := s.hub.Register(small, notifier.Map|notifier.Unmap, 0, 1<<64-1)
	s.mu.Unlock()
	if !errors.Is(err, unix.ENOSPC) {
		t.Fatalf("Register into a 7-entry container = %v, want ENOSPC", err)
	}
	if small.Len() != 0 {
		t.Errorf("the failed replay left %d entries: %v", small.Len(), small.Mappings())
	}
}

func Example() {
	container := &checker.Type1{} // a VFIO type1 v2 container with 4 KiB pages
	hub := notifier.NewHub(0x10, nil)
	if _, err := hub.Register(container, notifier.Map|notifier.Unmap, 0, 0xfedfffff); err != nil {
		fmt.Println(err)
		return
	}
	hub.Notify(notifier.Event{Kind: notifier.Map, IOVA: 0x1000, Size: 0x3000, Addr: 0x7f000, Perm: notifier.PermRW})
	for _, m := range container.Mappings() {
		fmt.Println(m)
	}
	fmt.Println("as one range:", checker.Coalesce(container.Mappings()))

	// Re-mapping a changed translation without unmapping it first:
	err := hub.Notify(notifier.Event{Kind: notifier.Map, IOVA: 0x2000, Size: 0x1000, Addr: 0x90000, Perm: notifier.PermRead})
	fmt.Println(errors.Is(err, unix.EEXIST), errors.Is(err, checker.ErrOverlap))
	fmt.Println(container.Err())
	// Output:
	// [0x1000, 0x1fff] -> 0x7f000 rw
	// [0x2000, 0x3fff] -> 0x80000 rw
	// as one range: [[0x1000, 0x3fff] -> 0x7f000 rw]
	// true true
	// checker: VFIO_IOMMU_MAP_DMA of map SID 0x10 IOVA [0x2000, 0x2fff] -> 0x90000 r: EEXIST (file exists): overlaps an existing mapping [0x2000, 0x3fff]
}
