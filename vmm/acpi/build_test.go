package acpi

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustBuild(t *testing.T, cfg Config, base uint64) *Tables {
	t.Helper()
	tb, err := Build(cfg, base)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return tb
}

func table(t *testing.T, tb *Tables, sig string) []byte {
	t.Helper()
	b, ok := tb.Lookup(sig)
	if !ok {
		t.Fatalf("no %s table", sig)
	}
	return b
}

// TestBuildLayout checks the blob as a guest walks it: from the RSDP to
// the XSDT, from there to every table, and from the FADT to the DSDT.
func TestBuildLayout(t *testing.T) {
	for _, tc := range testConfigs() {
		t.Run(tc.name, func(t *testing.T) {
			for _, base := range []uint64{testBase, 0x7FFF_0000, 0x1_0000_0000} {
				tb := mustBuild(t, tc.cfg, base)
				if tb.Base != base || tb.RSDP != base {
					t.Fatalf("Base %#x RSDP %#x, want both %#x", tb.Base, tb.RSDP, base)
				}
				want := []string{"RSDP", "XSDT", "FACP", "DSDT", "APIC", "MCFG"}
				if tc.cfg.DMAR != nil {
					want = append(want, "DMAR")
				}
				if tc.cfg.VIOT != nil {
					want = append(want, "VIOT")
				}
				var got []string
				end := 0
				for _, e := range tb.Entries {
					got = append(got, e.Signature)
					if e.Offset%Alignment != 0 || e.GPA != base+uint64(e.Offset) || e.Offset < end {
						t.Errorf("%s at offset %d GPA %#x (previous table ends at %d)", e.Signature, e.Offset, e.GPA, end)
					}
					end = e.Offset + e.Size
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("table order (-want +got):\n%s", diff)
				}
				if end != len(tb.Blob) || tb.Size() != uint64(end) {
					t.Errorf("blob is %d bytes, Size %d, tables end at %d", len(tb.Blob), tb.Size(), end)
				}

				rsdp := table(t, tb, "RSDP")
				if string(rsdp[:8]) != "RSD PTR " || rsdp[15] != 2 || le.Uint32(rsdp[20:]) != 36 || le.Uint32(rsdp[16:]) != 0 {
					t.Errorf("RSDP header % x", rsdp[:24])
				}
				if byteSum(rsdp[:20]) != 0 || byteSum(rsdp) != 0 {
					t.Errorf("RSDP checksums: first 20 bytes sum %#x, all 36 sum %#x", byteSum(rsdp[:20]), byteSum(rsdp))
				}
				gpaOf := map[string]uint64{}
				for _, e := range tb.Entries {
					gpaOf[e.Signature] = e.GPA
				}
				if x := le.Uint64(rsdp[24:]); x != gpaOf["XSDT"] {
					t.Errorf("RSDP XsdtAddress %#x, XSDT is at %#x", x, gpaOf["XSDT"])
				}

				xsdt := table(t, tb, "XSDT")
				checkTable(t, "XSDT", xsdt)
				var listed []string
				for off := 36; off < len(xsdt); off += 8 {
					gpa := le.Uint64(xsdt[off:])
					if gpa < base || gpa-base >= uint64(len(tb.Blob)) {
						t.Fatalf("XSDT entry %#x is outside the blob", gpa)
					}
					sig := string(tb.Blob[gpa-base : gpa-base+4])
					listed = append(listed, sig)
					n := le.Uint32(tb.Blob[gpa-base+4:])
					checkTable(t, sig, tb.Blob[gpa-base:gpa-base+uint64(n)])
				}
				if diff := cmp.Diff(want[2:3], listed[:1]); diff != "" || len(listed) != len(want)-3 {
					t.Errorf("XSDT lists %v, want FACP first and every table but RSDP, XSDT and DSDT (%v)", listed, want)
				}

				facp := table(t, tb, "FACP")
				dsdtGPA := le.Uint64(facp[140:])
				if dsdtGPA != gpaOf["DSDT"] {
					t.Errorf("FADT X_DSDT %#x, DSDT is at %#x", dsdtGPA, gpaOf["DSDT"])
				}
				wantDSDT32 := uint32(0)
				if dsdtGPA < 1<<32 {
					wantDSDT32 = uint32(dsdtGPA)
				}
				if got := le.Uint32(facp[40:]); got != wantDSDT32 {
					t.Errorf("FADT DSDT %#x, want %#x", got, wantDSDT32)
				}
				for _, e := range tb.Entries[1:] {
					checkTable(t, e.Signature, table(t, tb, e.Signature))
				}
			}
		})
	}
}

