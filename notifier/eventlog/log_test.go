package eventlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/govmm/govmm/notifier"
)

// steps is a Config.Clock that advances by step on every call.
func steps(step time.Duration) func() time.Duration {
	var now time.Duration
	return func() time.Duration {
		now += step
		return now
	}
}

func TestNotifyWritesOneLinePerEvent(t *testing.T) {
	tests := []struct {
		ev   notifier.Event
		want string
	}{
		{
			notifier.Event{Kind: notifier.Map, SID: 0x10, IOVA: 0x7f000, Size: 0x1000, Addr: 0x1234000, Perm: notifier.PermRW},
			`{"kind":"map","sid":16,"iova":"0x7f000","size":"0x1000","addr":"0x1234000","perm":"rw","t_ns":100}`,
		},
		{
			notifier.Event{Kind: notifier.Map, SID: 0xffffffff, IOVA: 0xfffffffffffff000, Size: 0x1000, Addr: 0xfff000, Perm: notifier.PermRead},
			`{"kind":"map","sid":4294967295,"iova":"0xfffffffffffff000","size":"0x1000","addr":"0xfff000","perm":"r","t_ns":200}`,
		},
		{
			notifier.Event{Kind: notifier.Map, SID: 1, IOVA: 0, Size: 1, Addr: 0, Perm: notifier.PermWrite},
			`{"kind":"map","sid":1,"iova":"0x0","size":"0x1","addr":"0x0","perm":"w","t_ns":300}`,
		},
		{
			notifier.Event{Kind: notifier.Unmap, SID: 0x18, IOVA: 1 << 63, Size: 1 << 63},
			`{"kind":"unmap","sid":24,"iova":"0x8000000000000000","size":"0x8000000000000000","addr":"0x0","perm":"","t_ns":400}`,
		},
		{
			notifier.Event{Kind: notifier.DevIOTLBUnmap, SID: 0x100, IOVA: 0x200000, Size: 0x200000},
			`{"kind":"deviotlb_unmap","sid":256,"iova":"0x200000","size":"0x200000","addr":"0x0","perm":"","t_ns":500}`,
		},
	}
	var buf bytes.Buffer
	l := Config{Clock: steps(100)}.New(&buf)
	for _, tt := range tests {
		if err := l.Notify(tt.ev); err != nil {
			t.Fatalf("Notify(%v) = %v", tt.ev, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(tests) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(tests), buf.String())
	}
	for i, tt := range tests {
		if lines[i] != tt.want {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, lines[i], tt.want)
		}
	}
	if l.Events() != uint64(len(tests)) || l.Dropped() != 0 {
		t.Errorf("Events %d Dropped %d, want %d and 0", l.Events(), l.Dropped(), len(tests))
	}
}

func TestBufferedUntilFlush(t *testing.T) {
	var buf bytes.Buffer
	l := Config{BufferSize: 4096}.New(&buf)
	ev := notifier.Event{Kind: notifier.Unmap, SID: 1, IOVA: 0x1000, Size: 0x1000}
	for range 3 {
		l.Notify(ev)
	}
	if buf.Len() != 0 {
		t.Fatalf("%d bytes reached the writer before Flush", buf.Len())
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadAll(&buf)
	if err != nil || len(recs) != 3 {
		t.Fatalf("after Flush: %d records, %v; want 3", len(recs), err)
	}
	// A full buffer is written without a Flush.
	for range 100 {
		l.Notify(ev)
	}
	if buf.Len() == 0 {
		t.Error("nothing reached the writer after 100 lines through a 4 KiB buffer")
	}
}

// failWriter accepts limit bytes, then fails.
type failWriter struct {
	limit int
	err   error
}

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		n := w.limit
		w.limit = 0
		return n, w.err
	}
	w.limit -= len(p)
	return len(p), nil
}

func TestWriteErrorNeverFailsNotify(t *testing.T) {
	errDisk := errors.New("no space left on device")
	l := Config{BufferSize: 256}.New(&failWriter{limit: 300, err: errDisk})
	ev := notifier.Event{Kind: notifier.Map, SID: 1, IOVA: 0x1000, Size: 0x1000, Addr: 0x2000, Perm: notifier.PermRW}
	for i := range 50 {
		if err := l.Notify(ev); err != nil {
			t.Fatalf("Notify %d = %v, want nil", i, err)
		}
	}
	if !errors.Is(l.Err(), errDisk) {
		t.Fatalf("Err() = %v, want %v", l.Err(), errDisk)
	}
	if l.Dropped() == 0 || l.Events()+l.Dropped() != 50 {
		t.Errorf("Events %d + Dropped %d, want 50 with some dropped", l.Events(), l.Dropped())
	}
	if err := l.Flush(); !errors.Is(err, errDisk) {
		t.Errorf("Flush = %v, want %v", err, errDisk)
	}
	if err := l.Close(); !errors.Is(err, errDisk) {
		t.Errorf("Close = %v, want %v", err, errDisk)
	}
}

