package checker

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"

	"github.com/govmm/govmm/notifier"
)

const max64 = ^uint64(0)

func mapEv(iova, size, addr uint64) notifier.Event {
	return notifier.Event{Kind: notifier.Map, SID: 0x10, IOVA: iova, Size: size, Addr: addr, Perm: notifier.PermRW}
}

func unmapEv(iova, size uint64) notifier.Event {
	return notifier.Event{Kind: notifier.Unmap, SID: 0x10, IOVA: iova, Size: size}
}

// step is one event and what the kernel answers.
type step struct {
	ev       notifier.Event
	errno    unix.Errno // 0: accepted
	reason   error
	conflict uint64 // IOVA of the conflicting mapping named, if any
}

// checkerUnderTest is what both checkers offer.
type checkerUnderTest interface {
	notifier.Notifier
	Mappings() []Mapping
	Lookup(uint64) (Mapping, bool)
	Len() int
	Counts() Counts
	Violations() []*Violation
	Err() error
}

func runSteps(t *testing.T, c checkerUnderTest, steps []step) {
	t.Helper()
	for i, s := range steps {
		err := c.Notify(s.ev)
		if s.errno == 0 {
			if err != nil {
				t.Fatalf("step %d: Notify(%v) = %v, want success", i, s.ev, err)
			}
			continue
		}
		var v *Violation
		if !errors.As(err, &v) {
			t.Fatalf("step %d: Notify(%v) = %v, want a *Violation", i, s.ev, err)
		}
		if !errors.Is(err, s.errno) || !errors.Is(err, s.reason) {
			t.Fatalf("step %d: Notify(%v) = %v, want %s and %v", i, s.ev, err, unix.ErrnoName(s.errno), s.reason)
		}
		if v.Event != s.ev {
			t.Errorf("step %d: violation names %v, want %v", i, v.Event, s.ev)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%#x", s.ev.IOVA)) || !strings.Contains(err.Error(), unix.ErrnoName(s.errno)) {
			t.Errorf("step %d: message %q does not name the IOVA and the errno", i, err)
		}
		if s.conflict != 0 && v.Conflict.IOVA != s.conflict {
			t.Errorf("step %d: conflict %v, want the mapping at %#x", i, v.Conflict, s.conflict)
		}
	}
}

