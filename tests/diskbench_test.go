package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/govmm/govmm/tests/testhost"
)

// diskBenchInit times diskBenchRounds rounds of 64 MiB of 1 MiB O_DIRECT
// writes and reads of /dev/vda with the guest's /proc/uptime (10 ms
// resolution), one "@write-cs" and "@read-cs" line per round.
const diskBenchInit = initPrologue + `dmesg -n 1
/load-modules.sh
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 1; done
up() { cut -d' ' -f1 /proc/uptime | tr -d .; }
echo "GOVMM-DISK-BENCH"
for r in 1 2 3 4 5; do
t0=$(up); dd if=/dev/zero of=/dev/vda bs=1M count=64 oflag=direct 2>/dev/null; t1=$(up)
echo "@write-cs $((t1 - t0))"
t0=$(up); dd if=/dev/vda of=/dev/null bs=1M count=64 iflag=direct 2>/dev/null; t1=$(up)
echo "@read-cs $((t1 - t0))"
done
echo "@dmesg-begin"; dmesg | tail -n 30; echo "@dmesg-end"
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

// diskBenchRounds is how many write+read rounds each guest times. Under
// the test host one round takes either about x or about 4x for both VMMs,
// at random: the best and the median over many rounds are what compare.
const diskBenchRounds = 5

// diskBenchRepeats is how many guests each VMM boots per set-up, in
// turns (QEMU, govmm, QEMU, govmm, ...), so that a slow phase of the test
// host does not land on one VMM only.
const diskBenchRepeats = 2

// BenchmarkDiskThroughput measures guest dd throughput (1 MiB blocks,
// O_DIRECT, 64 MiB) on virtio-blk under govmm and QEMU, with the identical
// Debian 6.12 guest and image in one test-host run: diskBenchRepeats
// guests per VMM and set-up, diskBenchRounds rounds each. It prints a
// markdown table of the best and the median round with the govmm/QEMU
// ratios (also written to $GOVMM_DISKBENCH_OUT):
//
//	go test -run '^$' -bench DiskThroughput -benchtime 1x -timeout 60m ./tests/
//
// $GOVMM_DISKBENCH_ONLY=NAME keeps only the set-up of that name, or else
// those whose name holds it; $GOVMM_DISKBENCH_PROFILES=DIR runs govmm with --cpuprofile and copies
// each profile to DIR/cpu-<n>.pprof and the guest's console to
// DIR/serial-<n>.log (n numbers govmm's guests in boot order).
func BenchmarkDiskThroughput(b *testing.B) {
	h := testhost.New(b)
	k := h.Kernel(testhost.KernelTrixieCloud)
	var (
		guests  []testhost.Guest
		configs = diskBenchConfigs[:0:0]
		profDir = os.Getenv("GOVMM_DISKBENCH_PROFILES")
	)
	only := os.Getenv("GOVMM_DISKBENCH_ONLY")
	for _, c := range diskBenchConfigs {
		if c.name == only {
			configs = append(configs[:0], c)
			break
		}
		if strings.Contains(c.name, only) {
			configs = append(configs, c)
		}
	}
	if len(configs) == 0 {
		b.Fatalf("no set-up name contains GOVMM_DISKBENCH_ONLY=%q", os.Getenv("GOVMM_DISKBENCH_ONLY"))
	}
	vmms := []testhost.VMM{testhost.QEMU, testhost.GoVMM}
	for range diskBenchRepeats {
		for _, c := range configs {
			for _, vmm := range vmms {
				args := c.qemu
				if vmm == testhost.GoVMM {
					args = c.govmm
					if profDir != "" {
						args = append(append([]string(nil), args...), "--cpuprofile", fmt.Sprintf("cpu-%d.pprof", len(guests)/2))
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
	}
	for b.Loop() {
		results, err := h.RunSeq(b.Context(), testhost.L1Options{}, guests...)
		if err != nil {
			b.Fatal(err)
		}
		var out strings.Builder
		fmt.Fprintf(&out, "| set-up (Debian %s, 1 vCPU) | QEMU write / read MB/s, best (median) | govmm write / read MB/s, best (median) | govmm/QEMU write / read, best (median) |\n|---|---|---|---|\n", k.Release)
		for i, c := range configs {
			var rates [2]diskRate
			for v := range vmms {
				var rs []*testhost.Result
				for rep := range diskBenchRepeats {
					res := results[(rep*len(configs)+i)*len(vmms)+v]
					rs = append(rs, res)
					r := parseGuestReport(res.Serial)
					b.Logf("%s, %v guest %d: write centiseconds %v, read %v", c.name, vmms[v], rep, r.values["write-cs"], r.values["read-cs"])
				}
				if rates[v], err = diskRates(rs); err != nil {
					b.Errorf("%s, %v: %v", c.name, vmms[v], err)
				}
			}
			q, g := rates[0], rates[1]
			fmt.Fprintf(&out, "| %s | %.1f / %.1f (%.1f / %.1f) | %.1f / %.1f (%.1f / %.1f) | %.2f / %.2f (%.2f / %.2f) |\n", c.name,
				q.write, q.read, q.writeMedian, q.readMedian, g.write, g.read, g.writeMedian, g.readMedian,
				g.write/q.write, g.read/q.read, g.writeMedian/q.writeMedian, g.readMedian/q.readMedian)
			b.ReportMetric(g.write/q.write, strings.ReplaceAll(c.name, " ", "")+"-write-ratio")
		}
		if profDir != "" {
			for n := range len(guests) / 2 {
				g := results[2*n+1]
				p := fmt.Sprintf("cpu-%d.pprof", n)
				data, err := os.ReadFile(filepath.Join(g.L1.Work, p))
				if err == nil {
					err = os.WriteFile(filepath.Join(profDir, p), data, 0o644)
				}
				if err == nil {
					err = os.WriteFile(filepath.Join(profDir, fmt.Sprintf("serial-%d.log", n)), []byte(g.Serial), 0o644)
				}
				if err != nil {
					b.Errorf("govmm guest %d: profile: %v", n, err)
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

// diskRate is one VMM's throughput in MB/s over every round of its guests.
type diskRate struct {
	write, read, writeMedian, readMedian float64
}

// diskRates returns the best and the median write and read throughput
// over every round of diskBenchInit runs.
func diskRates(rs []*testhost.Result) (diskRate, error) {
	var write, read []int
	for _, res := range rs {
		if res.ExitCode != 0 {
			return diskRate{}, fmt.Errorf("VMM %s", res.Summary())
		}
		r := parseGuestReport(res.Serial)
		for _, k := range []struct {
			key string
			to  *[]int
		}{{"write-cs", &write}, {"read-cs", &read}} {
			vs := r.values[k.key]
			if len(vs) != diskBenchRounds {
				return diskRate{}, fmt.Errorf("%s: %d rounds reported, want %d", k.key, len(vs), diskBenchRounds)
			}
			for _, v := range vs {
				cs, err := strconv.Atoi(v)
				if err != nil || cs <= 0 {
					return diskRate{}, fmt.Errorf("%s = %q", k.key, v)
				}
				*k.to = append(*k.to, cs)
			}
		}
	}
	mbps := func(cs int) float64 { return 64 * 1.048576 / (float64(cs) / 100) }
	slices.Sort(write)
	slices.Sort(read)
	return diskRate{
		write: mbps(write[0]), read: mbps(read[0]),
		writeMedian: mbps(write[len(write)/2]), readMedian: mbps(read[len(read)/2]),
	}, nil
}
