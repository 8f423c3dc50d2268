package eventlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/govmm/govmm/notifier"
)

// Record is one line of a log: the event and its t_ns timestamp
// (nanoseconds since the Log was created).
type Record struct {
	TNS   int64
	Event notifier.Event
}

// ErrSyntax is wrapped by ParseRecord and ReadAll for a line that is not a
// valid record.
var ErrSyntax = errors.New("eventlog: invalid record")

// appendRecord appends r as one JSON line, newline included, without
// allocating.
func appendRecord(b []byte, r Record) []byte {
	ev := r.Event
	b = append(b, `{"kind":"`...)
	b = append(b, ev.Kind.String()...)
	b = append(b, `","sid":`...)
	b = strconv.AppendUint(b, uint64(ev.SID), 10)
	b = append(b, `,"iova":"`...)
	b = appendHex(b, ev.IOVA)
	b = append(b, `","size":"`...)
	b = appendHex(b, ev.Size)
	b = append(b, `","addr":"`...)
	b = appendHex(b, ev.Addr)
	b = append(b, `","perm":"`...)
	b = append(b, permName(ev.Perm)...)
	b = append(b, `","t_ns":`...)
	b = strconv.AppendInt(b, r.TNS, 10)
	return append(b, "}\n"...)
}

func appendHex(b []byte, v uint64) []byte {
	b = append(b, "0x"...)
	return strconv.AppendUint(b, v, 16)
}

// permName is the perm field: "r", "w", "rw", "" for none.
func permName(p notifier.Perm) string {
	if p == 0 {
		return ""
	}
	return p.String()
}

// wire is the JSON shape of a line, for parsing. Pointers tell a missing
// field from a zero one.
type wire struct {
	Kind *string `json:"kind"`
	SID  *uint32 `json:"sid"`
	IOVA *string `json:"iova"`
	Size *string `json:"size"`
	Addr *string `json:"addr"`
	Perm *string `json:"perm"`
	TNS  *int64  `json:"t_ns"`
}

// ParseRecord parses one line of a log (with or without its trailing
// newline). Every field must be present with the type and spelling the
// package documentation gives; unknown fields are ignored. Errors wrap
// ErrSyntax and quote the offending field.
func ParseRecord(line []byte) (Record, error) {
	var w wire
	if err := json.Unmarshal(bytes.TrimRight(line, "\r\n"), &w); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	if w.Kind == nil || w.SID == nil || w.IOVA == nil || w.Size == nil || w.Addr == nil || w.Perm == nil || w.TNS == nil {
		return Record{}, fmt.Errorf("%w: missing field (need kind, sid, iova, size, addr, perm, t_ns)", ErrSyntax)
	}
	var r Record
	r.TNS = *w.TNS
	r.Event.SID = *w.SID
	switch *w.Kind {
	case "map":
		r.Event.Kind = notifier.Map
	case "unmap":
		r.Event.Kind = notifier.Unmap
	case "deviotlb_unmap":
		r.Event.Kind = notifier.DevIOTLBUnmap
	default:
		return Record{}, fmt.Errorf("%w: kind %q", ErrSyntax, *w.Kind)
	}
	switch *w.Perm {
	case "":
	case "r":
		r.Event.Perm = notifier.PermRead
	case "w":
		r.Event.Perm = notifier.PermWrite
	case "rw":
		r.Event.Perm = notifier.PermRW
	default:
		return Record{}, fmt.Errorf("%w: perm %q", ErrSyntax, *w.Perm)
	}
	var err error
	if r.Event.IOVA, err = parseHex("iova", *w.IOVA); err != nil {
		return Record{}, err
	}
	if r.Event.Size, err = parseHex("size", *w.Size); err != nil {
		return Record{}, err
	}
	if r.Event.Addr, err = parseHex("addr", *w.Addr); err != nil {
		return Record{}, err
	}
	return r, nil
}

// parseHex parses "0x" followed by 1 to 16 hexadecimal digits.
func parseHex(field, s string) (uint64, error) {
	if len(s) < 3 || len(s) > 18 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return 0, fmt.Errorf("%w: %s %q is not 0x followed by 1 to 16 hex digits", ErrSyntax, field, s)
	}
	v, err := strconv.ParseUint(s[2:], 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q is not 0x followed by 1 to 16 hex digits", ErrSyntax, field, s)
	}
	return v, nil
}

// ReadAll parses every line of r as a record, skipping empty lines. An
// error names the line number (from 1) and wraps ErrSyntax, or the reader's
// error; the records before it are returned with it.
func ReadAll(r io.Reader) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		rec, err := ParseRecord(line)
		if err != nil {
			return out, fmt.Errorf("eventlog: line %d: %w", n, err)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("eventlog: after %d records: %w", len(out), err)
	}
	return out, nil
}
