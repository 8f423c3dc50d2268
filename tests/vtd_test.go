package tests

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/govmm/govmm/notifier"
	"github.com/govmm/govmm/tests/testhost"
)

// vtdInit is /init for the VT-d guests: it reports the IOMMU groups and the
// kernel's DMAR lines, then programs the edu device (00:03.0) through BAR0
// with busybox devmem to read 8 bytes at IOVA @iova into its buffer, and
// reports the engine's error register and the DMAR fault lines that
// followed.
const vtdInit = initPrologue + `dmesg -n 1
echo "GOVMM-VTD-INIT"
for d in /sys/bus/pci/devices/*; do
	g=$(readlink $d/iommu_group)
	echo "@pci ${d##*/} group=${g##*/}"
done
echo "@dmesg-begin"
dmesg | grep -E 'DMAR|iommu'
echo "@dmesg-end"
E=/sys/bus/pci/devices/0000:00:03.0
echo 1 > $E/enable
printf '\007' | dd of=$E/config bs=1 seek=4 count=1 conv=notrunc 2>/dev/null
BAR=$(head -1 $E/resource | cut -d' ' -f1)
devmem $((BAR + 0x80)) 64 @iova
devmem $((BAR + 0x88)) 64 0x40000
devmem $((BAR + 0x90)) 64 8
devmem $((BAR + 0x98)) 64 1
echo "@edu-error $(devmem $((BAR + 0xA0)) 32)"
for i in 1 2 3 4 5; do dmesg | grep -q 'DMAR: \[DMA' && break; sleep 1; done
echo "@fault-begin"
dmesg | grep 'DMAR: \[DMA'
echo "@fault-end"
echo "@poweroff"
poweroff -f
`

// eduSID is the requester ID of the edu device at 00:03.0.
const eduSID = 0x18

var dmaFault = regexp.MustCompile(`DMAR: \[DMA Read[^\]]*\] Request device \[00:03\.0\] fault addr 0x12345000 \[fault reason 0x0?6\]`)

// TestVTD boots Debian's 6.12 and 6.1 cloud kernels with intel_iommu=on
// under govmm --iommu vtd and checks that the guest's intel-iommu driver
// takes the unit over (queued invalidation, every PCI device in an IOMMU
// group, no DMA faults while booting), that a DMA to an unmapped IOVA made
// by the edu device is reported in the guest's dmesg as a DMAR fault with
// reason 6 at that address, and that with iommu=pt the same device reaches
// guest RAM through pass-through. The event log must parse and show the
// shadow's map/unmap traffic for the device.
func TestVTD(t *testing.T) {
	h := testhost.New(t)
	cases := []struct {
		name    string
		kernel  string
		cmdline string
		iova    string
		fault   bool
	}{
		{"trixie-cloud/strict", testhost.KernelTrixieCloud, "intel_iommu=on iommu.strict=1", "0x12345000", true},
		{"bookworm-cloud/strict", testhost.KernelBookwormCloud, "intel_iommu=on iommu.strict=1", "0x12345000", true},
		{"trixie-cloud/pt", testhost.KernelTrixieCloud, "intel_iommu=on iommu=pt", "0x1000", false},
	}
	var guests []testhost.Guest
	for i, c := range cases {
		guests = append(guests, testhost.Guest{
			VMM:     testhost.GoVMM,
			Kernel:  h.Kernel(c.kernel),
			Init:    strings.ReplaceAll(vtdInit, "@iova", c.iova),
			Cmdline: "console=ttyS0 panic=-1 " + c.cmdline,
			CPUs:    2,
			Memory:  "512M",
			ExtraArgs: []string{"--iommu", "vtd", "--device", "edu",
				"--iommu-events", fmt.Sprintf("events-%d.jsonl", i)},
			Marker:     "GOVMM-VTD-INIT",
			ExitMarker: "@poweroff",
			Timeout:    5 * time.Minute,
		})
	}
	names := make([]string, len(cases))
	for i, c := range cases {
		names[i] = c.name
	}
	checkGuests(t, h, names, guests, func(i int, res *testhost.Result, r guestReport) []string {
		c := cases[i]
		var p []string
		log := strings.Join(r.dmesg, "\n")
		for _, want := range []string{"DMAR: Intel(R) Virtualization Technology for Directed I/O", "Using Queued invalidation"} {
			if !strings.Contains(log, want) {
				p = append(p, fmt.Sprintf("kernel log lacks %q", want))
			}
		}
		if strings.Contains(log, "DMAR: [DMA") {
			p = append(p, "DMA faults while booting:\n"+log)
		}
		if len(r.values["pci"]) < 2 {
			p = append(p, fmt.Sprintf("PCI devices %q, want the host bridge and edu", r.values["pci"]))
		}
		for _, d := range r.values["pci"] {
			if strings.HasSuffix(d, "group=") {
				p = append(p, "not in an IOMMU group: "+d)
			}
		}
		faults := strings.Join(section(res.Serial, "fault"), "\n")
		if c.fault {
			if r.value("edu-error") != "0x00000001" {
				p = append(p, fmt.Sprintf("edu DMA error register %q, want 0x00000001 (faulted)", r.value("edu-error")))
			}
			if !dmaFault.MatchString(faults) {
				p = append(p, fmt.Sprintf("no DMAR read fault for 00:03.0 at 0x12345000 with reason 6; fault lines:\n%s", faults))
			}
		} else {
			if r.value("edu-error") != "0x00000000" {
				p = append(p, fmt.Sprintf("edu DMA error register %q, want 0x00000000 (pass-through)", r.value("edu-error")))
			}
			if faults != "" {
				p = append(p, "unexpected DMA faults:\n"+faults)
			}
		}
		p = append(p, checkEvents(filepath.Join(res.L1.Work, fmt.Sprintf("events-%d.jsonl", i)))...)
		return p
	})
}

// checkEvents reads a --iommu-events file and checks that it parses, and
// that the edu device's address space was shadowed: the identity map
// before translation is on, and its removal when the guest enabled it.
func checkEvents(path string) []string {
	recs, err := readEventLog(path)
	if err != nil {
		return []string{err.Error()}
	}
	var maps, unmaps int
	for _, r := range recs {
		if r.Event.SID != eduSID {
			continue
		}
		switch r.Event.Kind {
		case notifier.Map:
			maps++
		case notifier.Unmap:
			unmaps++
		}
	}
	if maps == 0 || unmaps == 0 {
		return []string{fmt.Sprintf("event log: %d maps and %d unmaps for SID %#x among %d events, want both", maps, unmaps, eduSID, len(recs))}
	}
	return nil
}

// section returns the non-empty lines between "@NAME-begin" and
// "@NAME-end" in a serial log.
func section(serial, name string) []string {
	var out []string
	in := false
	for _, line := range strings.Split(serial, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case line == "@"+name+"-begin":
			in = true
		case line == "@"+name+"-end":
			in = false
		case in && line != "":
			out = append(out, line)
		}
	}
	return out
}
