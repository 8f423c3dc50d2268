// Package options splits device option strings such as
// "aw-bits=48,caching-mode=on" (the part after the device name in
// --iommu vtd,...) into key=value pairs, the one syntax every govmm device
// option follows.
package options

import (
	"errors"
	"fmt"
	"strings"
)

// Pair is one key=value option.
type Pair struct {
	Key, Value string
}

// ErrSyntax is wrapped by Split's errors.
var ErrSyntax = errors.New("bad option")

// Split parses a comma-separated list of key=value pairs, in order. Blank
// space around each option is ignored; the empty string has no options. An
// option without "=" or with an empty key, and a key given twice, are
// errors wrapping ErrSyntax that name the option.
func Split(s string) ([]Pair, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var ps []Pair
	seen := map[string]bool{}
	for _, opt := range strings.Split(s, ",") {
		opt = strings.TrimSpace(opt)
		key, val, ok := strings.Cut(opt, "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("%w: option %q is not key=value", ErrSyntax, opt)
		}
		if seen[key] {
			return nil, fmt.Errorf("%w: option %q given twice", ErrSyntax, key)
		}
		seen[key] = true
		ps = append(ps, Pair{key, val})
	}
	return ps, nil
}

// OnOff parses the value of an on|off option.
func (p Pair) OnOff() (bool, error) {
	switch p.Value {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, fmt.Errorf("%w: %s=%q, want on or off", ErrSyntax, p.Key, p.Value)
}

// OnOff formats b as an on|off option value.
func OnOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