func TestType1(t *testing.T) {
	tests := []struct {
		name  string
		c     *Type1
		steps []step
		want  []Mapping
		empty uint64 // expected Counts.EmptyUnmaps
	}{
		{
			name: "map, overlapping map, exact unmap",
			c:    &Type1{},
			steps: []step{
				{ev: mapEv(0x1000, 0x2000, 0x10000)},
				{ev: mapEv(0x2000, 0x1000, 0x20000), errno: unix.EEXIST, reason: ErrOverlap, conflict: 0x1000},
				{ev: mapEv(0x0, 0x2000, 0x20000), errno: unix.EEXIST, reason: ErrOverlap, conflict: 0x1000},
				{ev: mapEv(0x3000, 0x1000, 0x30000)},
				{ev: unmapEv(0x1000, 0x2000)},
			},
			want: []Mapping{{IOVA: 0x3000, Size: 0x1000, Addr: 0x30000, Perm: notifier.PermRW}},
		},
		{
			name: "unmap that bisects at the start or the end removes nothing",
			c:    &Type1{},
			steps: []step{
				{ev: mapEv(0x1000, 0x2000, 0x10000)},
				{ev: mapEv(0x4000, 0x4000, 0x40000)},
				{ev: unmapEv(0x2000, 0x1000), errno: unix.EINVAL, reason: ErrBisect, conflict: 0x1000},
				{ev: unmapEv(0x0, 0x2000), errno: unix.EINVAL, reason: ErrBisect, conflict: 0x1000},
				{ev: unmapEv(0x1000, 0x4000), errno: unix.EINVAL, reason: ErrBisect, conflict: 0x4000},
				{ev: unmapEv(0x6000, 0x4000), errno: unix.EINVAL, reason: ErrBisect, conflict: 0x4000},
			},
			want: []Mapping{
				{IOVA: 0x1000, Size: 0x2000, Addr: 0x10000, Perm: notifier.PermRW},
				{IOVA: 0x4000, Size: 0x4000, Addr: 0x40000, Perm: notifier.PermRW},
			},
		},
		{
			name: "one unmap covers several whole mappings; an unmap of nothing succeeds",
			c:    &Type1{},
			steps: []step{
				{ev: mapEv(0x1000, 0x1000, 0x10000)},
				{ev: mapEv(0x2000, 0x2000, 0x20000)},
				{ev: mapEv(0x8000, 0x1000, 0x80000)},
				{ev: mapEv(0x10000, 0x1000, 0x90000)},
				{ev: unmapEv(0x0, 0x10000)},
				{ev: unmapEv(0x20000, 0x1000)},
			},
			want:  []Mapping{{IOVA: 0x10000, Size: 0x1000, Addr: 0x90000, Perm: notifier.PermRW}},
			empty: 1,
		},
		{
			name: "zero size, misalignment, wrap, permission",
			c:    &Type1{},
			steps: []step{
				{ev: mapEv(0x1000, 0, 0x1000), errno: unix.EINVAL, reason: ErrZeroSize},
				{ev: mapEv(0x1800, 0x1000, 0x1000), errno: unix.EINVAL, reason: ErrUnaligned},
				{ev: mapEv(0x1000, 0x800, 0x1000), errno: unix.EINVAL, reason: ErrUnaligned},
				{ev: mapEv(0x1000, 0x1000, 0x1800), errno: unix.EINVAL, reason: ErrUnaligned},
				{ev: mapEv(max64-0xfff, 0x2000, 0x1000), errno: unix.EINVAL, reason: ErrWrap},
				{ev: mapEv(0x1000, 0x2000, max64-0xfff), errno: unix.EINVAL, reason: ErrWrap},
				{ev: notifier.Event{Kind: notifier.Map, IOVA: 0x1000, Size: 0x1000}, errno: unix.EINVAL, reason: ErrPerm},
				{ev: notifier.Event{Kind: notifier.Map, IOVA: 0x1000, Size: 0x1000, Perm: 4}, errno: unix.EINVAL, reason: ErrPerm},
				{ev: unmapEv(0x1000, 0), errno: unix.EINVAL, reason: ErrZeroSize},
				{ev: unmapEv(0x1800, 0x1000), errno: unix.EINVAL, reason: ErrUnaligned},
				{ev: unmapEv(0x1000, 0x1800), errno: unix.EINVAL, reason: ErrUnaligned},
				{ev: unmapEv(max64-0xfff, 0x2000), errno: unix.EINVAL, reason: ErrWrap},
				{ev: mapEv(max64-0xfff, 0x1000, 0x5000)}, // the last page of the space
			},
			want: []Mapping{{IOVA: max64 - 0xfff, Size: 0x1000, Addr: 0x5000, Perm: notifier.PermRW}},
		},
		{
			name: "dma_entry_limit",
			c:    &Type1{Limit: 3},
			steps: []step{
				{ev: mapEv(0x1000, 0x1000, 0x1000)},
				{ev: mapEv(0x2000, 0x1000, 0x2000)},
				{ev: mapEv(0x3000, 0x1000, 0x3000)},
				{ev: mapEv(0x4000, 0x1000, 0x4000), errno: unix.ENOSPC, reason: ErrLimit},
				{ev: mapEv(0x3000, 0x1000, 0x3000), errno: unix.EEXIST, reason: ErrOverlap}, // EEXIST is checked first
				{ev: unmapEv(0x1000, 0x1000)},
				{ev: mapEv(0x4000, 0x1000, 0x4000)},
			},
			want: []Mapping{
				{IOVA: 0x2000, Size: 0x1000, Addr: 0x2000, Perm: notifier.PermRW},
				{IOVA: 0x3000, Size: 0x1000, Addr: 0x3000, Perm: notifier.PermRW},
				{IOVA: 0x4000, Size: 0x1000, Addr: 0x4000, Perm: notifier.PermRW},
			},
		},
		{
			name: "reserved MSI window",
			c:    &Type1{Reserved: []Range{X86MSIWindow}},
			steps: []step{
				{ev: mapEv(0xfed00000, 0x200000, 0x1000000), errno: unix.EINVAL, reason: ErrReserved, conflict: 0xfee00000},
				{ev: mapEv(0xfed00000, 0x100000, 0x1000000)},
				{ev: mapEv(0xfef00000, 0x100000, 0x2000000)},
			},
			want: []Mapping{
				{IOVA: 0xfed00000, Size: 0x100000, Addr: 0x1000000, Perm: notifier.PermRW},
				{IOVA: 0xfef00000, Size: 0x100000, Addr: 0x2000000, Perm: notifier.PermRW},
			},
		},
		{
			name: "page-size bitmap: the lowest bit is the alignment",
			c:    &Type1{PageSize: 1<<30 | 1<<21 | 1<<16},
			steps: []step{
				{ev: mapEv(0x1000, 0x1000, 0x1000), errno: unix.EINVAL, reason: ErrUnaligned},
				{ev: mapEv(0x10000, 0x10000, 0x10000)},
				{ev: unmapEv(0x10000, 0x1000), errno: unix.EINVAL, reason: ErrUnaligned},
			},
			want: []Mapping{{IOVA: 0x10000, Size: 0x10000, Addr: 0x10000, Perm: notifier.PermRW}},
		},
		{
			name: "device-IOTLB invalidation has no type1 operation",
			c:    &Type1{},
			steps: []step{
				{ev: notifier.Event{Kind: notifier.DevIOTLBUnmap, IOVA: 0x1000, Size: 0x1000}, errno: unix.EINVAL, reason: ErrKind},
				{ev: notifier.Event{Kind: 0x40, IOVA: 0x1000, Size: 0x1000}, errno: unix.EINVAL, reason: ErrKind},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, tt.c, tt.steps)
			got := tt.c.Mappings()
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("mappings (-want +got):\n%s", diff)
			}
			if tt.c.Len() != len(tt.want) {
				t.Errorf("Len() = %d, want %d", tt.c.Len(), len(tt.want))
			}
			checkCounts(t, tt.c, tt.steps, tt.empty)
		})
	}
}