func TestLookup(t *testing.T) {
	tb := mustBuild(t, minimalConfig(), testBase)
	if _, ok := tb.Lookup("DMAR"); ok {
		t.Error("Lookup(DMAR) found a table the config does not ask for")
	}
	b, ok := tb.Lookup("MCFG")
	if !ok || string(b[:4]) != "MCFG" || len(b) != 60 || cap(b) != 60 {
		t.Errorf("Lookup(MCFG) = %d bytes (cap %d), ok %v", len(b), cap(b), ok)
	}
}

func TestFADT(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		bootArch uint16
	}{
		{"no legacy devices", minimalConfig(), 0x0004 | 0x0020},
		{"serial, no RTC", func() Config { c := minimalConfig(); c.Serial = []SerialPort{COM1}; return c }(), 0x0001 | 0x0004 | 0x0020},
		{"serial and RTC", fullConfig(), 0x0001 | 0x0004},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := table(t, mustBuild(t, tc.cfg, testBase), "FACP")
			h := checkTable(t, "FACP", f)
			if h.rev != 6 || len(f) != 276 || f[131] != 5 {
				t.Errorf("FADT revision %d.%d, %d bytes; want 6.5, 276 bytes", h.rev, f[131], len(f))
			}
			if got := le.Uint16(f[109:]); got != tc.bootArch {
				t.Errorf("IAPC_BOOT_ARCH %#04x, want %#04x", got, tc.bootArch)
			}
			flags := le.Uint32(f[112:])
			const hwReduced, resetSup, wbinvd = 1 << 20, 1 << 10, 1
			if flags&(hwReduced|resetSup|wbinvd) != hwReduced|resetSup|wbinvd {
				t.Errorf("flags %#x lack HW_REDUCED_ACPI, RESET_REG_SUP or WBINVD", flags)
			}
			// Fixed hardware is absent: SCI_INT, SMI_CMD, the PM and GPE
			// blocks (32-bit and X_ forms) and the FACS are all zero.
			for _, r := range [][2]int{{36, 40}, {44, 96}, {132, 140}, {148, 244}} {
				if !bytes.Equal(f[r[0]:r[1]], make([]byte, r[1]-r[0])) {
					t.Errorf("bytes %d-%d are % x, want zero", r[0], r[1]-1, f[r[0]:r[1]])
				}
			}
			gas := func(off int) []byte { return f[off : off+12] }
			ioByte := func(port uint16) []byte { return []byte{1, 8, 0, 1, byte(port), byte(port >> 8), 0, 0, 0, 0, 0, 0} }
			if !bytes.Equal(gas(116), ioByte(0xCF9)) || f[128] != 0x06 {
				t.Errorf("RESET_REG % x value %#x, want I/O byte register 0xCF9 value 0x06", gas(116), f[128])
			}
			if !bytes.Equal(gas(244), ioByte(0x3C0)) || !bytes.Equal(gas(256), ioByte(0x3C1)) {
				t.Errorf("SLEEP_CONTROL_REG % x, SLEEP_STATUS_REG % x; want I/O byte registers 0x3C0 and 0x3C1", gas(244), gas(256))
			}
		})
	}
}

