// Command vmmrun runs one VMM inside the test host's L1 and records what it
// did (see package launch):
//
//	vmmrun -dir DIR [-marker S] [-exit-marker S [-exit-grace D]] [-timeout D] [-tee] -- VMM [ARG...]
//
// It writes DIR/serial.log (the VMM's standard output: the guest's serial
// console), DIR/stderr.log (the VMM's standard error) and, last,
// DIR/report.json (launch.Report: exit status, timeout, and the monotonic
// times from start to the marker and to exit). After -exit-marker appears
// the VMM has -exit-grace to exit before it is killed. -tee also copies the
// standard output to vmmrun's own. The exit status is 0 when the report was
// written, whatever the VMM did; 2 on usage errors; 1 otherwise.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/govmm/govmm/tests/testhost/internal/launch"
)

func main() {
	dir := flag.String("dir", "", "directory for serial.log, stderr.log and report.json")
	marker := flag.String("marker", "", "record when this string first appears on the VMM's standard output")
	timeout := flag.Duration("timeout", 3*time.Minute, "kill the VMM after this long")
	tee := flag.Bool("tee", false, "copy the VMM's standard output to ours too")
	exitMarker := flag.String("exit-marker", "", "once this string appears, the VMM must exit within -exit-grace")
	exitGrace := flag.Duration("exit-grace", time.Minute, "see -exit-marker")
	flag.Parse()
	if *dir == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: vmmrun -dir DIR [-marker S] [-exit-marker S [-exit-grace D]] [-timeout D] [-tee] -- VMM [ARG...]")
		os.Exit(2)
	}
	c := launch.Config{Argv: flag.Args(), Marker: *marker, Timeout: *timeout, ExitMarker: *exitMarker, ExitGrace: *exitGrace}
	if err := run(*dir, c, *tee); err != nil {
		fmt.Fprintln(os.Stderr, "vmmrun:", err)
		os.Exit(1)
	}
}

func run(dir string, c launch.Config, tee bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	serial, err := os.Create(filepath.Join(dir, "serial.log"))
	if err != nil {
		return err
	}
	defer serial.Close()
	stderr, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		return err
	}
	defer stderr.Close()
	var out io.Writer = serial
	if tee {
		out = io.MultiWriter(serial, os.Stdout)
	}
	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stopSignals()
	c.Stdout, c.Stderr = out, stderr
	rep := launch.Run(ctx, c)
	if err := serial.Sync(); err != nil && rep.Error == "" {
		rep.Error = "serial.log: " + err.Error()
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	// written last and renamed into place: its presence means "done"
	tmp := filepath.Join(dir, ".report.json")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "report.json")); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "vmmrun: %s: %s\n", filepath.Base(c.Argv[0]), rep)
	return nil
}
