package launch

import "bytes"

// Scanner finds the first occurrence of a marker in a byte stream fed to it
// in chunks of any size, including occurrences split across chunks. It
// keeps only the last len(marker)-1 bytes between calls and allocates
// nothing after its first few calls. The zero value never matches.
type Scanner struct {
	marker []byte
	tail   []byte // last len(marker)-1 bytes fed, at most
	join   []byte // scratch: tail + the head of the next chunk
	n      int64  // bytes fed so far
	at1    int64  // 1 + stream offset of the first match, 0 before
}

// NewScanner returns a Scanner for marker. An empty marker never matches.
func NewScanner(marker string) *Scanner {
	return &Scanner{marker: []byte(marker)}
}

// Feed scans the next chunk p of the stream. It returns true exactly once:
// for the chunk that completes the first occurrence of the marker.
func (s *Scanner) Feed(p []byte) bool {
	defer func() { s.n += int64(len(p)) }()
	if s.at1 > 0 || len(s.marker) == 0 {
		return false
	}
	keep := len(s.marker) - 1
	if len(s.tail) > 0 {
		// an occurrence that starts in the tail ends within p[:keep]
		s.join = append(append(s.join[:0], s.tail...), p[:min(len(p), keep)]...)
		if i := bytes.Index(s.join, s.marker); i >= 0 {
			s.at1 = s.n - int64(len(s.tail)) + int64(i) + 1
			return true
		}
	}
	if i := bytes.Index(p, s.marker); i >= 0 {
		s.at1 = s.n + int64(i) + 1
		return true
	}
	if len(p) >= keep {
		s.tail = append(s.tail[:0], p[len(p)-keep:]...)
	} else {
		s.tail = append(s.tail, p...)
		if extra := len(s.tail) - keep; extra > 0 {
			s.tail = s.tail[:copy(s.tail, s.tail[extra:])]
		}
	}
	return false
}

// Offset returns the stream offset of the first occurrence's first byte, or
// -1 when the marker has not been seen.
func (s *Scanner) Offset() int64 { return s.at1 - 1 }
