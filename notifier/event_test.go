package notifier

import "testing"

func TestKindString(t *testing.T) {
	tests := []struct {
		k    Kind
		want string
	}{
		{0, "none"},
		{Map, "map"},
		{Unmap, "unmap"},
		{DevIOTLBUnmap, "deviotlb_unmap"},
		{Map | Unmap, "map|unmap"},
		{AllKinds, "map|unmap|deviotlb_unmap"},
		{Unmap | 0x80, "unmap|kind(0x80)"},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("Kind(%#x).String() = %q, want %q", uint8(tt.k), got, tt.want)
		}
	}
}

func TestPermString(t *testing.T) {
	tests := []struct {
		p    Perm
		want string
	}{
		{0, "-"},
		{PermRead, "r"},
		{PermWrite, "w"},
		{PermRW, "rw"},
		{4, "perm(0x4)"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("Perm(%#x).String() = %q, want %q", uint8(tt.p), got, tt.want)
		}
	}
}

func TestEventStringAndLast(t *testing.T) {
	tests := []struct {
		ev       Event
		want     string
		wantLast uint64
	}{
		{Event{Kind: Map, SID: 0x10, IOVA: 0x1000, Size: 0x1000, Addr: 0x5000, Perm: PermRW},
			"map SID 0x10 IOVA [0x1000, 0x1fff] -> 0x5000 rw", 0x1fff},
		{Event{Kind: Unmap, SID: 0x8, IOVA: 0, Size: 1 << 63},
			"unmap SID 0x8 IOVA [0x0, 0x7fffffffffffffff]", 1<<63 - 1},
		{Event{Kind: DevIOTLBUnmap, IOVA: ^uint64(0), Size: 1},
			"deviotlb_unmap SID 0x0 IOVA [0xffffffffffffffff, 0xffffffffffffffff]", ^uint64(0)},
		{Event{Kind: Map, IOVA: 0x1000, Size: 0},
			"map SID 0x0 IOVA 0x1000 size 0 -> 0x0 -", 0xfff},
	}
	for _, tt := range tests {
		if got := tt.ev.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
		if got := tt.ev.Last(); got != tt.wantLast {
			t.Errorf("%v: Last() = %#x, want %#x", tt.ev, got, tt.wantLast)
		}
	}
}