func TestMADT(t *testing.T) {
	for _, tc := range testConfigs() {
		t.Run(tc.name, func(t *testing.T) {
			b := table(t, mustBuild(t, tc.cfg, testBase), "APIC")
			checkTable(t, "APIC", b)
			lapic, flags, entries := decodeMADT(t, b)
			if lapic != 0xFEE00000 {
				t.Errorf("local APIC address %#x", lapic)
			}
			if pcat := flags&1 != 0; pcat != tc.cfg.PIC || flags&^1 != 0 {
				t.Errorf("flags %#x, want PCAT_COMPAT=%v only", flags, tc.cfg.PIC)
			}
			var cpus, ioapics, nmis int
			var overrides []InterruptOverride
			for _, e := range entries {
				switch e.typ {
				case 0:
					if len(e.body) != 8 || int(e.body[2]) != cpus || int(e.body[3]) != cpus || le.Uint32(e.body[4:]) != 1 {
						t.Errorf("local APIC %d: % x, want UID %d, APIC ID %d, enabled", cpus, e.body, cpus, cpus)
					}
					cpus++
				case 1:
					ioapics++
					if len(e.body) != 12 || e.body[2] != tc.cfg.IOAPIC.ID || le.Uint32(e.body[4:]) != tc.cfg.IOAPIC.Addr || le.Uint32(e.body[8:]) != tc.cfg.IOAPIC.GSIBase {
						t.Errorf("I/O APIC % x", e.body)
					}
				case 2:
					if len(e.body) != 10 || e.body[2] != 0 {
						t.Errorf("override % x: want length 10, bus 0 (ISA)", e.body)
					}
					overrides = append(overrides, InterruptOverride{Source: e.body[3], GSI: le.Uint32(e.body[4:]), Flags: le.Uint16(e.body[8:])})
				case 4:
					nmis++
					if !bytes.Equal(e.body, []byte{4, 6, 0xFF, 0, 0, 1}) {
						t.Errorf("local APIC NMI % x, want all processors, LINT1", e.body)
					}
				default:
					t.Errorf("unexpected MADT structure type %d", e.typ)
				}
			}
			if cpus != tc.cfg.CPUs || ioapics != 1 || nmis != 1 {
				t.Errorf("%d local APICs, %d I/O APICs, %d NMI structures; want %d, 1, 1", cpus, ioapics, nmis, tc.cfg.CPUs)
			}
			if diff := cmp.Diff(tc.cfg.Overrides, overrides); diff != "" {
				t.Errorf("interrupt source overrides (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMCFG(t *testing.T) {
	c := minimalConfig()
	c.ECAM = ECAM{Base: 0xB000_0000, Segment: 0, StartBus: 0x10, EndBus: 0x3F}
	c.MMIO32 = Window{0x8000_0000, 0x3000_0000}
	b := table(t, mustBuild(t, c, testBase), "MCFG")
	h := checkTable(t, "MCFG", b)
	if h.rev != 1 || len(b) != 60 {
		t.Fatalf("MCFG revision %d, %d bytes; want 1, 60", h.rev, len(b))
	}
	want := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xB0, 0, 0, 0, 0, 0, 0, 0x10, 0x3F, 0, 0, 0, 0}
	if !bytes.Equal(b[36:], want) {
		t.Errorf("MCFG body % x, want % x", b[36:], want)
	}
}

func TestDMAR(t *testing.T) {
	t.Run("include-all with IR", func(t *testing.T) {
		b := table(t, mustBuild(t, vtdConfig(), testBase), "DMAR")
		checkTable(t, "DMAR", b)
		haw1, flags, s := decodeDMAR(t, b)
		if haw1 != 38 || flags != dmarIntrRemap {
			t.Errorf("HAW-1 %d flags %#x, want 38 and INTR_REMAP only", haw1, flags)
		}
		want := []dmarStruct{
			{typ: 0, flags: 1, seg: 0, base: testVTDBase, scopes: []DeviceScope{{Type: ScopeIOAPIC, EnumerationID: 0, StartBus: 0xFF, Path: []PCIPath{{0, 0}}}}},
			{typ: 2, flags: 1},
		}
		if diff := cmp.Diff(want, s, cmp.AllowUnexported(dmarStruct{})); diff != "" {
			t.Errorf("DMAR structures (-want +got):\n%s", diff)
		}
	})
	t.Run("ordering and scopes", func(t *testing.T) {
		c := fullConfig()
		c.DMAR = &DMARConfig{HostAddressWidth: 46, X2APICOptOut: true, Units: []DRHD{
			{RegisterBase: 0xFED90000, IncludePCIAll: true},
			{RegisterBase: 0xFED91000, Size: 0, Scopes: []DeviceScope{PCIEndpointScope(0, 3, 1), {Type: ScopePCIEndpoint, StartBus: 0, Path: []PCIPath{{4, 0}, {0, 0}, {1, 2}}}}},
		}}
		haw1, flags, s := decodeDMAR(t, table(t, mustBuild(t, c, testBase), "DMAR"))
		if haw1 != 45 || flags != dmarX2APICOptOut {
			t.Errorf("HAW-1 %d flags %#x, want 45 and X2APIC_OPT_OUT only", haw1, flags)
		}
		if len(s) != 2 || s[0].base != 0xFED91000 || s[1].base != 0xFED90000 || s[1].flags != 1 {
			t.Fatalf("units %+v: want the explicit unit first and the INCLUDE_PCI_ALL unit last", s)
		}
		if diff := cmp.Diff(c.DMAR.Units[1].Scopes, s[0].scopes); diff != "" {
			t.Errorf("scopes (-want +got):\n%s", diff)
		}
	})
	t.Run("flag bit 2 never set", func(t *testing.T) {
		for _, cfg := range []Config{vtdConfig(), bothConfig()} {
			_, flags, _ := decodeDMAR(t, table(t, mustBuild(t, cfg, testBase), "DMAR"))
			if flags&4 != 0 || flags&^3 != 0 {
				t.Errorf("DMAR flags %#x set DMA_CTRL_PLATFORM_OPT_IN or a reserved bit", flags)
			}
		}
	})
}

func TestIOAPICScope(t *testing.T) {
	s := IOAPICScope(2, 0xFF17) // bus 0xFF, device 2, function 7
	want := DeviceScope{Type: ScopeIOAPIC, EnumerationID: 2, StartBus: 0xFF, Path: []PCIPath{{2, 7}}}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("IOAPICScope (-want +got):\n%s", diff)
	}
	if got := BDF(0xFF, 2, 7); got != 0xFF17 {
		t.Errorf("BDF(0xFF, 2, 7) = %#x", got)
	}
}

func TestVIOTEndpoints(t *testing.T) {
	b := table(t, mustBuild(t, bothConfig(), testBase), "VIOT")
	h := checkTable(t, "VIOT", b)
	if h.rev != 0 || le.Uint16(b[36:]) != 3 || le.Uint16(b[38:]) != 48 {
		t.Errorf("VIOT revision %d, node count %d, node offset %d; want 0, 3, 48", h.rev, le.Uint16(b[36:]), le.Uint16(b[38:]))
	}
	tests := []struct {
		bdf    uint16
		want   uint32
		behind bool
	}{
		{BDF(0, 8, 0), 0x100, true},
		{BDF(0, 8, 1), 0x101, true},
		{BDF(0, 11, 7), 0x11F, true},
		{BDF(0, 12, 0), 0x200, true},
		{BDF(0, 15, 7), 0x21F, true},
		{BDF(0, 4, 0), 0, false}, // a VT-d device
		{BDF(0, 16, 0), 0, false},
		{BDF(1, 8, 0), 0, false},
	}
	for _, tc := range tests {
		epid, seg, iommu, err := viotEndpoint(b, 0, tc.bdf)
		switch {
		case !tc.behind && err == nil:
			t.Errorf("BDF %#04x resolves to endpoint %#x, want it outside the VIOT", tc.bdf, epid)
		case tc.behind && err != nil:
			t.Errorf("BDF %#04x: %v", tc.bdf, err)
		case tc.behind && (epid != tc.want || seg != 0 || iommu != BDF(0, 3, 0)):
			t.Errorf("BDF %#04x: endpoint %#x via IOMMU %04x:%04x, want %#x via 0000:0018", tc.bdf, epid, seg, iommu, tc.want)
		}
	}
}

func TestDSDTContents(t *testing.T) {
	tests := []struct {
		name        string
		cfg         Config
		present     []string
		absent      []string
		wantDevices int // ACPI0007 processor devices
	}{
		{"minimal", minimalConfig(), []string{"PCI0", "_SEG", "_BBN", "_OSC", "MBRD", "_S5_"}, []string{"_PRT", "COM1", "RTC_", "\x8A\x2B\x00"}, 1},
		{"full", fullConfig(), []string{"_PRT", "COM1", "COM2", "RTC_", "\x8A\x2B\x00", "\x88\x0D\x00\x01"}, []string{"COM3"}, 2},
		{"max", maxConfig(), []string{"COM4", "C0FE"}, []string{"C0FF"}, 255},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := table(t, mustBuild(t, tc.cfg, testBase), "DSDT")
			h := checkTable(t, "DSDT", b)
			if h.rev != 2 {
				t.Errorf("DSDT revision %d, want 2", h.rev)
			}
			for _, s := range tc.present {
				if !bytes.Contains(b, []byte(s)) {
					t.Errorf("DSDT lacks %q", s)
				}
			}
			for _, s := range tc.absent {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("DSDT contains %q", s)
				}
			}
			if n := bytes.Count(b, []byte("ACPI0007\x00")); n != tc.wantDevices {
				t.Errorf("%d processor devices, want %d", n, tc.wantDevices)
			}
		})
	}
}

