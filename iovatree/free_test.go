package iovatree

import (
	"errors"
	"strings"
	"testing"
)

func TestFindAddr(t *testing.T) {
	tr := build(t,
		mp(0x1000, 0x1000, 0x50000, PermRW),
		mp(0x8000, 0x1000, 0x50000, PermRead), // aliases the first: lowest IOVA wins
		mp(0x9000, 0x2000, 0x60000, PermRW),
		mp(0xa0000, 1, maxU, PermRW),
	)
	tests := []struct {
		addr uint64
		want uint64 // IOVA of the expected mapping
		ok   bool
	}{
		{0x50000, 0x1000, true},
		{0x50fff, 0x1000, true},
		{0x51000, 0, false},
		{0x61fff, 0x9000, true},
		{0x62000, 0, false},
		{maxU, 0xa0000, true},
		{0, 0, false},
	}
	for _, tc := range tests {
		got, ok := tr.FindAddr(tc.addr)
		if ok != tc.ok || (ok && got.IOVA != tc.want) {
			t.Errorf("FindAddr(%#x) = %v, %v; want IOVA %#x, %v", tc.addr, got, ok, tc.want, tc.ok)
		}
	}
}

func TestFreeRange(t *testing.T) {
	tr := build(t,
		mp(0, 0x1000, 0, PermRW),
		mp(0x2000, 0x1000, 0, PermRW),
		mp(0x3000, 0x5000, 0, PermRW),
		mp(maxU-0xfff, 0x1000, 0, PermRW),
	)
	tests := []struct {
		name               string
		lo, hi, size, alig uint64
		want               uint64
		err                error
	}{
		{"first hole", 0, maxU, 0x1000, 0x1000, 0x1000, nil},
		{"too big for the first hole", 0, maxU, 0x1001, 1, 0x8000, nil},
		{"alignment skips ahead", 0, maxU, 0x1000, 0x10000, 0x10000, nil},
		{"align 0 means 1", 0x1800, maxU, 0x100, 0, 0x1800, nil},
		{"non power of two alignment", 0x8002, maxU, 1, 3, 0x8004, nil},
		{"hi is inclusive", 0x1000, 0x1fff, 0x1000, 1, 0x1000, nil},
		{"hi one short", 0x1000, 0x1ffe, 0x1000, 1, 0, ErrNoSpace},
		{"lo above hi", 0x2000, 0x1000, 1, 1, 0, ErrNoSpace},
		{"zero size", 0, maxU, 0, 1, 0, ErrZeroSize},
		{"nothing above the top mapping", maxU - 0xfff, maxU, 1, 1, 0, ErrNoSpace},
		{"just below the top mapping", maxU - 0x1fff, maxU, 0x1000, 0x1000, maxU - 0x1fff, nil},
		{"alignment rounds past 2^64", maxU - 0x10, maxU, 1, 1 << 63, 0, ErrNoSpace},
		{"size 2^64-1 never fits", 0, maxU, maxU, 1, 0, ErrNoSpace},
		{"half the space", 0, maxU, 1 << 63, 1 << 63, 1 << 63, ErrNoSpace}, // the top mapping is in the way
		{"below 2^63", 0x10000, 1<<63 - 1, 1 << 62, 1 << 62, 1 << 62, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tr.FreeRange(tc.lo, tc.hi, tc.size, tc.alig)
			if !errors.Is(err, tc.err) || (err == nil && got != tc.want) {
				t.Fatalf("FreeRange(%#x, %#x, %#x, %#x) = %#x, %v; want %#x, %v", tc.lo, tc.hi, tc.size, tc.alig, got, err, tc.want, tc.err)
			}
			if err != nil {
				var re *RangeError
				if !errors.As(err, &re) || re.Lo != tc.lo || re.Hi != tc.hi || re.Size != tc.size {
					t.Errorf("error %#v does not name the request", err)
				}
				if !strings.Contains(err.Error(), "free range") {
					t.Errorf("message %q", err)
				}
				return
			}
			if _, hit := tr.Overlap(got, tc.size); hit {
				t.Errorf("FreeRange returned %#x, which is mapped", got)
			}
		})
	}
	var empty Tree
	if a, err := empty.FreeRange(0, maxU, maxU, 1); err != nil || a != 0 {
		t.Errorf("empty tree: FreeRange(whole space) = %#x, %v", a, err)
	}
}
