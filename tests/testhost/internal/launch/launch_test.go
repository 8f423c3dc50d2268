package launch

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name     string
		script   string // run by /bin/sh -c
		argv     []string
		marker   string
		timeout  time.Duration
		started  bool
		exit     int
		signal   string
		timedOut bool
		out      string
		stderr   string
		marked   bool
		exitMark string
		grace    time.Duration
		hung     bool
	}{
		{
			name: "clean exit with marker", script: "echo boot; echo INIT-MARK; echo bye",
			marker: "INIT-MARK", started: true, exit: 0, out: "boot\nINIT-MARK\nbye\n", marked: true,
		},
		{
			name: "exit status, no marker", script: "echo nothing here; exit 3",
			marker: "INIT-MARK", started: true, exit: 3, out: "nothing here\n",
		},
		{
			name: "marker split over writes", script: "printf INIT-; sleep 0.1; printf MARK",
			marker: "INIT-MARK", started: true, exit: 0, out: "INIT-MARK", marked: true,
		},
		{
			name: "stderr kept apart", script: "echo out; echo err >&2",
			started: true, exit: 0, out: "out\n", stderr: "err\n",
		},
		{
			name: "killed by a signal", script: "echo x; kill -KILL $$",
			started: true, exit: -1, signal: "killed", out: "x\n",
		},
		{
			name: "timeout", script: "echo waiting; exec sleep 30", timeout: 300 * time.Millisecond,
			started: true, exit: -1, signal: "terminated", timedOut: true, out: "waiting\n",
		},
		{
			name: "timeout, SIGTERM ignored", script: "trap '' TERM; echo stubborn; sleep 30; echo never",
			timeout: 300 * time.Millisecond, started: true, exit: -1, signal: "killed", timedOut: true, out: "stubborn\n",
		},
		{
			name: "child keeps the output open", script: "sleep 30 & echo parent done",
			started: true, exit: 0, out: "parent done\n",
		},
		{
			name: "exit marker, then a prompt exit", script: "echo INIT-MARK; echo POWEROFF; sleep 0.2; exit 0",
			marker: "INIT-MARK", exitMark: "POWEROFF", grace: time.Minute,
			started: true, exit: 0, out: "INIT-MARK\nPOWEROFF\n", marked: true,
		},
		{
			name: "hung after the exit marker", script: "echo POWEROFF; echo halted; exec sleep 30",
			exitMark: "POWEROFF", grace: 300 * time.Millisecond,
			started: true, exit: -1, signal: "terminated", timedOut: true, hung: true, out: "POWEROFF\nhalted\n",
		},
		{
			name: "no such program", argv: []string{filepath.Join(t.TempDir(), "no-such-vmm")},
			started: false, exit: -1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			argv := tc.argv
			if argv == nil {
				argv = []string{"/bin/sh", "-c", tc.script}
			}
			timeout := tc.timeout
			if timeout == 0 {
				timeout = time.Minute
			}
			errf, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
			if err != nil {
				t.Fatal(err)
			}
			defer errf.Close()
			var out bytes.Buffer
			rep := Run(context.Background(), Config{
				Argv: argv, Marker: tc.marker, Timeout: timeout, Grace: 200 * time.Millisecond,
				Stdout: &out, Stderr: errf, ExitMarker: tc.exitMark, ExitGrace: tc.grace,
			})
			if rep.Started != tc.started || rep.ExitCode != tc.exit || rep.Signal != tc.signal ||
				rep.TimedOut != tc.timedOut || rep.Hung != tc.hung {
				t.Errorf("got started=%v exit=%d signal=%q timedOut=%v hung=%v, want %v %d %q %v %v (report %s)",
					rep.Started, rep.ExitCode, rep.Signal, rep.TimedOut, rep.Hung,
					tc.started, tc.exit, tc.signal, tc.timedOut, tc.hung, rep)
			}
			if (rep.ExitMarkerNS >= 0) != (tc.exitMark != "") || rep.ExitMarkerNS > rep.ExitNS {
				t.Errorf("ExitMarkerNS = %d (exit at %d), want the exit marker seen = %v", rep.ExitMarkerNS, rep.ExitNS, tc.exitMark != "")
			}
			if !tc.started && rep.Error == "" {
				t.Error("a launch that did not start reports no error")
			}
			if got := out.String(); got != tc.out {
				t.Errorf("output %q, want %q", got, tc.out)
			}
			if rep.OutputBytes != int64(len(tc.out)) {
				t.Errorf("OutputBytes = %d, want %d", rep.OutputBytes, len(tc.out))
			}
			errText, _ := os.ReadFile(errf.Name())
			if string(errText) != tc.stderr {
				t.Errorf("stderr %q, want %q", errText, tc.stderr)
			}
			if (rep.MarkerNS >= 0) != tc.marked {
				t.Errorf("MarkerNS = %d, want the marker seen = %v", rep.MarkerNS, tc.marked)
			}
			if rep.MarkerNS > rep.ExitNS {
				t.Errorf("marker at %d ns after the exit at %d ns", rep.MarkerNS, rep.ExitNS)
			}
			if tc.started && rep.ExitNS <= 0 {
				t.Errorf("ExitNS = %d", rep.ExitNS)
			}
		})
	}
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan Report)
	go func() {
		done <- Run(ctx, Config{Argv: []string{"/bin/sh", "-c", "echo up; exec sleep 30"}, Timeout: time.Minute,
			Grace: 200 * time.Millisecond, Stdout: out, Stderr: os.Stderr})
	}()
	// cancel once the child is up, as its output shows
	for !strings.Contains(out.String(), "up") {
		select {
		case rep := <-done:
			t.Fatalf("Run ended early: %s", rep)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	rep := <-done
	if rep.TimedOut || rep.ExitCode != -1 || rep.Signal != "terminated" || !strings.HasPrefix(rep.Error, "interrupted") {
		t.Errorf("cancelled launch reported %s (signal %q)", rep, rep.Signal)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		c    Config
	}{
		{"no argv", Config{Timeout: time.Second, Stdout: &bytes.Buffer{}}},
		{"no timeout", Config{Argv: []string{"/bin/true"}, Stdout: &bytes.Buffer{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := Run(context.Background(), tc.c)
			if rep.Started || rep.Error == "" || rep.ExitCode != -1 {
				t.Errorf("got %+v, want an unstarted launch with an error", rep)
			}
		})
	}
}
