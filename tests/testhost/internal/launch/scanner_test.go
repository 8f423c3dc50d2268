package launch

import (
	"bytes"
	"strings"
	"testing"
)

func TestScanner(t *testing.T) {
	tests := []struct {
		name   string
		marker string
		chunks []string
		at     int64 // offset of the first match, -1 for none
		hit    int   // index of the chunk that completes it, -1 for none
	}{
		{"one chunk", "MARK", []string{"xxMARKyy"}, 2, 0},
		{"split in two", "MARK", []string{"xxMA", "RKyy"}, 2, 1},
		{"split byte by byte", "MARK", []string{"M", "A", "R", "K"}, 0, 3},
		{"split over three with empty chunks", "MARK", []string{"aM", "", "AR", "", "Kz"}, 1, 4},
		{"first of two", "MARK", []string{"MARK", "MARK"}, 0, 0},
		{"second chunk has it", "MARK", []string{"MAR", "x", "MARK"}, 4, 2},
		{"false start", "MARK", []string{"MAMA", "RK"}, 2, 1},
		{"overlapping prefix", "aab", []string{"aaa", "ab"}, 2, 1},
		{"absent", "MARK", []string{"MAR", "x-", "MARX", "ARK"}, -1, -1},
		{"empty marker never matches", "", []string{"anything"}, -1, -1},
		{"one-byte marker", "!", []string{"abc", "d!e"}, 4, 1},
		{"long tail kept", "0123456789", []string{"xx012345", "67", "89"}, 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewScanner(tc.marker)
			hit := -1
			for i, c := range tc.chunks {
				if s.Feed([]byte(c)) {
					if hit >= 0 {
						t.Fatalf("Feed reported the marker twice (chunks %d and %d)", hit, i)
					}
					hit = i
				}
			}
			if hit != tc.hit || s.Offset() != tc.at {
				t.Errorf("hit chunk %d at offset %d, want chunk %d at %d", hit, s.Offset(), tc.hit, tc.at)
			}
			// the answer must agree with a search over the whole stream
			whole := strings.Join(tc.chunks, "")
			want := int64(-1)
			if tc.marker != "" {
				want = int64(strings.Index(whole, tc.marker))
			}
			if s.Offset() != want {
				t.Errorf("offset %d, strings.Index says %d", s.Offset(), want)
			}
		})
	}
}

func TestScannerZeroValue(t *testing.T) {
	var s Scanner
	if s.Feed([]byte("anything")) || s.Offset() != -1 {
		t.Errorf("zero Scanner matched (offset %d)", s.Offset())
	}
}

// FuzzScanner feeds guest console output in arbitrary chunks and compares
// with a search over the whole stream.
func FuzzScanner(f *testing.F) {
	f.Add([]byte("xxINIT-MARKyy"), "INIT-MARK", []byte{3, 1, 7})
	f.Add([]byte("aaaab"), "aab", []byte{1, 1, 1, 1, 1})
	f.Add([]byte("\r\nGOVMM-BOOT-INIT\r\n"), "GOVMM-BOOT-INIT", []byte{0, 5})
	f.Add([]byte{}, "x", []byte{})
	f.Fuzz(func(t *testing.T, data []byte, marker string, cuts []byte) {
		s := NewScanner(marker)
		hits := 0
		rest := data
		for _, c := range cuts {
			n := min(int(c), len(rest))
			if s.Feed(rest[:n]) {
				hits++
			}
			rest = rest[n:]
		}
		if s.Feed(rest) {
			hits++
		}
		want := int64(-1)
		if marker != "" {
			want = int64(bytes.Index(data, []byte(marker)))
		}
		if s.Offset() != want {
			t.Fatalf("offset %d, bytes.Index says %d", s.Offset(), want)
		}
		if (want >= 0) != (hits == 1) || hits > 1 {
			t.Fatalf("%d hits for offset %d", hits, want)
		}
	})
}

// BenchmarkScanner is the launcher's per-read cost on console output.
func BenchmarkScanner(b *testing.B) {
	chunk := bytes.Repeat([]byte("[    0.123456] some kernel message about a device\r\n"), 80)
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	s := NewScanner("GOVMM-BOOT-INIT")
	for i := 0; i < b.N; i++ {
		s.Feed(chunk)
	}
	if s.Offset() != -1 {
		b.Fatal("false match")
	}
}
