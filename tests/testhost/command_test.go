package testhost

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestShellJoinRoundTrip(t *testing.T) {
	tests := [][]string{
		{"plain", "words"},
		{"with space", "tab\there", "new\nline"},
		{"it's", `"double"`, `back\slash`, "$HOME", "`date`", "a;b|c&d", "*?[x]"},
		{"", "empty above"},
		{"console=ttyS0 panic=-1", "--cmdline", "x=1,y=2:z"},
	}
	for _, args := range tests {
		// through the shell's own parser: print each word of the joined line
		cmd := exec.Command("/bin/sh", "-c", "set -- "+shellJoin(args)+`; for a in "$@"; do printf '%s\0' "$a"; done`)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		if !slices.Equal(got, args) {
			t.Errorf("shellJoin(%q) = %s, which the shell reads as %q", args, shellJoin(args), got)
		}
	}
}

func TestCommand(t *testing.T) {
	tests := []struct {
		name     string
		c        command
		out      string
		timedOut bool
		errText  string
	}{
		{name: "output", c: command{name: "/bin/sh", args: []string{"-c", "echo hi"}, timeout: time.Minute}, out: "hi\n"},
		{name: "stdin", c: command{name: "/bin/sh", args: []string{"-c", "tr a-z A-Z"}, stdin: strings.NewReader("abc"), timeout: time.Minute}, out: "ABC"},
		{name: "env", c: command{name: "/bin/sh", args: []string{"-c", "echo $TH_X"}, env: []string{"TH_X=42"}, timeout: time.Minute}, out: "42\n"},
		{name: "failure keeps stderr", c: command{name: "/bin/sh", args: []string{"-c", "echo oops >&2; exit 4"}, timeout: time.Minute},
			errText: "exit status 4\noops"},
		{name: "timeout kills the group", c: command{name: "/bin/sh", args: []string{"-c", "sleep 30 & sleep 30; echo never"}, timeout: 200 * time.Millisecond},
			timedOut: true, errText: "timed out"},
		{name: "no timeout given", c: command{name: "/bin/true"}, errText: "no timeout"},
		{name: "missing program", c: command{name: "/nonexistent/prog", timeout: time.Minute}, errText: "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.c.run(context.Background())
			if tc.errText == "" {
				if err != nil || string(out) != tc.out {
					t.Fatalf("run = %q, %v; want %q", out, err, tc.out)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errText) {
				t.Fatalf("run error %v, want one containing %q", err, tc.errText)
			}
			var ce *CommandError
			if errors.As(err, &ce) && ce.TimedOut != tc.timedOut {
				t.Errorf("TimedOut = %v, want %v", ce.TimedOut, tc.timedOut)
			}
		})
	}
}

// The process group of a timed-out command is killed: a grandchild that
// would outlive its parent does not.
func TestCommandTimeoutKillsGrandchildren(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	c := command{name: "/bin/sh", args: []string{"-c", "sleep 60 & echo $! >" + pidFile + "; wait"}, timeout: 300 * time.Millisecond}
	if _, err := c.run(context.Background()); err == nil {
		t.Fatal("run did not time out")
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// SIGTERM is on its way when run returns; allow the kernel to deliver it
	for i := 0; i < 100 && alive(pid); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if alive(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("grandchild %d of the timed-out command survived", pid)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}
