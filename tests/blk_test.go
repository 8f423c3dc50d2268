package tests

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govmm/govmm/notifier"
	"github.com/govmm/govmm/tests/testhost"
)

// blkInit is /init for the disk tests: it loads the virtio modules, writes
// 64 MiB of random data to /dev/vda with O_DIRECT, reads it back the same
// way, reports both checksums, and tries a write to the read-only /dev/vdb.
const blkInit = initPrologue + `mount -t tmpfs tmpfs /tmp
dmesg -n 1
/load-modules.sh
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vdb ] && break; sleep 1; done
echo "GOVMM-BLK-INIT"
echo "@vda-size $(cat /sys/block/vda/size)"
echo "@vdb-ro $(cat /sys/block/vdb/ro)"
dd if=/dev/urandom of=/tmp/src bs=1M count=64 2>/dev/null
echo "@sha-src $(sha256sum /tmp/src | cut -d' ' -f1)"
dd if=/tmp/src of=/dev/vda bs=1M oflag=direct 2>/dev/null; echo "@write-rc $?"
rm /tmp/src
dd if=/dev/vda of=/tmp/back bs=1M count=64 iflag=direct 2>/dev/null; echo "@read-rc $?"
echo "@sha-back $(sha256sum /tmp/back | cut -d' ' -f1)"
dd if=/dev/zero of=/dev/vdb bs=4096 count=1 oflag=direct 2>/dev/null; echo "@ro-write-rc $?"
echo "@dmesg-begin"
dmesg | grep -E 'DMAR|virtio|vd[ab]'
echo "@dmesg-end"
echo "@poweroff"
poweroff -f
`

const blkImageSize = 80 << 20

// Requester IDs of the disks: vda at 00:03.0, vdb at 00:04.0.
const vdaSID = 0x18

// TestVirtioBlk writes 64 MiB of random data to a virtio-blk disk from
// Debian 6.12 and 6.1 guests with O_DIRECT, reads it back, and checks the
// guest's checksum against the one of the image file on the host; a
// read-only second disk must refuse the guest's write. The same runs under
// --iommu vtd with intel_iommu=on (strict, caching mode) put every DMA
// through the guest's page tables: the event log must then show the disk's
// I/O as MAPs and UNMAPs of its requester ID, and the guest no DMA fault.
func TestVirtioBlk(t *testing.T) {
	h := testhost.New(t)
	cases := []struct {
		name   string
		kernel string
		vtd    bool
	}{
		{"trixie-cloud", testhost.KernelTrixieCloud, false},
		{"bookworm-cloud", testhost.KernelBookwormCloud, false},
		{"trixie-cloud/vtd", testhost.KernelTrixieCloud, true},
		{"bookworm-cloud/vtd", testhost.KernelBookwormCloud, true},
	}
	var guests []testhost.Guest
	for i, c := range cases {
		k := h.Kernel(c.kernel)
		args := []string{"--disk", l1Image, "--disk", l1ROImage + ",readonly"}
		cmdline := "console=ttyS0 panic=-1"
		if c.vtd {
			args = append(args, "--iommu", "vtd", "--iommu-events", fmt.Sprintf("events-%d.jsonl", i))
			cmdline += " intel_iommu=on iommu.strict=1"
		}
		mods := []string{"virtio_blk"}
		if c.kernel == testhost.KernelBookwormCloud {
			mods = append([]string{"virtio_pci"}, mods...)
		}
		guests = append(guests, testhost.Guest{
			VMM: testhost.GoVMM, Kernel: k, Init: blkInit, Modules: mods,
			Cmdline: cmdline, CPUs: 2, Memory: "512M", ExtraArgs: args,
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
		if got, want := r.value("vda-size"), fmt.Sprint(blkImageSize/512); got != want {
			p = append(p, fmt.Sprintf("vda has %q sectors, want %s", got, want))
		}
		if r.value("vdb-ro") != "1" {
			p = append(p, fmt.Sprintf("vdb read-only flag %q, want 1", r.value("vdb-ro")))
		}
		p = append(p, diskProblems(r, res.After)...)
		if c.vtd {
			log := strings.Join(r.dmesg, "\n")
			if strings.Contains(log, "DMAR: [DMA") {
				p = append(p, "DMA faults:\n"+log)
			}
			p = append(p, checkDiskEvents(filepath.Join(res.L1.Work, fmt.Sprintf("events-%d.jsonl", i)))...)
		}
		return p
	})
}

// exitProblems reports a VMM that did not exit 0 after the guest's
// power-off.
func exitProblems(res *testhost.Result) []string {
	if res.TimedOut || res.ExitCode != 0 {
		return []string{fmt.Sprintf("govmm: %s, want exit status 0", res.Summary())}
	}
	return nil
}

// The disk images live in L1's tmpfs, not on the 9p work share: the guest's
// I/O then exercises the VMM, not the test host's file sharing. diskSetup
// creates them before the VMM starts; diskAfter prints the SHA-256 of the
// first 64 MiB of the image (as the VMM left it) and removes both.
const (
	l1Image    = "/tmp/govmm-disk.img"
	l1ROImage  = "/tmp/govmm-ro.img"
	diskSetup  = "rm -f " + l1Image + " " + l1ROImage + "\ntruncate -s 80M " + l1Image + "\ntruncate -s 1M " + l1ROImage
	diskAfter  = "echo \"@image-sha $(head -c 67108864 " + l1Image + " | sha256sum | cut -d' ' -f1)\"\nrm -f " + l1Image + " " + l1ROImage
	shaOfImage = "image-sha"
)

// diskProblems checks blkInit's report: both dd runs succeeded, the guest
// read back what it wrote, the image in L1 holds it (after is diskAfter's
// output), and the read-only disk refused a write.
func diskProblems(r guestReport, after string) []string {
	var p []string
	for _, k := range []string{"write-rc", "read-rc"} {
		if r.value(k) != "0" {
			p = append(p, fmt.Sprintf("guest dd %s = %q, want 0", k, r.value(k)))
		}
	}
	if r.value("ro-write-rc") == "0" {
		p = append(p, "the read-only disk accepted a write")
	}
	src := r.value("sha-src")
	if len(src) != 64 || r.value("sha-back") != src {
		p = append(p, fmt.Sprintf("guest read back %q, wrote %q", r.value("sha-back"), src))
	}
	if host := parseGuestReport(after).value(shaOfImage); host != src {
		p = append(p, fmt.Sprintf("the image in the test host has %q, the guest wrote %s", host, src))
	}
	return p
}

// checkDiskEvents checks that the shadowed mappings of the disk's address
// space carried the I/O: in strict mode every 1 MiB request is mapped and
// unmapped, so the MAPs of vda's requester ID add up to at least the 128 MiB
// written and read, and as many bytes are unmapped.
func checkDiskEvents(path string) []string {
	recs, err := readEventLog(path)
	if err != nil {
		return []string{err.Error()}
	}
	var mapped, unmapped uint64
	for _, r := range recs {
		if r.Event.SID != vdaSID || r.Event.IOVA == 0 && r.Event.Size >= 1<<29 {
			continue // another device, or the identity map of boot time
		}
		switch r.Event.Kind {
		case notifier.Map:
			mapped += r.Event.Size
		case notifier.Unmap:
			unmapped += r.Event.Size
		}
	}
	if mapped < 128<<20 || unmapped < 128<<20 {
		return []string{fmt.Sprintf("event log: vda (SID %#x) mapped %d MiB and unmapped %d MiB, want at least 128 MiB each", vdaSID, mapped>>20, unmapped>>20)}
	}
	return nil
}