func TestBuildPlacementErrors(t *testing.T) {
	tests := []struct {
		name string
		base uint64
		want string
	}{
		{"misaligned", testBase + 8, "not 16-byte aligned"},
		{"wraps", 1<<64 - 0x100, "wrap"},
		{"in the 32-bit window", 0xC000_0000, "MMIO32"},
		{"over the IOAPIC", 0xFEBF_FF00, "IOAPIC"},
		{"in ECAM", 0xE000_1000, "ECAM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb, err := Build(fullConfig(), tc.base)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build at %#x = %v, %v; want an error mentioning %q", tc.base, tb, err, tc.want)
			}
		})
	}
}

func TestBuildRejectsInvalidConfig(t *testing.T) {
	c := fullConfig()
	c.CPUs = 0
	_, err := Build(c, testBase)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "CPUs" {
		t.Fatalf("Build with 0 CPUs: %v, want a *ConfigError for CPUs", err)
	}
}

// TestBuildDeterministic checks that the same config always gives the same
// bytes, so a VM's tables do not change between boots.
func TestBuildDeterministic(t *testing.T) {
	for _, tc := range testConfigs() {
		a := mustBuild(t, tc.cfg, testBase)
		for i := 0; i < 5; i++ {
			if b := mustBuild(t, tc.cfg, testBase); !bytes.Equal(a.Blob, b.Blob) {
				t.Fatalf("%s: two builds of the same config differ", tc.name)
			}
		}
	}
}

