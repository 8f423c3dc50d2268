package testhost

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// l0Run is the outcome of one L0 QEMU run.
type l0Run struct {
	wall     time.Duration // host wall-clock time from start to exit
	timedOut bool
	err      error // QEMU's own failure (exit status, signal), nil on a clean exit
}

// runL0 runs L0 QEMU with args until it exits or timeout (or ctx) expires,
// sending its output (L1's console and QEMU's messages) to log. On expiry
// QEMU's process group gets SIGTERM, then SIGKILL (killGrace); QEMU also
// dies with this process (PR_SET_PDEATHSIG). Afterwards, a QEMU that
// still runs with this run's pidfile on its command line is killed: only
// ever the QEMU this run started.
func runL0(ctx context.Context, q l0QEMU, args []string, log io.Writer, pidfile string, timeout time.Duration) l0Run {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	argv := append(append([]string{}, q.argv...), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), q.env...)
	cmd.Stdout = log
	cmd.Stderr = log
	setProcessGroup(cmd)
	start := time.Now()
	err := cmd.Run()
	r := l0Run{wall: time.Since(start), err: err, timedOut: ctx.Err() != nil}
	killByPidfile(pidfile)
	return r
}

// killByPidfile sends SIGKILL to the process named in pidfile if it is
// still running with pidfile on its command line.
func killByPidfile(pidfile string) {
	b, err := os.ReadFile(pidfile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	cl, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !bytes.Contains(cl, []byte(pidfile)) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}