// checkCounts verifies the counters against the steps.
func checkCounts(t *testing.T, c checkerUnderTest, steps []step, empty uint64) {
	t.Helper()
	var want Counts
	for _, s := range steps {
		switch s.ev.Kind {
		case notifier.Map:
			want.Maps++
		case notifier.Unmap:
			want.Unmaps++
		case notifier.DevIOTLBUnmap:
			want.DevIOTLBUnmaps++
		default:
			want.Other++
		}
		if s.errno != 0 {
			want.Violations++
		}
	}
	want.EmptyUnmaps = empty
	if got := c.Counts(); got != want {
		t.Errorf("Counts() = %+v, want %+v", got, want)
	}
	if got := uint64(len(c.Violations())); got != want.Violations {
		t.Errorf("%d violations kept, want %d", got, want.Violations)
	}
	if (c.Err() == nil) != (want.Violations == 0) {
		t.Errorf("Err() = %v with %d violations", c.Err(), want.Violations)
	}
}

func TestLookup(t *testing.T) {
	c := &Type1{}
	runSteps(t, c, []step{{ev: mapEv(0x4000, 0x2000, 0x9000)}})
	tests := []struct {
		iova uint64
		ok   bool
	}{{0x3fff, false}, {0x4000, true}, {0x5fff, true}, {0x6000, false}}
	for _, tt := range tests {
		m, ok := c.Lookup(tt.iova)
		if ok != tt.ok || ok && m.IOVA != 0x4000 {
			t.Errorf("Lookup(%#x) = %v, %v; want ok=%v", tt.iova, m, ok, tt.ok)
		}
	}
}