func TestCloseDropsLaterEvents(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf)
	ev := notifier.Event{Kind: notifier.Unmap, IOVA: 0, Size: 1}
	l.Notify(ev)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	n := buf.Len()
	if err := l.Notify(ev); err != nil {
		t.Fatalf("Notify after Close = %v, want nil", err)
	}
	if buf.Len() != n || l.Dropped() != 1 || l.Events() != 1 {
		t.Errorf("after Close: %d new bytes, Dropped %d, Events %d; want 0, 1, 1", buf.Len()-n, l.Dropped(), l.Events())
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if err := l.Flush(); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}
}

func TestCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, []byte("old content that must be truncated\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Config{Clock: steps(1)}.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{
		{TNS: 1, Event: notifier.Event{Kind: notifier.Map, SID: 8, IOVA: 0x1000, Size: 0x1000, Addr: 0x9000, Perm: notifier.PermRead}},
		{TNS: 2, Event: notifier.Event{Kind: notifier.Unmap, SID: 8, IOVA: 0x1000, Size: 0x1000}},
	}
	for _, r := range want {
		l.Notify(r.Event)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("file records (-want +got):\n%s", diff)
	}

	if _, err := Create(filepath.Join(t.TempDir(), "missing-dir", "x.jsonl")); err == nil || !strings.Contains(err.Error(), "missing-dir") {
		t.Errorf("Create in a missing directory = %v, want an error naming the path", err)
	}
}

// One log shared by several hubs on several goroutines: every event is one
// intact line, none is lost, and t_ns never decreases down the file.
func TestSharedByConcurrentHubs(t *testing.T) {
	var buf bytes.Buffer
	l := Config{BufferSize: 512}.New(&buf)
	const hubs, perHub = 4, 500
	var wg sync.WaitGroup
	for s := range hubs {
		h := notifier.NewHub(uint32(0x10+s), nil)
		if _, err := h.Register(l, notifier.AllKinds, 0, 1<<64-1); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range uint64(perHub) {
				ev := notifier.Event{Kind: notifier.Map, IOVA: i << 12, Size: 0x1000, Addr: i << 12, Perm: notifier.PermRW}
				if i%2 == 1 {
					ev = notifier.Event{Kind: notifier.Unmap, IOVA: (i - 1) << 12, Size: 0x1000}
				}
				if err := h.Notify(ev); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadAll(&buf)
	if err != nil {
		t.Fatal(err)
	}
	perSID := map[uint32]int{}
	for i, r := range recs {
		perSID[r.Event.SID]++
		if i > 0 && r.TNS < recs[i-1].TNS {
			t.Fatalf("line %d: t_ns %d after %d", i+1, r.TNS, recs[i-1].TNS)
		}
	}
	want := map[uint32]int{0x10: perHub, 0x11: perHub, 0x12: perHub, 0x13: perHub}
	if diff := cmp.Diff(want, perSID); diff != "" {
		t.Errorf("events per SID (-want +got):\n%s", diff)
	}
}

func BenchmarkNotify(b *testing.B) {
	l := New(io.Discard)
	ev := notifier.Event{Kind: notifier.Map, SID: 0x10, IOVA: 0x7fffff000, Size: 0x1000, Addr: 0x123456000, Perm: notifier.PermRW}
	b.ReportAllocs()
	for b.Loop() {
		l.Notify(ev)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}

func ExampleLog() {
	hub := notifier.NewHub(0x10, nil) // 00:02.0
	var out bytes.Buffer
	log := Config{Clock: steps(250 * time.Nanosecond)}.New(&out) // a fake clock, for a stable output
	if _, err := hub.Register(log, notifier.AllKinds, 0, 1<<64-1); err != nil {
		fmt.Println(err)
		return
	}
	hub.Notify(notifier.Event{Kind: notifier.Map, IOVA: 0xfffff000, Size: 0x3000, Addr: 0x7f000, Perm: notifier.PermRW})
	hub.Notify(notifier.Event{Kind: notifier.Unmap, IOVA: 0xfffff000, Size: 0x3000})
	if err := log.Close(); err != nil {
		fmt.Println(err)
	}
	fmt.Print(out.String())
	// Output:
	// {"kind":"map","sid":16,"iova":"0xfffff000","size":"0x1000","addr":"0x7f000","perm":"rw","t_ns":250}
	// {"kind":"map","sid":16,"iova":"0x100000000","size":"0x2000","addr":"0x80000","perm":"rw","t_ns":500}
	// {"kind":"unmap","sid":16,"iova":"0xfffff000","size":"0x1000","addr":"0x0","perm":"","t_ns":750}
	// {"kind":"unmap","sid":16,"iova":"0x100000000","size":"0x2000","addr":"0x0","perm":"","t_ns":1000}
}

func ExampleReadAll() {
	in := `{"kind":"map","sid":16,"iova":"0x7f000","size":"0x1000","addr":"0x1234000","perm":"rw","t_ns":1532}
{"kind":"unmap","sid":16,"iova":"0x7f000","size":"0x1000","addr":"0x0","perm":"","t_ns":9000}
`
	recs, err := ReadAll(strings.NewReader(in))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range recs {
		fmt.Println(r.TNS, r.Event)
	}
	// Output:
	// 1532 map SID 0x10 IOVA [0x7f000, 0x7ffff] -> 0x1234000 rw
	// 9000 unmap SID 0x10 IOVA [0x7f000, 0x7ffff]
}
