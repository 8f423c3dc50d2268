package eventlog

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/govmm/govmm/notifier"
)

func TestRecordRoundTrip(t *testing.T) {
	tests := []Record{
		{TNS: 0, Event: notifier.Event{Kind: notifier.Map, SID: 0, IOVA: 0, Size: 1, Addr: 0, Perm: notifier.PermRead}},
		{TNS: 1<<63 - 1, Event: notifier.Event{Kind: notifier.Map, SID: 1<<32 - 1, IOVA: 1<<64 - 1, Size: 1, Addr: 1<<64 - 1, Perm: notifier.PermRW}},
		{TNS: 42, Event: notifier.Event{Kind: notifier.Unmap, SID: 0x100, IOVA: 1 << 63, Size: 1 << 63}},
		{TNS: 7, Event: notifier.Event{Kind: notifier.DevIOTLBUnmap, SID: 3, IOVA: 0xabcdef000, Size: 0x1000}},
		{TNS: -5, Event: notifier.Event{Kind: notifier.Map, SID: 9, IOVA: 0x1000, Size: 0x1000, Addr: 0x2000, Perm: notifier.PermWrite}},
	}
	for _, want := range tests {
		line := appendRecord(nil, want)
		got, err := ParseRecord(line)
		if err != nil {
			t.Fatalf("ParseRecord(%s) = %v", line, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("round trip of %s (-want +got):\n%s", line, diff)
		}
	}
}

func TestParseRecordErrors(t *testing.T) {
	const good = `{"kind":"map","sid":16,"iova":"0x1000","size":"0x1000","addr":"0x2000","perm":"rw","t_ns":1}`
	tests := []struct {
		name, line, wantMsg string
	}{
		{"not JSON", `kind=map`, "invalid"},
		{"truncated", good[:40], "unexpected end"},
		{"missing field", `{"kind":"map","sid":16,"iova":"0x1000","size":"0x1000","addr":"0x2000","perm":"rw"}`, "missing field"},
		{"unknown kind", strings.Replace(good, `"map"`, `"MAP"`, 1), `kind "MAP"`},
		{"unknown perm", strings.Replace(good, `"rw"`, `"rwx"`, 1), `perm "rwx"`},
		{"iova as a number", strings.Replace(good, `"0x1000","size"`, `4096,"size"`, 1), "iova"},
		{"iova without 0x", strings.Replace(good, `"iova":"0x1000"`, `"iova":"1000"`, 1), `iova "1000"`},
		{"size not hex", strings.Replace(good, `"size":"0x1000"`, `"size":"0xg"`, 1), `size "0xg"`},
		{"addr too long", strings.Replace(good, `"addr":"0x2000"`, `"addr":"0x10000000000000000"`, 1), `addr "0x10000000000000000"`},
		{"empty hex", strings.Replace(good, `"addr":"0x2000"`, `"addr":"0x"`, 1), `addr "0x"`},
		{"signed hex", strings.Replace(good, `"addr":"0x2000"`, `"addr":"0x-1"`, 1), `addr "0x-1"`},
		{"sid out of range", strings.Replace(good, `"sid":16`, `"sid":4294967296`, 1), "sid"},
		{"negative sid", strings.Replace(good, `"sid":16`, `"sid":-1`, 1), "sid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRecord([]byte(tt.line))
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("ParseRecord(%s) = %v, want ErrSyntax", tt.line, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
		})
	}
}

func TestReadAllNamesTheLine(t *testing.T) {
	in := `{"kind":"unmap","sid":1,"iova":"0x0","size":"0x1000","addr":"0x0","perm":"","t_ns":1}

{"kind":"unmap","sid":1,"iova":"0x1000","size":"0x1000","addr":"0x0","perm":"","t_ns":2}
{"kind":"oops"}
`
	recs, err := ReadAll(strings.NewReader(in))
	if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("ReadAll = %v, want ErrSyntax at line 4", err)
	}
	if len(recs) != 2 {
		t.Errorf("%d records before the error, want 2", len(recs))
	}
}

// FuzzParseRecord: arbitrary bytes never panic, and whatever parses
// re-encodes to a line that parses to the same record.
func FuzzParseRecord(f *testing.F) {
	f.Add([]byte(`{"kind":"map","sid":16,"iova":"0x7f000","size":"0x1000","addr":"0x1234000","perm":"rw","t_ns":1532}`))
	f.Add([]byte(`{"kind":"deviotlb_unmap","sid":0,"iova":"0xFFFFFFFFFFFFFFFF","size":"0x1","addr":"0x0","perm":"","t_ns":-1,"extra":[1,2]}`))
	f.Add([]byte(`{"kind":"unmap","sid":1,"iova":"0x","size":"0x1","addr":"0x0","perm":"","t_ns":0}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseRecord(line)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("ParseRecord error %v does not wrap ErrSyntax", err)
			}
			return
		}
		again, err := ParseRecord(appendRecord(nil, r))
		if err != nil {
			t.Fatalf("re-encoded %+v does not parse: %v", r, err)
		}
		if again != r {
			t.Fatalf("round trip changed %+v into %+v", r, again)
		}
	})
}

// FuzzRecordRoundTrip: every event a hub can deliver survives the log.
func FuzzRecordRoundTrip(f *testing.F) {
	f.Add(int64(1532), uint8(notifier.Map), uint32(16), uint64(0x7f000), uint64(0x1000), uint64(0x1234000), uint8(notifier.PermRW))
	f.Add(int64(-1), uint8(notifier.Unmap), uint32(1<<32-1), uint64(1<<63), uint64(1<<63), uint64(0), uint8(0))
	f.Fuzz(func(t *testing.T, tns int64, kind uint8, sid uint32, iova, size, addr uint64, perm uint8) {
		k := []notifier.Kind{notifier.Map, notifier.Unmap, notifier.DevIOTLBUnmap}[kind%3]
		r := Record{TNS: tns, Event: notifier.Event{Kind: k, SID: sid, IOVA: iova, Size: size, Addr: addr, Perm: notifier.Perm(perm) & notifier.PermRW}}
		got, err := ParseRecord(appendRecord(nil, r))
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		if got != r {
			t.Fatalf("round trip changed %+v into %+v", r, got)
		}
	})
}
