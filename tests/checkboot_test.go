package tests

import (
	"strings"
	"testing"
	"time"

	"github.com/govmm/govmm/tests/testhost"
)

// A good TestBoot console, with the ECAM lines as Linux 6.1 and 6.12 print
// them for QEMU's q35.
const (
	goodReport = "[    0.000000] Linux version ...\n" +
		"GOVMM-BOOT-INIT\n" +
		"@release 6.12.107+deb13-cloud-amd64\n" +
		"@nproc 2\n" +
		"@online 0-1\n" +
		"@acpi APIC\n@acpi DSDT\n@acpi FACP\n@acpi MCFG\n" +
		"@pci 0000:00:00.0 0x8086:0x29c0 0x060000\n" +
		"@pci 0000:00:1f.0 0x8086:0x2918 0x060100\n" +
		"@dmesg-begin\n" +
		"[    0.012345] ACPI: RSDP 0x00000000000F5270 000014 (v00 BOCHS )\n"
	ecam612 = "[    0.979229] PCI: ECAM [mem 0xb0000000-0xbfffffff] (base 0xb0000000) for domain 0000 [bus 00-ff]\n" +
		"[    0.979972] PCI: ECAM [mem 0xb0000000-0xbfffffff] reserved as E820 entry\n"
	ecam61 = "[    0.900987] PCI: MMCONFIG for domain 0000 [bus 00-ff] at [mem 0xb0000000-0xbfffffff] (base 0xb0000000)\n" +
		"[    0.901631] PCI: MMCONFIG at [mem 0xb0000000-0xbfffffff] reserved in E820\n"
	goodEnd = "@dmesg-end\n@poweroff\n[    5.422411] reboot: Power down\n"
)

func TestCheckBoot(t *testing.T) {
	const release = "6.12.107+deb13-cloud-amd64"
	ok := testhost.Result{Started: true, ToMarker: time.Second, ToExit: 2 * time.Second}
	tests := []struct {
		name   string
		serial string
		edit   func(*testhost.Result)
		want   []string // problems, by substring; none = passes
	}{
		{"6.12 passes", goodReport + ecam612 + goodEnd, nil, nil},
		{"6.1 passes", goodReport + ecam61 + goodEnd, nil, nil},
		{"motherboard reservation passes",
			goodReport + strings.Replace(ecam612, "as E820 entry", "as ACPI motherboard resource", 1) + goodEnd, nil, nil},
		{"VMM exit status", goodReport + ecam612 + goodEnd, func(r *testhost.Result) { r.ExitCode = 1 }, []string{"want exit status 0"}},
		{"VMM hung at power-off", goodReport + ecam612 + goodEnd, func(r *testhost.Result) { r.TimedOut, r.Hung, r.ExitCode = true, true, -1 },
			[]string{"want exit status 0"}},
		{"init never ran", "[    1.0] Kernel panic - not syncing\n", func(r *testhost.Result) { r.ToMarker = -1 }, []string{"never ran"}},
		{"wrong release", strings.Replace(goodReport, release, "6.1.0-56-cloud-amd64", 1) + ecam612 + goodEnd, nil,
			[]string{`uname -r = "6.1.0-56-cloud-amd64"`}},
		{"one CPU", strings.Replace(goodReport, "@nproc 2", "@nproc 1", 1) + ecam612 + goodEnd, nil, []string{`nproc = "1"`}},
		{"no MCFG", strings.Replace(goodReport, "@acpi MCFG\n", "", 1) + ecam612 + goodEnd, nil, []string{"ACPI table MCFG missing"}},
		{"no host bridge", strings.Replace(goodReport, "@pci 0000:00:00.0", "@pci 0000:00:01.0", 1) + ecam612 + goodEnd, nil,
			[]string{"no host bridge 0000:00:00.0"}},
		{"ACPI error", goodReport + ecam612 + "[    0.041337] ACPI BIOS Error (bug): A valid RSDP was not found (20220331/tbxfroot-210)\n" + goodEnd, nil,
			[]string{"kernel log: [    0.041337] ACPI BIOS Error"}},
		{"firmware bug", goodReport + ecam612 + "[    0.2] [Firmware Bug]: TSC doesn't count with P0 frequency!\n" + goodEnd, nil,
			[]string{"[Firmware Bug]"}},
		{"no ECAM", goodReport + goodEnd, nil, []string{"no ECAM (MMCONFIG) region", "not reserved"}},
		{"ECAM not reserved", goodReport + strings.SplitAfter(ecam612, "\n")[0] + goodEnd, nil, []string{"not reserved"}},
		{"ECAM on another bus range start", goodReport + strings.Replace(ecam612, "[bus 00-ff]", "[bus 01-ff]", 1) + goodEnd, nil,
			[]string{"no ECAM (MMCONFIG) region"}},
		{"no kernel log section", strings.TrimSuffix(goodReport, "@dmesg-begin\n[    0.012345] ACPI: RSDP 0x00000000000F5270 000014 (v00 BOCHS )\n"), nil,
			[]string{"no ACPI or ECAM lines"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			r.Serial = tc.serial
			if tc.edit != nil {
				tc.edit(&r)
			}
			problems := checkBoot(&r, release)
			if len(tc.want) == 0 && len(problems) > 0 {
				t.Fatalf("problems on a good boot:\n%s", strings.Join(problems, "\n"))
			}
			all := strings.Join(problems, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("problems lack %q:\n%s", w, all)
				}
			}
		})
	}
}

func TestParseGuestReport(t *testing.T) {
	r := parseGuestReport("noise\r\n@a 1\r\n@b\r\n@a  2 \r\n@dmesg-begin\r\n@not-a-key in dmesg\r\nline\r\n")
	if got := r.values["a"]; len(got) != 2 || got[0] != "1" || got[1] != "2" {
		t.Errorf("values[a] = %q", got)
	}
	if got, ok := r.values["b"]; !ok || got[0] != "" {
		t.Errorf("values[b] = %q, %v", got, ok)
	}
	if r.value("missing") != "" || len(r.dmesg) != 2 || r.dmesg[0] != "@not-a-key in dmesg" {
		t.Errorf("report %+v", r)
	}
}
