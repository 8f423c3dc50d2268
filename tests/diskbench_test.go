package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govmm/govmm/tests/testhost"
)

// diskBenchInit times diskBenchRounds rounds of 64 MiB of 1 MiB O_DIRECT
// writes and reads of /dev/vda with the guest's /proc/uptime (10 ms
// resolution), one "@write-cs" and "@read-cs" line per round.
const diskBenchInit = `#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
dmesg -n 1
/load-modules.sh
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 1; done
up() { cut -d' ' -f1 /proc/uptime | tr -d .; }
echo "GOVMM-DISK-BENCH"
for r in 1 2 3; do
t0=$(up); dd if=/dev/zero of=/dev/vda bs=1M count=64 oflag=direct 2>/dev/null; t1=$(up)
echo "@write-cs $((t1 - t0))"
t0=$(up); dd if=/dev/vda of=/dev/null bs=1M count=64 iflag=direct 2>/dev/null; t1=$(up)
echo "@read-cs $((t1 - t0))"
done
echo "@poweroff"
poweroff -f
`

// diskBenchConfigs are the set-ups compared: the same guest and image under
// govmm and under QEMU (the host's, inside the test host), without an
// IOMMU, behind VT-d in strict caching mode, and behind a virtio-iommu.
var diskBenchConfigs = []struct {
	name    string
	cmdline string
	modules []string
	govmm   []string
	qemu    []string
}{
	{"virtio-blk", "", []string{"virtio_blk"},
		[]string{"--disk", benchImage},
		[]string{"-drive", "file=" + benchImage + ",if=none,id=d0,format=raw", "-device", "virtio-blk-pci,drive=d0,disable-legacy=on"}},
	{"virtio-blk + VT-d (strict, CM)", "intel_iommu=on iommu.strict=1", []string{"virtio_blk"},
		[]string{"--iommu", "vtd", "--disk", benchImage},
		[]string{"-M", "q35,kernel-irqchip=split", "-device", "intel-iommu,caching-mode=on",
			"-drive", "file=" + benchImage + ",if=none,id=d0,format=raw", "-device", "virtio-blk-pci,drive=d0,disable-legacy=on,iommu_platform=on"}},
	{"virtio-blk + virtio-iommu", "iommu.strict=1", []string{"virtio_iommu", "virtio_blk"},
		[]string{"--iommu", "virtio", "--disk", benchImage},
		[]string{"-device", "virtio-iommu-pci",
			"-drive", "file=" + benchImage + ",if=none,id=d0,format=raw", "-device", "virtio-blk-pci,drive=d0,disable-legacy=on,iommu_platform=on"}},
}

// benchImage is the benchmark's disk image, in L1's tmpfs: the guests'
// I/O then measures the VMMs, not the test host's 9p file sharing.
const benchImage = "/tmp/govmm-bench.img"

// diskBenchRounds is how many write+read rounds each guest times; the
// best round of each counts, which keeps boot-time background work and
// TCG's jitter out of the comparison.
const diskBenchRounds = 3

