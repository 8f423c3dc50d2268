package checker

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"

	"github.com/govmm/govmm/notifier"
)

func TestIOMMUFD(t *testing.T) {
	rw := notifier.PermRW
	tests := []struct {
		name  string
		c     *IOMMUFD
		steps []step
		want  []Mapping
		empty uint64
	}{
		{
			name: "overlapping map",
			c:    &IOMMUFD{},
			steps: []step{
				{ev: mapEv(0x1000, 0x2000, 0x10000)},
				{ev: mapEv(0x2000, 0x2000, 0x20000), errno: unix.EEXIST, reason: ErrOverlap, conflict: 0x1000},
			},
			want: []Mapping{{0x1000, 0x2000, 0x10000, rw}},
		},
		{
			name: "an unmap that splits an area stops there, after removing the whole areas before it",
			c:    &IOMMUFD{},
			steps: []step{
				{ev: mapEv(0x1000, 0x1000, 0x10000)},
				{ev: mapEv(0x2000, 0x2000, 0x20000)},
				{ev: mapEv(0x8000, 0x1000, 0x80000)},
				{ev: unmapEv(0x1000, 0x2000), errno: unix.ENOENT, reason: ErrBisect, conflict: 0x2000},
				{ev: unmapEv(0x3000, 0x6000), errno: unix.ENOENT, reason: ErrBisect, conflict: 0x2000},
			},
			want: []Mapping{{0x2000, 0x2000, 0x20000, rw}, {0x8000, 0x1000, 0x80000, rw}},
		},
		{
			name: "an unmap of nothing is ENOENT",
			c:    &IOMMUFD{},
			steps: []step{
				{ev: mapEv(0x1000, 0x1000, 0x10000)},
				{ev: unmapEv(0x2000, 0x1000), errno: unix.ENOENT, reason: ErrNotMapped},
			},
			want: []Mapping{{0x1000, 0x1000, 0x10000, rw}},
		},
		{
			name: "an unmap of nothing accepted when the consumer ignores that ENOENT",
			c:    &IOMMUFD{EmptyUnmapOK: true},
			steps: []step{
				{ev: mapEv(0x1000, 0x1000, 0x10000)},
				{ev: mapEv(0x4000, 0x1000, 0x40000)},
				{ev: unmapEv(0x2000, 0x1000)},
				{ev: unmapEv(0x3000, 0x1800), errno: unix.ENOENT, reason: ErrBisect, conflict: 0x4000},
				{ev: unmapEv(0x1000, 0x2000)},
			},
			want:  []Mapping{{0x4000, 0x1000, 0x40000, rw}},
			empty: 1,
		},
		{
			name: "unmap needs no alignment, only whole areas; unmap all always succeeds",
			c:    &IOMMUFD{},
			steps: []step{
				{ev: mapEv(0x1000, 0x1000, 0x10000)},
				{ev: mapEv(0x4000, 0x1000, 0x40000)},
				{ev: unmapEv(0x800, 0x1900)},
				{ev: unmapEv(0, max64)},
				{ev: unmapEv(0, max64)},
				{ev: mapEv(max64-0xfff, 0x1000, 0x5000)},
			},
			want:  []Mapping{{max64 - 0xfff, 0x1000, 0x5000, rw}},
			empty: 1,
		},
		{
			name: "map checks in the kernel's order",
			c:    &IOMMUFD{},
			steps: []step{
				{ev: notifier.Event{Kind: notifier.Map, IOVA: max64, Size: 0x1000, Perm: 4}, errno: unix.EOPNOTSUPP, reason: ErrPerm},
				{ev: mapEv(max64, 0x1000, 0x1000), errno: unix.EOVERFLOW, reason: ErrWrap},
				{ev: mapEv(0x1000, max64, 0x1000), errno: unix.EOVERFLOW, reason: ErrWrap},
				{ev: notifier.Event{Kind: notifier.Map, IOVA: 0x1000, Size: 0x1000}, errno: unix.EINVAL, reason: ErrPerm},
				{ev: mapEv(0x1000, 0, 0x1000), errno: unix.EINVAL, reason: ErrZeroSize},
				{ev: mapEv(0x1000, max64-0x800, 0x1000), errno: unix.EINVAL, reason: ErrWrap},
				{ev: mapEv(0x1000, 0x2000, max64-0xfff), errno: unix.EOVERFLOW, reason: ErrWrap},
				{ev: mapEv(0x1000, 0x800, 0x1000), errno: unix.EINVAL, reason: ErrUnaligned},
				{ev: mapEv(0x1800, 0x1000, 0x1000), errno: unix.EINVAL, reason: ErrUnaligned},
				{ev: mapEv(max64-0xfff, 0x2000, 0x1000), errno: unix.EOVERFLOW, reason: ErrWrap},
				{ev: mapEv(0x1000, 0x1000, 0x1800), errno: unix.EINVAL, reason: ErrUnaligned},
				{ev: unmapEv(max64, 1), errno: unix.EOVERFLOW, reason: ErrWrap},
				{ev: unmapEv(0x1000, 0), errno: unix.EINVAL, reason: ErrZeroSize},
				{ev: unmapEv(max64-0xfff, 0x2000), errno: unix.EOVERFLOW, reason: ErrWrap},
				{ev: notifier.Event{Kind: notifier.DevIOTLBUnmap, IOVA: 0x1000, Size: 0x1000}, errno: unix.EINVAL, reason: ErrKind},
			},
		},
		{
			name: "reserved range is checked before overlap",
			c:    &IOMMUFD{Reserved: []Range{X86MSIWindow}},
			steps: []step{
				{ev: mapEv(0xfee00000, 0x1000, 0x1000), errno: unix.EINVAL, reason: ErrReserved, conflict: 0xfee00000},
			},
		},
		{
			name: "64 KiB alignment",
			c:    &IOMMUFD{Alignment: 0x10000},
			steps: []step{
				{ev: mapEv(0x10000, 0x1000, 0x0), errno: unix.EINVAL, reason: ErrUnaligned},
				{ev: mapEv(0x10000, 0x10000, 0x30000)},
			},
			want: []Mapping{{0x10000, 0x10000, 0x30000, rw}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, tt.c, tt.steps)
			if diff := cmp.Diff(tt.want, tt.c.Mappings(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("mappings (-want +got):\n%s", diff)
			}
			if tt.c.Len() != len(tt.want) {
				t.Errorf("Len() = %d, want %d", tt.c.Len(), len(tt.want))
			}
			checkCounts(t, tt.c, tt.steps, tt.empty)
			for _, m := range tt.want {
				if got, ok := tt.c.Lookup(m.Last()); !ok || got != m {
					t.Errorf("Lookup(%#x) = %v, %v; want %v", m.Last(), got, ok, m)
				}
			}
		})
	}
}
