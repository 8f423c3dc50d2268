package tests

import (
	"fmt"
	"os"
	"strings"

	"github.com/govmm/govmm/notifier/eventlog"
)

// guestReport is what a guest's /init printed as "@key value" lines, and the
// kernel log it dumped between "@dmesg-begin" and "@dmesg-end".
type guestReport struct {
	values map[string][]string // key -> values, in order
	dmesg  []string
}

// initPrologue starts a guest /init script: busybox on PATH, and /proc,
// /sys and /dev mounted.
const initPrologue = `#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
`

// parseGuestReport reads "@key value" lines from a serial log. Anything
// else (kernel messages, the dmesg dump's own lines) is ignored outside the
// dmesg section. A dmesg section without its end runs to the end of the log.
func parseGuestReport(serial string) guestReport {
	r := guestReport{values: map[string][]string{}}
	inDmesg := false
	for _, line := range strings.Split(serial, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case line == "@dmesg-begin":
			inDmesg = true
		case line == "@dmesg-end":
			inDmesg = false
		case inDmesg:
			if line != "" {
				r.dmesg = append(r.dmesg, line)
			}
		case strings.HasPrefix(line, "@"):
			k, v, _ := strings.Cut(line[1:], " ")
			r.values[k] = append(r.values[k], strings.TrimSpace(v))
		}
	}
	return r
}

// value returns the first value printed for key, "" if none.
func (r guestReport) value(key string) string {
	if v := r.values[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// readEventLog reads a --iommu-events file.
func readEventLog(path string) ([]eventlog.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	defer f.Close()
	recs, err := eventlog.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("event log %s: %w", path, err)
	}
	return recs, nil
}
