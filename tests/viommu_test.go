package tests

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govmm/govmm/tests/testhost"
)

// viommuInit is blkInit with the virtio-iommu's view first: the IOMMU
// groups the endpoints joined.
var viommuInit = strings.Replace(blkInit, `echo "GOVMM-BLK-INIT"`, `echo "GOVMM-BLK-INIT"
for g in /sys/kernel/iommu_groups/*; do
	for d in $g/devices/*; do [ -e "$d" ] && echo "@group ${g##*/} ${d##*/}"; done
done`, 1)

// TestVirtioIOMMU boots Debian's 6.12 cloud kernel with the virtio_iommu
// module loaded from the initramfs before virtio_blk, under govmm --iommu
// virtio: both disks must join IOMMU groups, the 64 MiB write/read/sha256
// test must pass with every DMA translated through the guest-managed
// domain, and the event log must show the disk's MAPs and UNMAPs. The same
// with iommu.passthrough=1 uses bypass domains.
func TestVirtioIOMMU(t *testing.T) {
	h := testhost.New(t)
	cases := []struct {
		name    string
		cmdline string
		events  bool
	}{
		{"dma-domains", "iommu.strict=1", true},
		{"passthrough", "iommu.passthrough=1", false},
	}
	var guests []testhost.Guest
	for i, c := range cases {
		guests = append(guests, testhost.Guest{
			VMM:     testhost.GoVMM,
			Kernel:  h.Kernel(testhost.KernelTrixieCloud),
			Init:    viommuInit,
			Modules: []string{"virtio_iommu", "virtio_blk"},
			Cmdline: "console=ttyS0 panic=-1 " + c.cmdline,
			CPUs:    2, Memory: "512M",
			ExtraArgs: []string{"--iommu", "virtio", "--disk", l1Image, "--disk", l1ROImage + ",readonly",
				"--iommu-events", fmt.Sprintf("vevents-%d.jsonl", i)},
			Setup: diskSetup, After: diskAfter,
			Marker: "GOVMM-BLK-INIT", ExitMarker: "@poweroff", Timeout: 6 * time.Minute,
		})
	}
	names := make([]string, len(cases))
	for i, c := range cases {
		names[i] = c.name
	}
	checkGuests(t, h, names, guests, func(i int, res *testhost.Result, r guestReport) []string {
		c := cases[i]
		var p []string
		groups := strings.Join(r.values["group"], "\n")
		for _, dev := range []string{"0000:00:03.0", "0000:00:04.0"} {
			if !strings.Contains(groups, dev) {
				p = append(p, fmt.Sprintf("%s is in no IOMMU group; groups:\n%s", dev, groups))
			}
		}
		p = append(p, diskProblems(r, res.After)...)
		if c.events {
			p = append(p, checkDiskEvents(filepath.Join(res.L1.Work, fmt.Sprintf("vevents-%d.jsonl", i)))...)
		}
		return p
	})
}
