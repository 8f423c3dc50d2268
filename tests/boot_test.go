package tests

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/govmm/govmm/tests/testhost"
)

// bootInit is /init for TestBoot: it reports what the guest sees as
// "@key value" lines (parseGuestReport) and the kernel log's ACPI, firmware
// and ECAM (MMCONFIG) lines; the whole log is on the console already (no
// "quiet"), and printing it again costs tens of seconds on the test host.
// The console log level drops to 1 first, so that late kernel messages do
// not interleave with the report.
const bootInit = `#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
dmesg -n 1
echo "GOVMM-BOOT-INIT"
echo "@release $(uname -r)"
echo "@nproc $(nproc)"
echo "@online $(cat /sys/devices/system/cpu/online)"
for f in /sys/firmware/acpi/tables/*; do
	[ -f "$f" ] && echo "@acpi ${f##*/}"
done
for d in /sys/bus/pci/devices/*; do
	[ -e "$d" ] || continue
	echo "@pci ${d##*/} $(cat $d/vendor):$(cat $d/device) $(cat $d/class)"
done
echo "@dmesg-begin"
dmesg | grep -i -E 'ACPI|Firmware|FW_BUG|MMCONFIG|ECAM'
echo "@dmesg-end"
echo "@poweroff"
poweroff -f
`

// acpiProblems are kernel log fragments that mean the firmware tables are
// wrong (FW_BUG is the macro behind "[Firmware Bug]: ").
var acpiProblems = []string{"ACPI BIOS Error", "ACPI Error", "ACPI Warning", "[Firmware Bug]", "FW_BUG"}

// ECAM (MMCONFIG) enumeration and reservation, as Linux 6.1 and Linux 6.12
// word them (6.8 renamed MMCONFIG to ECAM in these messages).
var (
	ecamEnumerated = regexp.MustCompile(
		`PCI: MMCONFIG for domain 0000 \[bus 00-[0-9a-f]{2}\] at \[mem 0x[0-9a-f]+-0x[0-9a-f]+\] \(base 0x[0-9a-f]+\)` +
			`|PCI: ECAM \[mem 0x[0-9a-f]+-0x[0-9a-f]+\] \(base 0x[0-9a-f]+\) for domain 0000 \[bus 00-[0-9a-f]{2}\]`)
	ecamReserved = regexp.MustCompile(
		`PCI: (MMCONFIG at|ECAM) \[mem 0x[0-9a-f]+-0x[0-9a-f]+\] reserved ` +
			`(in E820|in ACPI motherboard resources|as E820 entry|as ACPI motherboard resource)`)
)

// TestBoot boots govmm with 2 vCPUs into a busybox initramfs, with trixie's
// 6.12 cloud bzImage and bookworm's 6.1 cloud kernel as a bzImage and
// through PVH, and checks what the guest sees: its release, both CPUs, the
// ACPI tables (APIC, FACP, DSDT, MCFG) without firmware errors, the PCI
// host bridge found through ECAM, and a clean power-off (govmm exits 0).
func TestBoot(t *testing.T) {
	h := testhost.New(t)
	for _, tc := range bootVariants {
		t.Run(tc.name, func(t *testing.T) {
			k := h.Kernel(tc.kernel)
			res, err := h.Run(t.Context(), bootGuest(testhost.GoVMM, k, tc.pvh))
			if err != nil {
				t.Fatal(err)
			}
			t.Log(res.Summary())
			if problems := checkBoot(res, k.Release); len(problems) > 0 {
				t.Errorf("%s\n%s", strings.Join(problems, "\n"), res.Tail(40))
			}
		})
	}
}

