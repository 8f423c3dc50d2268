package testhost

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWatchStall(t *testing.T) {
	old := time.Now().Add(-2 * ProgressStall)
	tests := []struct {
		name    string
		make    func(work string)
		stalled string
	}{
		{"no guest yet", func(string) {}, ""},
		{"empty console, long ago", func(w string) { guestDirAt(t, w, "l2-0", "", old, false) }, "l2-0"},
		{"empty console, just started", func(w string) { guestDirAt(t, w, "l2-0", "", time.Now(), false) }, ""},
		{"console has output, recently", func(w string) {
			guestDirAt(t, w, "l2-0", "booting", old, false)
			touch(t, filepath.Join(w, "l2-0", "serial.log"), time.Now())
		}, ""},
		{"console silent for long", func(w string) { guestDirAt(t, w, "l2-0", "booting", old, false) }, "l2-0"},
		{"console silent, L1 log growing", func(w string) {
			guestDirAt(t, w, "l2-0", "booting", old, false)
			if err := os.WriteFile(filepath.Join(w, "l1.log"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"finished guest", func(w string) { guestDirAt(t, w, "l2-0", "", old, true) }, ""},
		{"newest guest counts", func(w string) {
			guestDirAt(t, w, "l2-9", "", old, true)
			guestDirAt(t, w, "l2-10", "", old, false)
		}, "l2-10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			work := t.TempDir()
			tt.make(work)
			ctx, cancel := context.WithTimeout(t.Context(), 7*time.Second)
			defer cancel()
			var stalled string
			watchStall(ctx, work, cancel, &stalled)
			if stalled != tt.stalled {
				t.Fatalf("stalled = %q, want %q", stalled, tt.stalled)
			}
		})
	}
}

func guestDirAt(t *testing.T, work, name, serial string, started time.Time, finished bool) {
	t.Helper()
	d := filepath.Join(work, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, body := range map[string]string{"serial.log": serial, "stderr.log": ""} {
		if err := os.WriteFile(filepath.Join(d, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	touch(t, filepath.Join(d, "stderr.log"), started)
	touch(t, filepath.Join(d, "serial.log"), started)
	if finished {
		if err := os.WriteFile(filepath.Join(d, "report.json"), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func touch(t *testing.T, path string, when time.Time) {
	t.Helper()
	if err := os.Chtimes(path, when, when); err != nil {
		t.Fatal(err)
	}
}