func TestViolationsAreCapped(t *testing.T) {
	c := &Type1{}
	for i := range MaxKept + 10 {
		c.Notify(mapEv(uint64(i)*0x1000+1, 0x1000, 0)) // unaligned
	}
	if n := len(c.Violations()); n != MaxKept {
		t.Errorf("%d violations kept, want %d", n, MaxKept)
	}
	if got := c.Counts().Violations; got != MaxKept+10 {
		t.Errorf("Counts().Violations = %d, want %d", got, MaxKept+10)
	}
	err := c.Err()
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), fmt.Sprint(MaxKept+10)) || !strings.Contains(err.Error(), "0x1") {
		t.Errorf("Err() = %v, want a summary of %d violations wrapping the first", err, MaxKept+10)
	}
}

func TestType1Concurrent(t *testing.T) {
	c := &Type1{}
	var wg sync.WaitGroup
	for g := range uint64(4) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := g << 32
			for i := range uint64(500) {
				if err := c.Notify(mapEv(base+i*0x1000, 0x1000, i*0x1000)); err != nil {
					t.Error(err)
				}
				if i%2 == 1 {
					if err := c.Notify(unmapEv(base+(i-1)*0x1000, 0x1000)); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if c.Len() != 4*250 || c.Err() != nil {
		t.Errorf("Len %d Err %v, want 1000 and nil", c.Len(), c.Err())
	}
}

func TestCoalesce(t *testing.T) {
	rw, r := notifier.PermRW, notifier.PermRead
	tests := []struct {
		name    string
		in, out []Mapping
	}{
		{"empty", nil, nil},
		{
			"adjacent in IOVA and address merge",
			[]Mapping{{0x1000, 0x1000, 0x5000, rw}, {0x2000, 0x2000, 0x6000, rw}, {0x4000, 0x1000, 0x8000, rw}},
			[]Mapping{{0x1000, 0x4000, 0x5000, rw}},
		},
		{
			"a hole, an address jump, a permission change",
			[]Mapping{{0x1000, 0x1000, 0x5000, rw}, {0x3000, 0x1000, 0x7000, rw}, {0x4000, 0x1000, 0x9000, rw}, {0x5000, 0x1000, 0xa000, r}},
			[]Mapping{{0x1000, 0x1000, 0x5000, rw}, {0x3000, 0x1000, 0x7000, rw}, {0x4000, 0x1000, 0x9000, rw}, {0x5000, 0x1000, 0xa000, r}},
		},
		{
			"the two halves of the space do not merge into a size that overflows",
			[]Mapping{{0, 1 << 63, 0, rw}, {1 << 63, 1 << 63, 1 << 63, rw}},
			[]Mapping{{0, 1 << 63, 0, rw}, {1 << 63, 1 << 63, 1 << 63, rw}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]Mapping(nil), tt.in...)
			if diff := cmp.Diff(tt.out, Coalesce(in)); diff != "" {
				t.Errorf("Coalesce (-want +got):\n%s", diff)
			}
			if !cmp.Equal(in, tt.in) {
				t.Errorf("Coalesce modified its input")
			}
		})
	}
}

func BenchmarkType1MapUnmap(b *testing.B) {
	c := &Type1{}
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		iova := (i % 4096) << 12
		c.Notify(mapEv(iova, 0x1000, iova))
		c.Notify(unmapEv(iova, 0x1000))
		i++
	}
	if c.Err() != nil {
		b.Fatal(c.Err())
	}
}
