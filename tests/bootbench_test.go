package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/govmm/govmm/tests/testhost"
)

// Boot-time comparison set-up: the smallest useful guest, the same for both
// VMMs. /init prints the marker as its first action, then powers off.
const (
	benchRuns    = 5 // per VMM
	benchCPUs    = 1
	benchMemory  = "512M"
	benchCmdline = "console=ttyS0 panic=-1 quiet"
	benchMarker  = "GOVMM-BENCH-INIT"
	benchInit    = "#!/bin/sh\necho " + benchMarker + "\npoweroff -f\n"
)

// Environment of BenchmarkBootTime.
const (
	envBenchOut    = "GOVMM_BOOTBENCH_OUT"    // also write the markdown table to this file
	envBenchKernel = "GOVMM_BOOTBENCH_KERNEL" // kernel name, default trixie-cloud
)

// BenchmarkBootTime compares govmm's boot time with QEMU's: benchRuns boots
// of each VMM with the kernel's bzImage and with its vmlinux through PVH,
// interleaved (QEMU, govmm, QEMU PVH, govmm PVH, ...), with the same
// initramfs, all in one L1 boot. Times are taken inside L1 by the test
// host's launcher from L1's monotonic clock: VMM start to the moment /init's
// marker is read from the VMM's output, and VMM start to the VMM's exit
// (the guest runs poweroff -f). It prints a markdown table for BENCHMARKS.md
// (also written to $GOVMM_BOOTBENCH_OUT when set) and reports the medians
// as metrics. It takes a few minutes:
//
//	go test -run '^$' -bench BootTime -benchtime 1x -timeout 60m ./tests/
//	make -C tests bootbench
func BenchmarkBootTime(b *testing.B) {
	h := testhost.New(b)
	kname := os.Getenv(envBenchKernel)
	if kname == "" {
		kname = testhost.KernelTrixieCloud
	}
	k := h.Kernel(kname)
	// Boots in turns: each VMM with the bzImage and with the extracted
	// vmlinux through the PVH entry point (which skips decompression).
	kinds := []struct {
		name string
		vmm  testhost.VMM
		pvh  bool
	}{
		{"QEMU, bzImage", testhost.QEMU, false},
		{"govmm, bzImage", testhost.GoVMM, false},
		{"QEMU, PVH vmlinux", testhost.QEMU, true},
		{"govmm, PVH vmlinux", testhost.GoVMM, true},
	}
	var guests []testhost.Guest
	for i := 0; i < len(kinds)*benchRuns; i++ {
		kd := kinds[i%len(kinds)]
		guests = append(guests, testhost.Guest{
			VMM: kd.vmm, Kernel: k, PVH: kd.pvh, Init: benchInit, Cmdline: benchCmdline,
			CPUs: benchCPUs, Memory: benchMemory, Marker: benchMarker,
			ExitMarker: benchMarker, // the next thing /init does is poweroff -f
		})
	}
	for i := 0; i < b.N; i++ {
		loadBefore := loadAverage()
		results, err := h.RunSeq(b.Context(), testhost.L1Options{}, guests...)
		if err != nil {
			b.Fatal(err)
		}
		rows := make([]row, len(kinds))
		for j, kd := range kinds {
			rows[j] = row{kd.name, &bootStats{}}
		}
		for j, r := range results {
			s := rows[j%len(kinds)].s
			if r.ExitCode != 0 || r.ToMarker < 0 {
				s.failed++
				if s.failed == 1 {
					b.Errorf("%s run failed:\n%s", rows[j%len(kinds)].name, r.Tail(25))
				}
				continue
			}
			s.toInit = append(s.toInit, r.ToMarker)
			s.toExit = append(s.toExit, r.ToExit)
		}
		table := bootTable(k, h.L0Version(), qemuVersion(b.Context()), results[0].L1.WallTime,
			loadBefore+" before, "+loadAverage()+" after", rows)
		fmt.Print(table)
		if out := os.Getenv(envBenchOut); out != "" {
			if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
				b.Error(err)
			}
		}
		for _, r := range rows {
			if len(r.s.toInit) > 0 {
				name := strings.NewReplacer(", ", "-", " ", "-").Replace(r.name)
				b.ReportMetric(ms(median(r.s.toInit)), name+"-init-ms")
				b.ReportMetric(ms(median(r.s.toExit)), name+"-exit-ms")
			}
		}
	}
}

// bootStats are one VMM's successful runs.
type bootStats struct {
	toInit, toExit []time.Duration
	failed         int
}

type row struct {
	name string
	s    *bootStats
}

// median of d (which it sorts); the mean of the middle two for even sizes.
func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	n := len(d)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return d[n/2]
	}
	return (d[n/2-1] + d[n/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

// bootTable renders the comparison as markdown.
func bootTable(k testhost.Kernel, l0, qemu string, l1Wall time.Duration, load string, rows []row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### Boot time: govmm vs QEMU (%s, %d vCPU, %s)\n\n", k.Release, benchCPUs, benchMemory)
	b.WriteString("| VMM | runs | start → /init, median | start → exit, median | start → /init, min–max |\n")
	b.WriteString("| --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		n := len(r.s.toInit)
		runs := fmt.Sprintf("%d/%d", n, n+r.s.failed)
		if n == 0 {
			fmt.Fprintf(&b, "| %s | %s | — | — | — |\n", r.name, runs)
			continue
		}
		mi, ex := median(r.s.toInit), median(r.s.toExit)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s – %s |\n", r.name, runs, secs(mi), secs(ex),
			secs(slices.Min(r.s.toInit)), secs(slices.Max(r.s.toInit)))
	}
	fmt.Fprintf(&b, "\nSame kernel (%s: its bzImage, or its extracted vmlinux booted through the PVH entry point) and busybox initramfs for all; cmdline `%s`; /init prints a marker and runs `poweroff -f`. "+
		"QEMU: `%s -enable-kvm -M q35 -cpu host -smp %d -m %s -kernel … -initrd … -append …` (%s; PVH through its pvh.bin option ROM). "+
		"All %d boots ran one after another in one test-host L1 (L0 %s, TCG with emulated AMD SVM; L1 wall time %.0f s), "+
		"timed from L1's monotonic clock by the test host's launcher: VMM start → marker read from the VMM's output, VMM start → VMM exit. "+
		"Both VMMs run on L1's KVM under TCG, so the figures compare the VMMs, not native boot times; "+
		"they scale with the load of the machine (1-minute load average %s), hence the interleaving. %s.\n",
		k.Package, benchCmdline, testhost.QEMUBinary, benchCPUs, benchMemory, qemu, len(rows)*benchRuns, l0, l1Wall.Seconds(),
		load, time.Now().UTC().Format("2006-01-02"))
	return b.String()
}

// qemuVersion is the first line of the machine's QEMU --version: the QEMU
// that runs inside L1.
func qemuVersion(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, testhost.QEMUBinary, "--version").Output()
	if err != nil {
		return "version unknown"
	}
	l, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(l)
}

// loadAverage is this machine's 1-minute load average, as /proc/loadavg
// has it ("?" when unreadable).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
