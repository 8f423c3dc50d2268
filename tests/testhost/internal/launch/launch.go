// Package launch runs one virtual machine monitor inside the test host's L1
// and measures it: the moment the VMM is started, the moment a marker
// string first appears on its standard output (the guest's serial
// console), and the moment it exits, all from the monotonic clock of the
// machine it runs on. The test host's L1 runs it through the vmmrun
// command; the test host reads the Report it writes.
package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Report is what one launch observed. It is written as JSON (report.json)
// next to the VMM's output files.
type Report struct {
	Argv []string `json:"argv"`
	// Started is false when the VMM could not be started (see Error).
	Started bool `json:"started"`
	// ExitCode is the VMM's exit status, -1 when it was killed by a signal
	// or never ran.
	ExitCode int `json:"exit_code"`
	// Signal names the signal that killed the VMM, if one did.
	Signal string `json:"signal,omitempty"`
	// TimedOut is true when the VMM was still running after the timeout
	// and was killed.
	TimedOut bool `json:"timed_out"`
	// MarkerNS is the time in nanoseconds from just before the VMM was
	// started to the moment the marker was read from its output; -1 when
	// it never appeared.
	MarkerNS int64 `json:"marker_ns"`
	// ExitNS is the time in nanoseconds from just before the VMM was
	// started to the moment its exit was collected.
	ExitNS int64 `json:"exit_ns"`
	// ExitMarkerNS is like MarkerNS for Config.ExitMarker.
	ExitMarkerNS int64 `json:"exit_marker_ns"`
	// Hung is true when the VMM was killed because it had not exited
	// Config.ExitGrace after the exit marker appeared (TimedOut is set too).
	Hung bool `json:"hung,omitempty"`
	// OutputBytes is how many bytes the VMM wrote to its standard output.
	OutputBytes int64 `json:"output_bytes"`
	// Error describes a failure of the launch itself.
	Error string `json:"error,omitempty"`
}

// Config is one launch.
type Config struct {
	Argv    []string      // the VMM command line; Argv[0] is looked up in $PATH
	Marker  string        // searched for in Stdout's stream; "" = none
	Timeout time.Duration // kill the VMM after this long (> 0)
	Grace   time.Duration // between SIGTERM and SIGKILL on timeout (default 5 s)
	Stdout  io.Writer     // receives the VMM's standard output
	Stderr  *os.File      // receives the VMM's standard error directly

	// ExitMarker, when set, is output after which the VMM must exit within
	// ExitGrace (default 1 minute), e.g. a line the guest prints right
	// before powering off; else it is killed as on timeout.
	ExitMarker string
	ExitGrace  time.Duration
}

// Run starts the VMM with /dev/null as standard input, in its own process
// group, copies its standard output to c.Stdout while looking for the
// marker, and waits for it. On timeout, or when ctx is cancelled, the
// process group gets SIGTERM and, Grace later, SIGKILL. The VMM is also
// killed if the launcher dies (PR_SET_PDEATHSIG).
func Run(ctx context.Context, c Config) Report {
	rep := Report{Argv: c.Argv, ExitCode: -1, MarkerNS: -1, ExitMarkerNS: -1}
	if len(c.Argv) == 0 {
		rep.Error = "no command"
		return rep
	}
	if c.Timeout <= 0 {
		rep.Error = "no timeout"
		return rep
	}
	if c.Grace <= 0 {
		c.Grace = 5 * time.Second
	}
	if c.ExitGrace <= 0 {
		c.ExitGrace = time.Minute
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	defer pr.Close()
	cmd := exec.Command(c.Argv[0], c.Argv[1:]...)
	cmd.Stdout = pw
	cmd.Stderr = c.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	start := time.Now()
	err = cmd.Start()
	pw.Close()
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	rep.Started = true

	// The reader records the marker times as soon as the bytes arrive.
	var markerNS, exitMarkerNS, nbytes int64 = -1, -1, 0
	var copyErr error
	readDone := make(chan struct{})
	exitMarkerSeen := make(chan struct{})
	go func() {
		defer close(readDone)
		sc, exitSc := NewScanner(c.Marker), NewScanner(c.ExitMarker)
		buf := make([]byte, 32<<10)
		for {
			n, err := pr.Read(buf)
			if n > 0 {
				if sc.Feed(buf[:n]) {
					markerNS = int64(time.Since(start))
				}
				if exitSc.Feed(buf[:n]) {
					exitMarkerNS = int64(time.Since(start))
					close(exitMarkerSeen)
				}
				nbytes += int64(n)
				if _, werr := c.Stdout.Write(buf[:n]); werr != nil && copyErr == nil {
					copyErr = werr
				}
			}
			if err != nil {
				return
			}
		}
	}()

	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	timer := time.NewTimer(c.Timeout)
	defer timer.Stop()
	var hung <-chan time.Time
	var exitSeen <-chan struct{} = exitMarkerSeen
wait:
	for {
		select {
		case err = <-waited:
			break wait
		case <-timer.C:
			rep.TimedOut = true
			err = stop(cmd, waited, c.Grace)
			break wait
		case <-exitSeen:
			exitSeen = nil
			t := time.NewTimer(c.ExitGrace)
			defer t.Stop()
			hung = t.C
		case <-hung:
			rep.TimedOut, rep.Hung = true, true
			err = stop(cmd, waited, c.Grace)
			break wait
		case <-ctx.Done():
			rep.Error = "interrupted: " + ctx.Err().Error()
			err = stop(cmd, waited, c.Grace)
			break wait
		}
	}
	rep.ExitNS = int64(time.Since(start))

	// Whatever the VMM left running in its process group holds the pipe
	// open: give the reader a moment, then kill what is left of the group
	// (its ID stays reserved while it has members) and stop reading.
	select {
	case <-readDone:
	case <-time.After(c.Grace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		pr.Close()
		<-readDone
	}
	// The VMM wrote its output before it exited, but the reader may only
	// get to the last bytes after Wait returned: a marker read after the
	// exit was written by then, so it counts as at the exit.
	rep.MarkerNS, rep.ExitMarkerNS, rep.OutputBytes = min(markerNS, rep.ExitNS), min(exitMarkerNS, rep.ExitNS), nbytes
	if copyErr != nil && rep.Error == "" {
		rep.Error = "writing the output: " + copyErr.Error()
	}

	var ee *exec.ExitError
	switch {
	case err == nil:
		rep.ExitCode = 0
	case errors.As(err, &ee):
		rep.ExitCode = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			rep.Signal = ws.Signal().String()
		}
	default:
		if rep.Error == "" {
			rep.Error = err.Error()
		}
	}
	return rep
}

// stop signals the VMM's process group with SIGTERM, then SIGKILL after
// grace, and returns the result of Wait.
func stop(cmd *exec.Cmd, waited <-chan error, grace time.Duration) error {
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case err := <-waited:
		return err
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return <-waited
}

// String summarises the report in one line.
func (r Report) String() string {
	s := fmt.Sprintf("exit status %d", r.ExitCode)
	if r.Signal != "" {
		s += " (" + r.Signal + ")"
	}
	switch {
	case r.Hung:
		s += ", hung after the exit marker"
	case r.TimedOut:
		s += ", timed out"
	}
	if r.MarkerNS >= 0 {
		s += fmt.Sprintf(", marker after %.3fs", float64(r.MarkerNS)/1e9)
	}
	s += fmt.Sprintf(", exit after %.3fs", float64(r.ExitNS)/1e9)
	if r.Error != "" {
		s += ", error: " + r.Error
	}
	return s
}
