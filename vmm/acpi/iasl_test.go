package acpi

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The tests in this file check every generated table with the ACPICA
// compiler/disassembler iasl (Debian package acpica-tools): each table is
// written to a file named by its signature, as Linux names the files in
// /sys/firmware/acpi/tables, disassembled with "iasl -d", and the
// disassembly compiled again with iasl. A test fails on any error, warning
// or remark from either step, on any "****" or "Incorrect checksum" note in
// the disassembly, and when the recompiled table differs from the original
// (ignoring the checksum and the Creator ID/Revision, which iasl rewrites).
//
// Two limits of iasl are handled explicitly, not skipped:
//   - iasl cannot load a standalone RSDP ("Loading an RSDP is not
//     supported" in its acfileio.c). The RSDP is checked the other way
//     round: its fields are written in iasl's data-table source format,
//     compiled, and the result, checksums included, must equal the RSDP.
//   - iasl releases before 20210331 do not know the VIOT and decode only
//     its header. With such an iasl the "Unknown ACPI table signature
//     [VIOT]" line is the one note accepted, the byte comparison covers the
//     header only, and the VIOT body is checked by TestVIOTEndpoints.
//     Setting GOVMM_IASL to a newer iasl checks the VIOT fully.
//
// No remark is allowed: the generated DSDT compiles with 0 remarks.

// iaslVIOTVersion is the first ACPICA release that decodes the VIOT.
const iaslVIOTVersion = 20210331

type iaslTool struct {
	path    string
	version int // YYYYMMDD
}

// findIASL returns the iasl to use: $GOVMM_IASL, else iasl on $PATH. A
// missing iasl fails the test: the round trip is part of the package's
// definition of correct, not an optional extra.
func findIASL(t *testing.T) iaslTool {
	t.Helper()
	ia, err := lookupIASL(t)
	if err != nil {
		t.Fatal(err)
	}
	return ia
}

func lookupIASL(t *testing.T) (iaslTool, error) {
	path := os.Getenv("GOVMM_IASL")
	if path == "" {
		var err error
		if path, err = exec.LookPath("iasl"); err != nil {
			return iaslTool{}, fmt.Errorf("iasl not found: install the Debian package acpica-tools (apt-get install acpica-tools), or set GOVMM_IASL to an iasl binary")
		}
	}
	out, err := runIn(t, "", path, "-v")
	m := regexp.MustCompile(`version (\d{8})`).FindStringSubmatch(out)
	if err != nil || m == nil {
		return iaslTool{}, fmt.Errorf("%s -v: %v\n%s", path, err, out)
	}
	v, _ := strconv.Atoi(m[1])
	return iaslTool{path: path, version: v}, nil
}

// TestIASLMissing checks that a machine without iasl gets a failure that
// says what to install, rather than a skipped test.
func TestIASLMissing(t *testing.T) {
	t.Setenv("GOVMM_IASL", "")
	t.Setenv("PATH", t.TempDir())
	_, err := lookupIASL(t)
	if err == nil || !strings.Contains(err.Error(), "acpica-tools") {
		t.Errorf("lookupIASL with no iasl = %v, want an error naming acpica-tools", err)
	}
	t.Setenv("GOVMM_IASL", filepath.Join(t.TempDir(), "no-such-iasl"))
	if _, err := lookupIASL(t); err == nil {
		t.Error("lookupIASL with GOVMM_IASL naming a missing file succeeded")
	}
}

