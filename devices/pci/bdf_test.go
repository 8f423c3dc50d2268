package pci

import "testing"

func TestBDF(t *testing.T) {
	tests := []struct {
		b     BDF
		rid   uint16
		str   string
		valid bool
	}{
		{BDF{}, 0, "00:00.0", true},
		{BDF{Device: 3}, 0x0018, "00:03.0", true},
		{BDF{Bus: 0x12, Device: 0x1f, Function: 7}, 0x12ff, "12:1f.7", true},
		{BDF{Bus: 0xff, Device: 1, Function: 2}, 0xff0a, "ff:01.2", true},
	}
	for _, tc := range tests {
		if got := tc.b.RequesterID(); got != tc.rid {
			t.Errorf("%v.RequesterID() = %#x, want %#x", tc.b, got, tc.rid)
		}
		if got := tc.b.String(); got != tc.str {
			t.Errorf("String() = %q, want %q", got, tc.str)
		}
		if got := BDFFromRequesterID(tc.rid); got != tc.b {
			t.Errorf("BDFFromRequesterID(%#x) = %v, want %v", tc.rid, got, tc.b)
		}
		if got, err := ParseBDF(tc.str); err != nil || got != tc.b {
			t.Errorf("ParseBDF(%q) = %v, %v", tc.str, got, err)
		}
		if tc.b.Valid() != tc.valid {
			t.Errorf("%v.Valid() = %v", tc.b, !tc.valid)
		}
	}
	for _, b := range []BDF{{Device: 32}, {Function: 8}} {
		if b.Valid() {
			t.Errorf("%+v is valid", b)
		}
	}
}

func TestParseBDF(t *testing.T) {
	tests := []struct {
		in   string
		want BDF
		ok   bool
	}{
		{"03.0", BDF{Device: 3}, true},
		{"1f.7", BDF{Device: 0x1f, Function: 7}, true},
		{"00:1f.7", BDF{Device: 0x1f, Function: 7}, true},
		{"ff:00.1", BDF{Bus: 0xff, Function: 1}, true},
		{"20.0", BDF{}, false},
		{"00.8", BDF{}, false},
		{"100:00.0", BDF{}, false},
		{"00:00", BDF{}, false},
		{"", BDF{}, false},
		{"x:00.0", BDF{}, false},
		{"00:0g.0", BDF{}, false},
		{"00:00.", BDF{}, false},
	}
	for _, tc := range tests {
		got, err := ParseBDF(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseBDF(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
