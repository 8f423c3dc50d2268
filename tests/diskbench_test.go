package tests

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govmm/govmm/tests/testhost"
)

// diskBenchInit times 64 MiB of 1 MiB O_DIRECT writes and reads of /dev/vda
// with the guest's /proc/uptime (10 ms resolution) and reports MB/s.
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
t0=$(up); dd if=/dev/zero of=/dev/vda bs=1M count=64 oflag=direct 2>/dev/null; t1=$(up)
echo "@write-cs $((t1 - t0))"
t0=$(up); dd if=/dev/vda of=/dev/null bs=1M count=64 iflag=direct 2>/dev/null; t1=$(up)
echo "@read-cs $((t1 - t0))"
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
		[]string{"--disk", "bench.img"},
		[]string{"-drive", "file=bench.img,if=none,id=d0,format=raw", "-device", "virtio-blk-pci,drive=d0,disable-legacy=on"}},
	{"virtio-blk + VT-d (strict, CM)", "intel_iommu=on iommu.strict=1", []string{"virtio_blk"},
		[]string{"--iommu", "vtd", "--disk", "bench.img"},
		[]string{"-M", "q35,kernel-irqchip=split", "-device", "intel-iommu,caching-mode=on",
			"-drive", "file=bench.img,if=none,id=d0,format=raw", "-device", "virtio-blk-pci,drive=d0,disable-legacy=on,iommu_platform=on"}},
	{"virtio-blk + virtio-iommu", "iommu.strict=1", []string{"virtio_iommu", "virtio_blk"},
		[]string{"--iommu", "virtio", "--disk", "bench.img"},
		[]string{"-device", "virtio-iommu-pci",
			"-drive", "file=bench.img,if=none,id=d0,format=raw", "-device", "virtio-blk-pci,drive=d0,disable-legacy=on,iommu_platform=on"}},
}

// BenchmarkDiskThroughput measures guest dd throughput (1 MiB blocks,
// O_DIRECT, 64 MiB) on virtio-blk under govmm and QEMU, with the identical
// Debian 6.12 guest and image in one test-host run, and prints a markdown
// table with the govmm/QEMU ratios (also written to $GOVMM_DISKBENCH_OUT):
//
//	go test -run '^$' -bench DiskThroughput -benchtime 1x -timeout 60m ./tests/
func BenchmarkDiskThroughput(b *testing.B) {
	h := testhost.New(b)
	k := h.Kernel(testhost.KernelTrixieCloud)
	var guests []testhost.Guest
	for _, c := range diskBenchConfigs {
		for _, vmm := range []testhost.VMM{testhost.QEMU, testhost.GoVMM} {
			args := c.govmm
			if vmm == testhost.QEMU {
				args = c.qemu
			}
			guests = append(guests, testhost.Guest{
				VMM: vmm, Kernel: k, Init: diskBenchInit, Modules: c.modules,
				Cmdline: strings.TrimSpace("console=ttyS0 panic=-1 quiet " + c.cmdline),
				CPUs:    1, Memory: "512M", ExtraArgs: args,
				Marker: "GOVMM-DISK-BENCH", ExitMarker: "@poweroff", Timeout: 5 * time.Minute,
			})
		}
	}
	guests[0].Files = map[string][]byte{"bench.img": make([]byte, 80<<20)}
	for b.Loop() {
		results, err := h.RunSeq(b.Context(), testhost.L1Options{}, guests...)
		if err != nil {
			b.Fatal(err)
		}
		var out strings.Builder
		fmt.Fprintf(&out, "| set-up (Debian %s, 1 vCPU) | QEMU write / read MB/s | govmm write / read MB/s | govmm/QEMU write / read |\n|---|---|---|---|\n", k.Release)
		for i, c := range diskBenchConfigs {
			q, g := results[2*i], results[2*i+1]
			qw, qr, qerr := diskRates(q)
			gw, gr, gerr := diskRates(g)
			if qerr != nil || gerr != nil {
				b.Errorf("%s: QEMU: %v; govmm: %v\n%s\n%s", c.name, qerr, gerr, q.Tail(20), g.Tail(20))
				continue
			}
			fmt.Fprintf(&out, "| %s | %.1f / %.1f | %.1f / %.1f | %.2f / %.2f |\n", c.name, qw, qr, gw, gr, gw/qw, gr/qr)
			b.ReportMetric(gw/qw, strings.ReplaceAll(c.name, " ", "")+"-write-ratio")
		}
		fmt.Print(out.String())
		if f := os.Getenv("GOVMM_DISKBENCH_OUT"); f != "" {
			if err := os.WriteFile(f, []byte(out.String()), 0o644); err != nil {
				b.Error(err)
			}
		}
	}
}

// diskRates returns a diskBenchInit run's write and read throughput in MB/s.
func diskRates(res *testhost.Result) (write, read float64, err error) {
	if res.ExitCode != 0 {
		return 0, 0, fmt.Errorf("VMM %s", res.Summary())
	}
	r := parseGuestReport(res.Serial)
	rate := func(key string) (float64, error) {
		cs, err := strconv.Atoi(r.value(key))
		if err != nil || cs <= 0 {
			return 0, fmt.Errorf("%s = %q", key, r.value(key))
		}
		return 64 * 1.048576 / (float64(cs) / 100), nil
	}
	if write, err = rate("write-cs"); err != nil {
		return 0, 0, err
	}
	read, err = rate("read-cs")
	return write, read, err
}
