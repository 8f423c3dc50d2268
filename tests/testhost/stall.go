package testhost

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// BootStall is how long a guest may run without writing a single byte to
// its console before the test host declares the L1 session stalled. Every
// guest the tests boot prints its /init marker well within it (10-60 s);
// a guest stuck early in boot can keep L1's only CPU busy so that the
// launcher inside L1 never gets to enforce the guest's own timeout.
const BootStall = 2 * time.Minute

// ProgressStall is how long a guest that has printed something may go
// without its console or L1's log growing before the test host declares
// the session stalled. The tests' longest silent phase (a 64 MiB disk
// test behind an IOMMU) takes well under a minute. Such stalls have been
// seen with L0 QEMU idle: L1's only CPU halted and never woken, so that
// nothing inside L1, its timeouts included, runs again.
const ProgressStall = 4 * time.Minute

// watchStall cancels the session (through cancel) when the newest guest of
// work has had an empty console for longer than BootStall, or no progress
// on its console or L1's log for ProgressStall, and records which guest in
// *stalled. Before cancelling it saves L0's view of L1's CPU (see
// dumpL0State) in work/l0-stall.txt. It returns when ctx is done.
func watchStall(ctx context.Context, work string, cancel context.CancelFunc, stalled *string) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		dir, started := newestGuest(work)
		if dir == "" {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, "serial.log"))
		if err != nil {
			continue
		}
		last := started
		for _, f := range []string{filepath.Join(dir, "serial.log"), filepath.Join(work, "l1.log")} {
			if fi, err := os.Stat(f); err == nil && fi.ModTime().After(last) {
				last = fi.ModTime()
			}
		}
		if fi.Size() == 0 && time.Since(started) > BootStall || fi.Size() > 0 && time.Since(last) > ProgressStall {
			*stalled = filepath.Base(dir)
			dumpL0State(work)
			cancel()
			return
		}
	}
}

// newestGuest returns the l2-N directory with the highest N and when it
// appeared (its modification time when it was first seen empty of a
// report). "" when there is none yet.
func newestGuest(work string) (string, time.Time) {
	ents, err := os.ReadDir(work)
	if err != nil {
		return "", time.Time{}
	}
	best, bestN := "", -1
	for _, e := range ents {
		n, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "l2-"))
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "l2-") || err != nil || n <= bestN {
			continue
		}
		best, bestN = filepath.Join(work, e.Name()), n
	}
	if best == "" {
		return "", time.Time{}
	}
	if _, err := os.Stat(filepath.Join(best, "report.json")); err == nil {
		return "", time.Time{} // that guest has finished
	}
	fi, err := os.Stat(filepath.Join(best, "stderr.log"))
	if err != nil {
		return "", time.Time{}
	}
	return best, fi.ModTime()
}