func TestIsS5Request(t *testing.T) {
	for v := 0; v < 256; v++ {
		want := v&0x20 != 0 && (v>>2)&7 == 5
		if got := IsS5Request(uint8(v)); got != want {
			t.Errorf("IsS5Request(%#02x) = %v, want %v", v, got, want)
		}
	}
	if !IsS5Request(S5SleepType<<SleepTypeShift | SleepEnable) {
		t.Error("the value Linux writes for S5 (0x34) is not an S5 request")
	}
}

func TestResetVectorCode(t *testing.T) {
	code := ResetVectorCode()
	want := []byte{0xBA, 0xF9, 0x0C, 0xB0, 0x06, 0xEE, 0xF4, 0xEB, 0xFD}
	if !bytes.Equal(code, want) {
		t.Fatalf("ResetVectorCode() = % x, want % x", code, want)
	}
	// mov dx, imm16 must load ResetPort and mov al, imm8 ResetValue.
	if port := uint16(code[1]) | uint16(code[2])<<8; port != ResetPort || code[4] != ResetValue {
		t.Errorf("code writes %#x to port %#x, want %#x to %#x", code[4], port, ResetValue, ResetPort)
	}
	// The closing short jump must land on the hlt: IP after it (9) plus
	// the signed displacement.
	if target := len(code) + int(int8(code[8])); code[target] != 0xF4 {
		t.Errorf("jmp lands on %#x at offset %d, want hlt", code[target], target)
	}
	if ResetVectorAddr+len(code) > 1<<20 {
		t.Errorf("code at %#x overruns the first MiB", ResetVectorAddr)
	}
	code[0] = 0
	if ResetVectorCode()[0] != 0xBA {
		t.Error("ResetVectorCode returns shared storage")
	}
}