// BenchmarkDiskThroughput measures guest dd throughput (1 MiB blocks,
// O_DIRECT, 64 MiB, best of diskBenchRounds) on virtio-blk under govmm and
// QEMU, with the identical Debian 6.12 guest and image in one test-host
// run, and prints a markdown table with the govmm/QEMU ratios (also
// written to $GOVMM_DISKBENCH_OUT):
//
//	go test -run '^$' -bench DiskThroughput -benchtime 1x -timeout 60m ./tests/
//
// $GOVMM_DISKBENCH_ONLY=SUBSTRING keeps only the set-ups whose name holds
// it; $GOVMM_DISKBENCH_PROFILES=DIR runs govmm with --cpuprofile and copies
// each profile to DIR/<n>.pprof (n numbers the govmm set-ups in order).
func BenchmarkDiskThroughput(b *testing.B) {
	h := testhost.New(b)
	k := h.Kernel(testhost.KernelTrixieCloud)
	var (
		guests  []testhost.Guest
		configs = diskBenchConfigs[:0:0]
		profDir = os.Getenv("GOVMM_DISKBENCH_PROFILES")
	)
	for _, c := range diskBenchConfigs {
		if !strings.Contains(c.name, os.Getenv("GOVMM_DISKBENCH_ONLY")) {
			continue
		}
		configs = append(configs, c)
		for _, vmm := range []testhost.VMM{testhost.QEMU, testhost.GoVMM} {
			args := c.qemu
			if vmm == testhost.GoVMM {
				args = c.govmm
				if profDir != "" {
					args = append(append([]string(nil), args...), "--cpuprofile", fmt.Sprintf("cpu-%d.pprof", len(configs)-1))
				}
			}
			guests = append(guests, testhost.Guest{
				VMM: vmm, Kernel: k, Init: diskBenchInit, Modules: c.modules,
				Cmdline: strings.TrimSpace("console=ttyS0 panic=-1 quiet " + c.cmdline),
				CPUs:    1, Memory: "512M", ExtraArgs: args,
				Setup: "rm -f " + benchImage + "\ntruncate -s 80M " + benchImage, After: "rm -f " + benchImage,
				Marker: "GOVMM-DISK-BENCH", ExitMarker: "@poweroff", Timeout: 8 * time.Minute,
			})
		}
	}
	if len(guests) == 0 {
		b.Fatalf("no set-up name contains GOVMM_DISKBENCH_ONLY=%q", os.Getenv("GOVMM_DISKBENCH_ONLY"))
	}
	for b.Loop() {
		results, err := h.RunSeq(b.Context(), testhost.L1Options{}, guests...)
		if err != nil {
			b.Fatal(err)
		}
		var out strings.Builder
		fmt.Fprintf(&out, "| set-up (Debian %s, 1 vCPU) | QEMU write / read MB/s | govmm write / read MB/s | govmm/QEMU write / read |\n|---|---|---|---|\n", k.Release)
		for i, c := range configs {
			q, g := results[2*i], results[2*i+1]
			qw, qr, qerr := diskRates(q)
			gw, gr, gerr := diskRates(g)
			if qerr != nil || gerr != nil {
				b.Errorf("%s: QEMU: %v; govmm: %v\n%s\n%s", c.name, qerr, gerr, q.Tail(20), g.Tail(20))
				continue
			}
			fmt.Fprintf(&out, "| %s | %.1f / %.1f | %.1f / %.1f | %.2f / %.2f |\n", c.name, qw, qr, gw, gr, gw/qw, gr/qr)
			b.ReportMetric(gw/qw, strings.ReplaceAll(c.name, " ", "")+"-write-ratio")
			if profDir != "" {
				p := fmt.Sprintf("cpu-%d.pprof", i)
				data, err := os.ReadFile(filepath.Join(g.L1.Work, p))
				if err == nil {
					err = os.WriteFile(filepath.Join(profDir, p), data, 0o644)
				}
				if err != nil {
					b.Errorf("%s: profile: %v", c.name, err)
				}
			}
		}
		fmt.Print(out.String())
		if f := os.Getenv("GOVMM_DISKBENCH_OUT"); f != "" {
			if err := os.WriteFile(f, []byte(out.String()), 0o644); err != nil {
				b.Error(err)
			}
		}
	}
}

// diskRates returns a diskBenchInit run's best write and read throughput
// in MB/s.
func diskRates(res *testhost.Result) (write, read float64, err error) {
	if res.ExitCode != 0 {
		return 0, 0, fmt.Errorf("VMM %s", res.Summary())
	}
	r := parseGuestReport(res.Serial)
	rate := func(key string) (float64, error) {
		vs := r.values[key]
		if len(vs) != diskBenchRounds {
			return 0, fmt.Errorf("%s: %d rounds reported, want %d", key, len(vs), diskBenchRounds)
		}
		best := 0
		for _, v := range vs {
			cs, err := strconv.Atoi(v)
			if err != nil || cs <= 0 {
				return 0, fmt.Errorf("%s = %q", key, v)
			}
			if best == 0 || cs < best {
				best = cs
			}
		}
		return 64 * 1.048576 / (float64(best) / 100), nil
	}
	if write, err = rate("write-cs"); err != nil {
		return 0, 0, err
	}
	read, err = rate("read-cs")
	return write, read, err
}