// TestBootQEMUReference boots TestBoot's guests under QEMU (q35) in one L1
// and applies the same checks: they hold for a known-good VMM, so a
// TestBoot failure is govmm's.
func TestBootQEMUReference(t *testing.T) {
	h := testhost.New(t)
	var guests []testhost.Guest
	for _, tc := range bootVariants {
		guests = append(guests, bootGuest(testhost.QEMU, h.Kernel(tc.kernel), tc.pvh))
	}
	results, err := h.RunSeq(t.Context(), testhost.L1Options{}, guests...)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range bootVariants {
		t.Run(tc.name, func(t *testing.T) {
			res := results[i]
			t.Log(res.Summary())
			if problems := checkBoot(res, guests[i].Kernel.Release); len(problems) > 0 {
				t.Errorf("%s\n%s", strings.Join(problems, "\n"), res.Tail(40))
			}
		})
	}
}

// bootVariants are TestBoot's cases.
var bootVariants = []struct {
	name   string
	kernel string
	pvh    bool
}{
	{"trixie-cloud/bzImage", testhost.KernelTrixieCloud, false},
	{"bookworm-cloud/bzImage", testhost.KernelBookwormCloud, false},
	{"bookworm-cloud/pvh", testhost.KernelBookwormCloud, true},
}

// bootGuest is TestBoot's guest: 2 vCPUs, 1 GiB, the full kernel log on
// the console (its tail is what a failure shows).
func bootGuest(vmm testhost.VMM, k testhost.Kernel, pvh bool) testhost.Guest {
	return testhost.Guest{
		VMM:     vmm,
		Kernel:  k,
		PVH:     pvh,
		Init:    bootInit,
		Cmdline: "console=ttyS0 panic=-1",
		CPUs:    2,
		Memory:  "1G",
		Marker:  "GOVMM-BOOT-INIT",
		// a VMM that misses the power-off fails a minute later, not at Timeout
		ExitMarker: "@poweroff",
		Timeout:    4 * time.Minute,
	}
}

// checkBoot lists what is wrong with a TestBoot guest's run.
func checkBoot(res *testhost.Result, release string) []string {
	var p []string
	if res.TimedOut || res.ExitCode != 0 {
		p = append(p, fmt.Sprintf("govmm: %s, want exit status 0 after the guest's poweroff", res.Summary()))
	}
	if res.ToMarker < 0 {
		p = append(p, "the guest's /init never ran (no GOVMM-BOOT-INIT on the console)")
		return p
	}
	r := parseGuestReport(res.Serial)
	if got := r.value("release"); got != release {
		p = append(p, fmt.Sprintf("uname -r = %q, want %q", got, release))
	}
	if got := r.value("nproc"); got != "2" {
		p = append(p, fmt.Sprintf("nproc = %q (online CPUs %q), want 2", got, r.value("online")))
	}
	tables := r.values["acpi"]
	for _, want := range []string{"APIC", "FACP", "DSDT", "MCFG"} {
		if !slices.Contains(tables, want) {
			p = append(p, fmt.Sprintf("ACPI table %s missing from /sys/firmware/acpi/tables (have %v)", want, tables))
		}
	}
	bridge := false
	for _, d := range r.values["pci"] {
		bridge = bridge || strings.HasPrefix(d, "0000:00:00.0 ")
	}
	if !bridge {
		p = append(p, fmt.Sprintf("no host bridge 0000:00:00.0 in /sys/bus/pci/devices (have %q)", r.values["pci"]))
	}
	if len(r.dmesg) == 0 {
		return append(p, "no ACPI or ECAM lines in the kernel log (between @dmesg-begin and @dmesg-end)")
	}
	for _, line := range r.dmesg {
		for _, bad := range acpiProblems {
			if strings.Contains(line, bad) {
				p = append(p, "kernel log: "+line)
				break
			}
		}
	}
	log := strings.Join(r.dmesg, "\n")
	if !ecamEnumerated.MatchString(log) {
		p = append(p, "kernel log: no ECAM (MMCONFIG) region for domain 0000 bus 00")
	}
	if !ecamReserved.MatchString(log) {
		p = append(p, "kernel log: the ECAM (MMCONFIG) region is not reserved in E820 or as an ACPI motherboard resource")
	}
	return p
}
