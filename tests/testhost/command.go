package testhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// command is one external program run with a hard timeout. The program
// runs in its own process group; when the timeout or the caller's context
// expires the whole group gets SIGTERM, then SIGKILL after killGrace, and
// the kernel kills it too if this process dies first (PR_SET_PDEATHSIG).
type command struct {
	name    string
	args    []string
	dir     string    // working directory; "" = current
	env     []string  // added to the process environment
	stdin   io.Reader // nil = /dev/null
	stdout  io.Writer // nil = captured and returned
	stderr  io.Writer // nil = captured (the tail goes into errors)
	timeout time.Duration
}

// killGrace is how long a cancelled command has between SIGTERM and SIGKILL.
const killGrace = 5 * time.Second

// CommandError reports an external command that failed, timed out or could
// not be started. Stderr holds the end of its standard error (at most 4 KiB).
type CommandError struct {
	Cmd      string // the command line, shell-quoted
	Err      error  // from os/exec: *exec.ExitError, exec.ErrNotFound, ...
	Stderr   string
	TimedOut bool // killed because its timeout (or the context) expired
}

// Error is the command line, why it failed, and its standard error.
func (e *CommandError) Error() string {
	var b strings.Builder
	b.WriteString("testhost: ")
	b.WriteString(e.Cmd)
	if e.TimedOut {
		b.WriteString(": timed out")
	} else {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if s := strings.TrimSpace(e.Stderr); s != "" {
		b.WriteString("\n")
		b.WriteString(s)
	}
	return b.String()
}

// Unwrap returns Err.
func (e *CommandError) Unwrap() error { return e.Err }

// run runs the command and returns its standard output when c.stdout is nil.
func (c command) run(ctx context.Context) ([]byte, error) {
	if c.timeout <= 0 {
		return nil, fmt.Errorf("testhost: %s: no timeout given", c.name)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.name, c.args...)
	cmd.Dir = c.dir
	if len(c.env) > 0 {
		cmd.Env = append(os.Environ(), c.env...)
	}
	cmd.Stdin = c.stdin
	var out bytes.Buffer
	cmd.Stdout = c.stdout
	if c.stdout == nil {
		cmd.Stdout = &out
	}
	errTail := &tailBuffer{max: 4096}
	cmd.Stderr = errTail
	if c.stderr != nil {
		cmd.Stderr = io.MultiWriter(c.stderr, errTail)
	}
	setProcessGroup(cmd)
	err := cmd.Run()
	if err != nil {
		return out.Bytes(), &CommandError{
			Cmd:      shellJoin(append([]string{c.name}, c.args...)),
			Err:      err,
			Stderr:   errTail.String(),
			TimedOut: ctx.Err() != nil,
		}
	}
	return out.Bytes(), nil
}

// setProcessGroup makes cmd the leader of a new process group that is
// signalled as a whole when cmd's context expires, and asks the kernel to
// kill cmd if this process dies first.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error {
		// The leader is not reaped before Wait returns, so its PID is
		// still this group's ID: signalling the group reaches only what
		// cmd started.
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	// After killGrace os/exec sends SIGKILL to the leader itself.
	cmd.WaitDelay = killGrace
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.buf) }

// shellQuote quotes s for a POSIX shell: unchanged when it is made of safe
// characters only, else in single quotes.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/+@%=:,-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shellJoin quotes and joins argv into one shell command line.
func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}
