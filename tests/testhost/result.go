package testhost

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"time"
)

// Result is what one guest boot produced. Times come from L1's monotonic
// clock, taken by the launcher that runs the VMM inside L1 (see the package
// documentation, "Timing").
type Result struct {
	Index int // the guest's position in its session (0 for Host.Run)
	VMM   VMM
	Argv  []string // the VMM command line as run inside L1

	// Serial is the VMM's standard output, the guest's serial console,
	// with "\r\n" turned into "\n". Stderr is the VMM's standard error.
	Serial string
	Stderr string
	// SetupLog and After are the output of Guest.Setup and Guest.After.
	SetupLog string
	After    string

	// Started is false when the VMM could not be started at all.
	Started bool
	// ExitCode is the VMM's exit status; -1 when it was killed by a signal
	// (Signal names it), timed out (TimedOut), or never ran.
	ExitCode int
	Signal   string
	TimedOut bool
	// Hung is set (with TimedOut) when the VMM was killed because it had
	// not exited Guest.ExitGrace after Guest.ExitMarker appeared.
	Hung bool

	// ToMarker is the time from the VMM's start to the first appearance of
	// Guest.Marker on the console, -1 when it did not appear (or none was
	// set); ToExit the time from the VMM's start to its exit.
	ToMarker time.Duration
	ToExit   time.Duration
	// ToExitMarker is like ToMarker for Guest.ExitMarker.
	ToExitMarker time.Duration

	// Dir is this guest's output directory on this machine (serial.log,
	// stderr.log, report.json), inside Work.
	Dir string

	// The L1 session that ran the guest (shared by the guests of a
	// Host.RunSeq session).
	L1 *L1Result
}

// L1Result is what one L1 boot produced.
type L1Result struct {
	// Status is the L1 script's exit status, or 124 when L0 QEMU was killed
	// on timeout, 125 when L1 failed around the script.
	Status int
	// Log is L1's serial console and L0 QEMU's own messages.
	Log string
	// Work is the work directory on this machine (/tmp/w in L1). It is
	// removed when the test passes, kept (and its path logged) when it
	// fails or Config.Keep is set.
	Work string
	// WallTime is L0 QEMU's run time on this machine's clock: L1 boot,
	// the script, power-off.
	WallTime time.Duration
	// VFIO describes the device bound to vfio-pci (L1Options.VFIODev).
	VFIO *VFIOInfo
}

// Exit statuses of an L1 session besides the script's own.
const (
	StatusTimeout  = 124 // L0 QEMU killed on timeout
	StatusL1Failed = 125 // L1 failed before, around or after the script
)

// VFIOInfo is the device L1Options.VFIODev bound to vfio-pci in L1.
type VFIOInfo struct {
	Model  string // the QEMU device model, e.g. "e1000e"
	BDF    string // VFIOBDF
	Vendor string // PCI vendor ID as sysfs prints it ("0x8086")
	Device string // PCI device ID ("0x10d3")
	Driver string // "vfio-pci"
	Group  string // the IOMMU group number
	Dev    string // the group's character device, /dev/vfio/GROUP
}

// parseVFIO reads the key=value lines of vfio.txt.
func parseVFIO(b []byte) *VFIOInfo {
	v := &VFIOInfo{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, val, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch k {
		case "model":
			v.Model = val
		case "bdf":
			v.BDF = val
		case "vendor":
			v.Vendor = val
		case "device":
			v.Device = val
		case "driver":
			v.Driver = val
		case "group":
			v.Group = val
		case "dev":
			v.Dev = val
		}
	}
	if v.BDF == "" {
		return nil
	}
	return v
}

// Summary is one line: VMM, exit status, timeout, timings.
func (r *Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v guest %d: ", r.VMM, r.Index)
	switch {
	case !r.Started:
		b.WriteString("did not start")
	case r.Hung:
		fmt.Fprintf(&b, "still running %.1fs after the guest's exit marker, killed", (r.ToExit - r.ToExitMarker).Seconds())
	case r.TimedOut:
		fmt.Fprintf(&b, "timed out after %.1fs", r.ToExit.Seconds())
	case r.Signal != "":
		fmt.Fprintf(&b, "killed by %s", r.Signal)
	default:
		fmt.Fprintf(&b, "exit status %d", r.ExitCode)
	}
	if r.ToMarker >= 0 {
		fmt.Fprintf(&b, ", marker after %.2fs", r.ToMarker.Seconds())
	}
	if r.Started && !r.TimedOut {
		fmt.Fprintf(&b, ", exit after %.2fs", r.ToExit.Seconds())
	}
	return b.String()
}

// Tail is a failure report: the Summary, then the last n lines of the VMM's
// standard error and of the serial console, and, when the L1 session
// itself failed, the last n lines of L1's log.
func (r *Result) Tail(n int) string {
	var b strings.Builder
	b.WriteString(r.Summary())
	b.WriteString("\n")
	if s := lastLines(r.Stderr, n); s != "" {
		fmt.Fprintf(&b, "--- %v standard error (last %d lines):\n%s\n", r.VMM, n, s)
	}
	if s := lastLines(r.Serial, n); s != "" {
		fmt.Fprintf(&b, "--- serial console (last %d lines):\n%s\n", n, s)
	} else {
		b.WriteString("--- serial console: empty\n")
	}
	if r.L1 != nil && r.L1.Status != 0 {
		fmt.Fprintf(&b, "--- L1 status %d, L1 log (last %d lines):\n%s\n", r.L1.Status, n, lastLines(r.L1.Log, n))
	}
	return b.String()
}

// lastLines returns the last n lines of s, without a final newline.
func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if s == "" || n <= 0 {
		return ""
	}
	i := len(s)
	for k := 0; k < n; k++ {
		j := strings.LastIndexByte(s[:i], '\n')
		if j < 0 {
			return s
		}
		i = j
	}
	return s[i+1:]
}
