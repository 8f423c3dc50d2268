package aml

import (
	"fmt"
	"strings"
)

// AML name-string prefixes (ACPI 6.5 §20.2.2, "Name Objects Encoding").
const (
	rootChar        = '\\'
	parentPrefix    = '^'
	dualNamePrefix  = 0x2E
	multiNamePrefix = 0x2F
	nullName        = 0x00
)

// AppendNameString appends the NameString encoding (ACPI 6.5 §20.2.2) of an
// ASL path such as "_SB_", "\_SB.PCI0", "^COM1" or "PCI0._CRS".
//
// A path is an optional root prefix "\" or any number of parent prefixes "^",
// then zero or more name segments separated by dots. A segment is 1-4
// characters from [A-Z0-9_] whose first character is not a digit; shorter
// segments are padded with "_" as ASL does ("_SB" is "_SB_"). The encoding
// is the prefix bytes followed by NullName (no segment), the segment
// (one), DualNamePrefix and two segments, or MultiNamePrefix, a count and
// 3-255 segments. An empty path, lower-case letters, an over-long segment or
// more than 255 segments are errors.
func AppendNameString(dst []byte, path string) ([]byte, error) {
	if path == "" {
		return dst, fmt.Errorf("aml: empty name path")
	}
	rest := path
	switch {
	case rest[0] == rootChar:
		dst = append(dst, rootChar)
		rest = rest[1:]
	default:
		for len(rest) > 0 && rest[0] == parentPrefix {
			dst = append(dst, parentPrefix)
			rest = rest[1:]
		}
	}
	if rest == "" {
		if path[0] != rootChar {
			return dst, fmt.Errorf("aml: name path %q has no name segment", path)
		}
		return append(dst, nullName), nil
	}
	segs := strings.Split(rest, ".")
	switch {
	case len(segs) == 2:
		dst = append(dst, dualNamePrefix)
	case len(segs) > 2:
		if len(segs) > 255 {
			return dst, fmt.Errorf("aml: name path %q has %d segments, more than 255", path, len(segs))
		}
		dst = append(dst, multiNamePrefix, byte(len(segs)))
	}
	for _, s := range segs {
		var err error
		if dst, err = appendNameSeg(dst, s, path); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// appendNameSeg appends one 4-byte NameSeg, padding s with '_'.
func appendNameSeg(dst []byte, s, path string) ([]byte, error) {
	if len(s) < 1 || len(s) > 4 {
		return dst, fmt.Errorf("aml: name segment %q in %q must be 1-4 characters", s, path)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			return dst, fmt.Errorf("aml: name segment %q in %q: character %q is not allowed (want [A-Z_][A-Z0-9_]*)", s, path, c)
		}
	}
	dst = append(dst, s...)
	for i := len(s); i < 4; i++ {
		dst = append(dst, '_')
	}
	return dst, nil
}

// Path is a reference to a named object used as a data value, for example
// the Source element of a _PRT entry or a package element that names a
// device. It encodes as a NameString (ACPI 6.5 §20.2.2).
type Path string

// AppendAML appends the NameString of p.
func (p Path) AppendAML(dst []byte) ([]byte, error) { return AppendNameString(dst, string(p)) }
