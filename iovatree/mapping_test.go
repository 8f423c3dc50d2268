package iovatree

import "testing"

func TestStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{PermNone.String(), "--"},
		{PermRead.String(), "r-"},
		{PermWrite.String(), "-w"},
		{PermRW.String(), "rw"},
		{Perm(9).String(), "perm(0x9)"},
		{mp(0x1000, 0x1000, 0x5000, PermRW).String(), "[0x1000, 0x1fff] -> 0x5000 rw"},
		{mp(maxU, 1, 0, PermRead).String(), "[0xffffffffffffffff, 0xffffffffffffffff] -> 0x0 r-"},
		{mp(7, 0, 0, PermRead).String(), "[0x7, +0) -> 0x0 r-"},
		{(&RangeError{Op: "free range", Size: 0x1000, Lo: 1, Hi: 2, Align: 4, Err: ErrNoSpace}).Error(),
			"iovatree: free range of size 0x1000 aligned to 0x4 in [0x1, 0x2]: iovatree: no free range"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestMappingHelpers(t *testing.T) {
	m := mp(maxU-0xfff, 0x1000, 0x40000, PermRW)
	tests := []struct {
		iova uint64
		in   bool
		tr   uint64
	}{
		{maxU - 0x1000, false, 0},
		{maxU - 0xfff, true, 0x40000},
		{maxU, true, 0x40fff},
	}
	for _, tc := range tests {
		if got := m.Contains(tc.iova); got != tc.in {
			t.Errorf("Contains(%#x) = %v", tc.iova, got)
		}
		if tc.in && m.Translate(tc.iova) != tc.tr {
			t.Errorf("Translate(%#x) = %#x, want %#x", tc.iova, m.Translate(tc.iova), tc.tr)
		}
	}
	if m.Last() != maxU {
		t.Errorf("Last() = %#x", m.Last())
	}
	if (Mapping{IOVA: 5}).Contains(5) {
		t.Error("a zero-size mapping contains nothing")
	}
}