// runIn runs a command in dir with a one-minute limit and returns its
// combined output.
func runIn(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// problemRE matches the notes iasl writes, in its output or in a
// disassembly, about something wrong with a table.
var problemRE = regexp.MustCompile(`(?i)\*\*\*\*|warning|error|incorrect|invalid|unknown|too long|does not contain a valid|terminates early|unexpected`)

// problems returns the lines of text that problemRE matches, minus those
// allowed.
func problems(text string, allowed *regexp.Regexp) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if problemRE.MatchString(line) && (allowed == nil || !allowed.MatchString(line)) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// compileSummaryRE matches iasl's compile summary line.
var compileSummaryRE = regexp.MustCompile(`Compilation successful\. (\d+) Errors, (\d+) Warnings, (\d+) Remarks`)

// compile compiles src (a file in dir) to <prefix>.aml and returns the AML,
// or the problems found: a failed compile, errors, warnings or remarks.
func (ia iaslTool) compile(t *testing.T, dir, src, prefix string) ([]byte, []string) {
	t.Helper()
	out, err := runIn(t, dir, ia.path, "-p", prefix, src)
	m := compileSummaryRE.FindStringSubmatch(out)
	if err != nil || m == nil {
		return nil, []string{fmt.Sprintf("iasl %s failed (%v):\n%s", src, err, out)}
	}
	if m[1] != "0" || m[2] != "0" || m[3] != "0" {
		return nil, []string{fmt.Sprintf("iasl %s: %s\n%s", src, m[0], out)}
	}
	aml, err := os.ReadFile(filepath.Join(dir, prefix+".aml"))
	if err != nil {
		return nil, []string{err.Error()}
	}
	return aml, nil
}

// roundTrip disassembles dir/sig, compiles the disassembly, and returns the
// disassembly and every problem found.
func (ia iaslTool) roundTrip(t *testing.T, dir, sig string) (string, []string) {
	t.Helper()
	orig, err := os.ReadFile(filepath.Join(dir, sig))
	if err != nil {
		return "", []string{err.Error()}
	}
	var allowed *regexp.Regexp
	headerOnly := sig == "VIOT" && ia.version < iaslVIOTVersion
	if headerOnly {
		allowed = regexp.MustCompile(`Unknown ACPI table signature \[VIOT\]`)
	}
	out, err := runIn(t, dir, ia.path, "-d", sig)
	if err != nil {
		return "", []string{fmt.Sprintf("iasl -d %s: %v\n%s", sig, err, out)}
	}
	var probs []string
	for _, p := range problems(out, allowed) {
		probs = append(probs, "iasl -d output: "+p)
	}
	dsl, err := os.ReadFile(filepath.Join(dir, sig+".dsl"))
	if err != nil {
		return "", append(probs, err.Error())
	}
	for _, p := range problems(string(dsl), allowed) {
		probs = append(probs, "disassembly: "+p)
	}
	aml, cprobs := ia.compile(t, dir, sig+".dsl", "recompiled-"+sig)
	probs = append(probs, cprobs...)
	if aml == nil {
		return string(dsl), probs
	}
	if headerOnly {
		orig = orig[:headerSize]
	}
	if len(aml) != len(orig) {
		return string(dsl), append(probs, fmt.Sprintf("recompiled %s is %d bytes, original %d", sig, len(aml), len(orig)))
	}
	for i := range orig {
		if i == 9 || (i >= 28 && i < 36) || (headerOnly && i < 8) { // checksum, Creator ID and Revision, length
			continue
		}
		if aml[i] != orig[i] {
			probs = append(probs, fmt.Sprintf("recompiled %s differs at byte %d: %#02x, original %#02x", sig, i, aml[i], orig[i]))
			break
		}
	}
	return string(dsl), probs
}

// rsdpSource is an RSDP in iasl's data-table source format, checksums
// left for iasl to compute.
const rsdpSource = `[0008]                          Signature : "RSD PTR "
[0001]                           Checksum : 00
[0006]                             Oem ID : "%s"
[0001]                           Revision : 02
[0004]                       RSDT Address : 00000000
[0004]                             Length : 00000024
[0008]                       XSDT Address : %016X
[0001]                  Extended Checksum : 00
[0003]                           Reserved : 000000
`

// checkRSDP compiles the RSDP iasl builds from the XSDT address and
// compares it, checksums included, with ours.
func (ia iaslTool) checkRSDP(t *testing.T, dir string, rsdp []byte, xsdt uint64) []string {
	t.Helper()
	src := filepath.Join(dir, "rsdp-source.asl")
	if err := os.WriteFile(src, []byte(fmt.Sprintf(rsdpSource, OEMID, xsdt)), 0o644); err != nil {
		return []string{err.Error()}
	}
	aml, probs := ia.compile(t, dir, "rsdp-source.asl", "rsdp-from-iasl")
	if aml != nil && !bytes.Equal(aml, rsdp) {
		probs = append(probs, fmt.Sprintf("RSDP differs from iasl's:\n ours % x\niasl's % x", rsdp, aml))
	}
	return probs
}

// dumpTables writes each table to dir under its signature.
func dumpTables(t *testing.T, tb *Tables, dir string) {
	t.Helper()
	for _, e := range tb.Entries {
		b, _ := tb.Lookup(e.Signature)
		if err := os.WriteFile(filepath.Join(dir, e.Signature), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIASLRoundTrip(t *testing.T) {
	ia := findIASL(t)
	t.Logf("using %s, version %d", ia.path, ia.version)
	for _, tc := range testConfigs() {
		t.Run(tc.name, func(t *testing.T) {
			tb := mustBuild(t, tc.cfg, testBase)
			dir := t.TempDir()
			dumpTables(t, tb, dir)
			dsl := map[string]string{}
			for _, e := range tb.Entries {
				var probs []string
				if e.Signature == "RSDP" {
					probs = ia.checkRSDP(t, dir, table(t, tb, "RSDP"), tb.Entries[1].GPA)
				} else {
					dsl[e.Signature], probs = ia.roundTrip(t, dir, e.Signature)
				}
				for _, p := range probs {
					t.Errorf("%s: %s", e.Signature, p)
				}
			}
			if tc.cfg.VIOT != nil && ia.version < iaslVIOTVersion {
				t.Logf("iasl %d predates VIOT support: VIOT checked for its header only here, and fully by TestVIOTEndpoints", ia.version)
			}
			checkDisassembly(t, tc.cfg, dsl)
		})
	}
}

// checkDisassembly checks what iasl read in the tables against the config.
func checkDisassembly(t *testing.T, cfg Config, dsl map[string]string) {
	t.Helper()
	want := map[string][]string{
		"DSDT": {
			`Name (_S5, Package (0x01)`,
			`Name (_HID, EisaId ("PNP0A08") /* PCI Express Bus */)`,
			`Name (_CID, EisaId ("PNP0A03") /* PCI Bus */)`,
			`Name (_HID, EisaId ("PNP0C02") /* PNP Motherboard Resources */)`,
			`WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,`,
			fmt.Sprintf("0x%08X,         // Address Base", cfg.ECAM.Window().Base),
			fmt.Sprintf("0x%08X,         // Range Minimum", cfg.MMIO32.Base),
			`Method (_OSC, 4, NotSerialized)`,
		},
		"FACP": {
			"Hardware Reduced (V5) : 1",
			"Reset Register Supported (V2) : 1",
			"Value to cause reset : 06",
			"Address : 00000000000003C0",
			"Address : 00000000000003C1",
			"Address : 0000000000000CF9",
		},
		"MCFG": {fmt.Sprintf("Base Address : %016X", cfg.ECAM.Base)},
		"APIC": {"[I/O APIC]", fmt.Sprintf("Address : %08X", cfg.IOAPIC.Addr)},
	}
	count := map[string]map[string]int{
		"DSDT": {`"ACPI0007" /* Processor Device */`: cfg.CPUs, `EisaId ("PNP0501")`: len(cfg.Serial), "QWordMemory (": boolCount(cfg.MMIO64.Size > 0), "WordIO (": boolCount(cfg.IO.Size > 0), "Name (_PRT": boolCount(len(cfg.PRT) > 0)},
		"APIC": {"[Processor Local APIC]": cfg.CPUs, "[Interrupt Source Override]": len(cfg.Overrides)},
	}
	if cfg.DMAR != nil {
		want["DMAR"] = []string{fmt.Sprintf("Host Address Width : %02X", cfg.DMAR.HostAddressWidth-1)}
		count["DMAR"] = map[string]int{"[Hardware Unit Definition]": len(cfg.DMAR.Units), "[Root Port ATS Capability]": len(cfg.DMAR.ATSR)}
		// The PCI device scopes as iasl reads them: how many of each
		// type, and the device and function of one-hop paths.
		types := map[ScopeType]string{ScopePCIEndpoint: "[PCI Endpoint Device]", ScopePCIBridge: "[PCI Bridge Device]"}
		for _, s := range types {
			count["DMAR"][s] = 0
		}
		scopes := func(ss []DeviceScope) {
			for _, sc := range ss {
				if types[sc.Type] == "" {
					continue
				}
				count["DMAR"][types[sc.Type]]++
				if len(sc.Path) == 1 {
					want["DMAR"] = append(want["DMAR"], fmt.Sprintf("PCI Path : %02X,%02X", sc.Path[0].Device, sc.Path[0].Function))
				}
			}
		}
		for _, u := range cfg.DMAR.Units {
			scopes(u.Scopes)
		}
		for _, a := range cfg.DMAR.ATSR {
			scopes(a.Scopes)
		}
	}
	normalize := regexp.MustCompile(`[ \t]+`)
	for sig, subs := range want {
		text := normalize.ReplaceAllString(dsl[sig], " ")
		for _, s := range subs {
			if !strings.Contains(text, normalize.ReplaceAllString(s, " ")) {
				t.Errorf("%s disassembly lacks %q", sig, s)
			}
		}
	}
	for sig, m := range count {
		for s, n := range m {
			if got := strings.Count(dsl[sig], s); got != n {
				t.Errorf("%s disassembly has %d of %q, want %d", sig, got, s, n)
			}
		}
	}
}

func boolCount(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestIASLCheckerFails shows that the round-trip check fails on broken
// tables: a wrong checksum, an MADT structure of the wrong length, an
// unknown DMAR structure type, and a DSDT with a corrupted name.
func TestIASLCheckerFails(t *testing.T) {
	ia := findIASL(t)
	tb := mustBuild(t, vtdConfig(), testBase)
	tests := []struct {
		sig     string
		corrupt func(b []byte)
	}{
		{"APIC", func(b []byte) { b[9]++ }},
		// The first local APIC claims 9 bytes (checksum kept valid).
		{"APIC", func(b []byte) { b[45] = 9; b[9]-- }},
		// An unknown DMAR structure type.
		{"DMAR", func(b []byte) { b[48] = 0x7E; b[9] -= 0x7E }},
		// A valid table with another value: must pass (no false alarm).
		{"FACP", func(b []byte) { b[fadtOffResetValue] = 7; b[9]-- }},
		// A device name with a character AML does not allow.
		{"DSDT", func(b []byte) { i := bytes.Index(b, []byte("PCI0")); b[i] = '!'; b[9] += 'P' - '!' }},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%d-%s", i, tc.sig), func(t *testing.T) {
			dir := t.TempDir()
			b := append([]byte(nil), table(t, tb, tc.sig)...)
			tc.corrupt(b)
			if err := os.WriteFile(filepath.Join(dir, tc.sig), b, 0o644); err != nil {
				t.Fatal(err)
			}
			_, probs := ia.roundTrip(t, dir, tc.sig)
			if tc.sig == "FACP" {
				if len(probs) != 0 {
					t.Errorf("valid FADT with reset value 7 flagged: %q", probs)
				}
				return
			}
			if len(probs) == 0 {
				t.Errorf("corrupted %s passed the iasl round trip", tc.sig)
			}
			t.Logf("found: %q", probs)
		})
	}
	t.Run("RSDP", func(t *testing.T) {
		rsdp := append([]byte(nil), table(t, tb, "RSDP")...)
		rsdp[32]++ // extended checksum
		if probs := ia.checkRSDP(t, t.TempDir(), rsdp, tb.Entries[1].GPA); len(probs) == 0 {
			t.Error("RSDP with a bad extended checksum passed")
		}
	})
}
