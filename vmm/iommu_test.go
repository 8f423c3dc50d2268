package vmm

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/govmm/govmm/devices/irq"
	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/virtioiommu"
	"github.com/govmm/govmm/devices/vtd"
	"github.com/govmm/govmm/memory"
	"github.com/govmm/govmm/notifier"
	"github.com/govmm/govmm/notifier/eventlog"
	"github.com/govmm/govmm/vmm/acpi"
)

// mustIOMMU parses --iommu values that the test knows are good.
func mustIOMMU(t testing.TB, values ...string) IOMMUConfig {
	t.Helper()
	c, err := ParseIOMMU(values...)
	if err != nil {
		t.Fatalf("ParseIOMMU(%q): %v", values, err)
	}
	return c
}

func TestParseIOMMU(t *testing.T) {
	tests := []struct {
		values      []string
		vtd, virtio bool
		def         IOMMUKind
		vtdAW       int
		err         string // substring; "" = success
	}{
		{values: nil, def: IOMMUNone},
		{values: []string{"vtd"}, vtd: true, def: IOMMUVTD, vtdAW: 48},
		{values: []string{"vtd,aw-bits=39,caching-mode=off"}, vtd: true, def: IOMMUVTD, vtdAW: 39},
		{values: []string{"virtio,bypass=off"}, virtio: true, def: IOMMUVirtio},
		{values: []string{"virtio", "vtd,aw-bits=39"}, vtd: true, virtio: true, def: IOMMUVTD, vtdAW: 39},
		{values: []string{"vtd", "virtio"}, vtd: true, virtio: true, def: IOMMUVTD, vtdAW: 48},
		{values: []string{"vtd", "vtd"}, err: `vtd given twice ("vtd" and "vtd")`},
		{values: []string{"virtio", "vtd", "virtio,bypass=off"}, err: `virtio given twice ("virtio" and "virtio,bypass=off")`},
		{values: []string{"amd"}, err: `unknown IOMMU "amd"`},
		{values: []string{""}, err: `unknown IOMMU ""`},
		{values: []string{"none"}, err: `unknown IOMMU "none"`},
		{values: []string{"vtd,aw-bits=50"}, err: "aw-bits=50"},
		{values: []string{"vtd", "virtio,granule=3k"}, err: "granule"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.values, " "), func(t *testing.T) {
			c, err := ParseIOMMU(tt.values...)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (c.VTD != nil) != tt.vtd || (c.Virtio != nil) != tt.virtio {
				t.Errorf("VTD %v, Virtio %v; want VT-d %v, virtio %v", c.VTD, c.Virtio, tt.vtd, tt.virtio)
			}
			if c.Enabled() != (tt.vtd || tt.virtio) {
				t.Errorf("Enabled() = %v", c.Enabled())
			}
			if got := c.Default(); got != tt.def {
				t.Errorf("Default() = %q, want %q", got, tt.def)
			}
			if tt.vtd && c.VTD.AWBits != tt.vtdAW {
				t.Errorf("VT-d aw-bits %d, want %d", c.VTD.AWBits, tt.vtdAW)
			}
		})
	}
}

func TestParseIOMMUKind(t *testing.T) {
	tests := []struct {
		in   string
		want IOMMUKind
		err  string
	}{
		{"vtd", IOMMUVTD, ""},
		{"virtio", IOMMUVirtio, ""},
		{"none", IOMMUNone, ""},
		{"", "", `iommu="": want vtd, virtio or none`},
		{"VTD", "", `iommu="VTD"`},
		{"amd", "", `iommu="amd"`},
		{"both", "", "one IOMMU at most"},
		{"vtd+virtio", "", "one IOMMU at most"},
		{"virtio|vtd", "", "one IOMMU at most"},
	}
	for _, tt := range tests {
		got, err := ParseIOMMUKind(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseIOMMUKind(%q) error %v, want one containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseIOMMUKind(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseDisk(t *testing.T) {
	tests := []struct {
		in   string
		want DiskConfig
		err  string
	}{
		{"a.img", DiskConfig{Path: "a.img"}, ""},
		{"a.img,readonly", DiskConfig{Path: "a.img", ReadOnly: true}, ""},
		{"a.img,ro,iommu=virtio", DiskConfig{Path: "a.img", ReadOnly: true, IOMMU: IOMMUVirtio}, ""},
		{"a.img,iommu=none,readonly", DiskConfig{Path: "a.img", ReadOnly: true, IOMMU: IOMMUNone}, ""},
		{"a.img,iommu=vtd", DiskConfig{Path: "a.img", IOMMU: IOMMUVTD}, ""},
		{"", DiskConfig{}, "want PATH"},
		{",readonly", DiskConfig{}, "want PATH"},
		{"a.img,fast", DiskConfig{}, `unknown option "fast"`},
		{"a.img,iommu=vtd,iommu=virtio", DiskConfig{}, "iommu= given twice (vtd, then virtio): a device sits behind one IOMMU at most"},
		{"a.img,iommu=vtd,iommu=vtd", DiskConfig{}, "iommu= given twice"},
		{"a.img,iommu=vtd,virtio", DiskConfig{}, `unknown option "virtio"`},
		{"a.img,iommu=amd", DiskConfig{}, `iommu="amd"`},
		{"a.img,iommu=", DiskConfig{}, `iommu=""`},
	}
	for _, tt := range tests {
		got, err := ParseDisk(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.in)) {
				t.Errorf("ParseDisk(%q) error %v, want one quoting the flag and containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseDisk(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseDisk(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestParseNet(t *testing.T) {
	mac := []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	tests := []struct {
		in   string
		want NetConfig
		err  string
	}{
		{"tap=t0", NetConfig{Tap: "t0"}, ""},
		{"tap=t0,mac=52:54:00:12:34:56", NetConfig{Tap: "t0", MAC: mac}, ""},
		{"iommu=virtio,tap=t0", NetConfig{Tap: "t0", IOMMU: IOMMUVirtio}, ""},
		{"tap=t0,iommu=none", NetConfig{Tap: "t0", IOMMU: IOMMUNone}, ""},
		{"tap=t0,iommu=vtd,iommu=none", NetConfig{}, "iommu= given twice (vtd, then none)"},
		{"tap=t0,tap=t1", NetConfig{}, `option "tap" given twice`},
		{"tap=t0,iommu=both", NetConfig{}, "one IOMMU at most"},
		{"bridge=br0", NetConfig{}, `unknown option "bridge"`},
		{"t0", NetConfig{}, "want tap=NAME"},
		{"mac=52:54:00:12:34:56", NetConfig{}, "tap=NAME is required"},
		{"tap=0123456789abcdef", NetConfig{}, "at most 15"},
		{"tap=t0,mac=52:54", NetConfig{}, "bad MAC"},
	}
	for _, tt := range tests {
		got, err := ParseNet(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseNet(%q) error %v, want one containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseNet(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseNet(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestParseDevice(t *testing.T) {
	tests := []struct {
		in   string
		want DeviceConfig
		err  string
	}{
		{"edu", DeviceConfig{Name: "edu"}, ""},
		{"edu,iommu=vtd", DeviceConfig{Name: "edu", IOMMU: IOMMUVTD}, ""},
		{"edu,iommu=none", DeviceConfig{Name: "edu", IOMMU: IOMMUNone}, ""},
		{"nvme", DeviceConfig{}, `unknown device "nvme"`},
		{"", DeviceConfig{}, `unknown device ""`},
		{"edu,fast", DeviceConfig{}, `unknown option "fast"`},
		{"edu,iommu=virtio,iommu=vtd", DeviceConfig{}, "iommu= given twice (virtio, then vtd)"},
		{"edu,iommu=vtd+virtio", DeviceConfig{}, "one IOMMU at most"},
	}
	for _, tt := range tests {
		got, err := ParseDevice(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseDevice(%q) error %v, want one containing %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDevice(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

// placement is what a test expects of one planned device: its slot and
// its IOMMU.
type placement struct {
	Device uint8
	Kind   string
	IOMMU  IOMMUKind
}

func placements(plan []plannedDevice) []placement {
	var out []placement
	for _, d := range plan {
		out = append(out, placement{d.bdf.Device, d.kind, d.iommu})
	}
	return out
}

// testAcpiConfig is the machine of acpiConfig in platform.go, with the
// IOMMU tables of cfg's plan.
func testAcpiConfig(t *testing.T, cfg Config, plan []plannedDevice) acpi.Config {
	t.Helper()
	c := acpi.Config{
		CPUs:   1,
		IOAPIC: acpi.IOAPIC{ID: 0, Addr: IOAPICBase},
		ECAM:   acpi.ECAM{Base: ECAMBase, Segment: 0, StartBus: 0, EndBus: ECAMSize>>20 - 1},
		MMIO32: acpi.Window{Base: MMIO32Base, Size: MMIO32Size},
		DMAR:   dmarConfig(cfg.IOMMU, plan),
	}
	if cfg.IOMMU.Virtio != nil {
		c.VIOT = viotConfig(endpointsOf(plan, IOMMUVirtio))
	}
	return c
}

// TestPlacement checks where each device goes, the DMAR and VIOT that
// follow, and that the ACPI builder (whose Validate rejects a device
// claimed by two IOMMUs) accepts them.
func TestPlacement(t *testing.T) {
	disk := func(io IOMMUKind) DiskConfig { return DiskConfig{Path: "d.img", IOMMU: io} }
	tests := []struct {
		name    string
		cfg     Config
		want    []placement
		all     bool    // the DRHD has INCLUDE_PCI_ALL
		scopes  []uint8 // devices in DRHD endpoint scopes
		viot    []uint8 // devices in VIOT ranges
		noDMAR  bool
		wantErr string
	}{
		{
			name: "no IOMMU",
			cfg:  Config{Disks: []DiskConfig{disk("")}, RNG: true},
			want: []placement{{3, "disk", IOMMUNone}, {4, "rng", IOMMUNone}}, noDMAR: true,
		},
		{
			name: "VT-d serves every device",
			cfg:  Config{IOMMU: mustIOMMU(t, "vtd"), Disks: []DiskConfig{disk(""), disk(IOMMUVTD)}, Devices: []DeviceConfig{{Name: "edu"}}},
			want: []placement{{3, "disk", IOMMUVTD}, {4, "disk", IOMMUVTD}, {5, "edu", IOMMUVTD}}, all: true,
		},
		{
			name: "VT-d with a device outside",
			cfg:  Config{IOMMU: mustIOMMU(t, "vtd"), Disks: []DiskConfig{disk(""), disk(IOMMUNone)}, RNG: true},
			want: []placement{{3, "disk", IOMMUVTD}, {4, "disk", IOMMUNone}, {5, "rng", IOMMUVTD}}, scopes: []uint8{3, 5},
		},
		{
			name: "virtio-iommu only",
			cfg:  Config{IOMMU: mustIOMMU(t, "virtio"), Disks: []DiskConfig{disk(""), disk(IOMMUNone)}, Nets: []NetConfig{{Tap: "t0", IOMMU: IOMMUVirtio}}},
			want: []placement{{3, "disk", IOMMUVirtio}, {4, "disk", IOMMUNone}, {5, "net", IOMMUVirtio}}, noDMAR: true, viot: []uint8{3, 5},
		},
		{
			name: "both, split",
			cfg: Config{IOMMU: mustIOMMU(t, "vtd", "virtio"), Disks: []DiskConfig{disk(IOMMUVTD), disk(IOMMUVirtio)},
				VirtioConsole: true, RNG: true, Devices: []DeviceConfig{{Name: "edu", IOMMU: IOMMUNone}, {Name: "edu", IOMMU: IOMMUVirtio}}},
			want: []placement{{3, "disk", IOMMUVTD}, {4, "disk", IOMMUVirtio}, {5, "console", IOMMUVTD}, {6, "rng", IOMMUVTD},
				{7, "edu", IOMMUNone}, {8, "edu", IOMMUVirtio}},
			scopes: []uint8{3, 5, 6}, viot: []uint8{4, 8},
		},
		{
			name: "both, every device behind VT-d",
			cfg:  Config{IOMMU: mustIOMMU(t, "virtio", "vtd"), Disks: []DiskConfig{disk("")}},
			// The virtio-iommu at 00:02.0 is outside VT-d: no INCLUDE_PCI_ALL.
			want: []placement{{3, "disk", IOMMUVTD}}, scopes: []uint8{3},
		},
		{
			name: "both, every device behind virtio-iommu",
			cfg:  Config{IOMMU: mustIOMMU(t, "vtd", "virtio"), Disks: []DiskConfig{disk(IOMMUVirtio)}},
			want: []placement{{3, "disk", IOMMUVirtio}}, viot: []uint8{3},
		},
		{
			name:    "disk behind a missing virtio-iommu",
			cfg:     Config{IOMMU: mustIOMMU(t, "vtd"), Disks: []DiskConfig{disk(""), disk(IOMMUVirtio)}},
			want:    []placement{{3, "disk", IOMMUVTD}, {4, "disk", IOMMUNone}},
			scopes:  []uint8{3},
			wantErr: "--disk d.img: iommu=virtio, but the VM has no such IOMMU (add --iommu virtio)",
		},
		{
			name:    "net behind a missing VT-d",
			cfg:     Config{Nets: []NetConfig{{Tap: "t0", IOMMU: IOMMUVTD}}},
			want:    []placement{{3, "net", IOMMUNone}},
			noDMAR:  true,
			wantErr: "--net tap=t0: iommu=vtd, but the VM has no such IOMMU (add --iommu vtd)",
		},
		{
			name:    "the first of two bad devices",
			cfg:     Config{Devices: []DeviceConfig{{Name: "edu", IOMMU: IOMMUVirtio}, {Name: "edu", IOMMU: IOMMUVTD}}},
			want:    []placement{{3, "edu", IOMMUNone}, {4, "edu", IOMMUNone}},
			noDMAR:  true,
			wantErr: "--device edu: iommu=virtio",
		},
		{
			name:    "a kind that does not exist",
			cfg:     Config{IOMMU: mustIOMMU(t, "vtd"), Disks: []DiskConfig{disk("amd")}},
			want:    []placement{{3, "disk", IOMMUNone}},
			scopes:  []uint8{},
			wantErr: `--disk d.img: iommu="amd"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := planPCI(tt.cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("error %q spans lines", err)
			}
			if diff := cmp.Diff(tt.want, placements(plan)); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			d := dmarConfig(tt.cfg.IOMMU, plan)
			if (d == nil) != tt.noDMAR {
				t.Fatalf("DMAR %+v, want one: %v", d, !tt.noDMAR)
			}
			if d != nil {
				if len(d.Units) != 1 || d.Units[0].RegisterBase != vtd.RegisterBase || d.HostAddressWidth != uint8(tt.cfg.IOMMU.VTD.HAW()) {
					t.Fatalf("DMAR %+v, want one DRHD at %#x with HAW %d", d, vtd.RegisterBase, tt.cfg.IOMMU.VTD.HAW())
				}
				u := d.Units[0]
				if u.IncludePCIAll != tt.all {
					t.Errorf("INCLUDE_PCI_ALL %v, want %v", u.IncludePCIAll, tt.all)
				}
				var want []acpi.DeviceScope
				for _, dev := range tt.scopes {
					want = append(want, acpi.DeviceScope{Type: acpi.ScopePCIEndpoint, StartBus: 0, Path: []acpi.PCIPath{{Device: dev}}})
				}
				if diff := cmp.Diff(want, u.Scopes); diff != "" {
					t.Errorf("DRHD scopes (-want +got):\n%s", diff)
				}
			}
			var gotVIOT []uint8
			if tt.cfg.IOMMU.Virtio != nil {
				if v := viotConfig(endpointsOf(plan, IOMMUVirtio)); v != nil {
					if v.BDF != viommuBDF.RequesterID() {
						t.Errorf("VIOT IOMMU at %#x, want %#x", v.BDF, viommuBDF.RequesterID())
					}
					for _, r := range v.Ranges {
						if r.BDFStart != r.BDFEnd || r.EndpointStart != uint32(r.BDFStart) {
							t.Errorf("VIOT range %+v, want one BDF with endpoint ID = BDF", r)
						}
						gotVIOT = append(gotVIOT, pci.BDFFromRequesterID(r.BDFStart).Device)
					}
				}
			}
			if diff := cmp.Diff(tt.viot, gotVIOT); diff != "" {
				t.Errorf("VIOT devices (-want +got):\n%s", diff)
			}
			c := testAcpiConfig(t, tt.cfg, plan)
			if err := c.Validate(); err != nil {
				t.Errorf("ACPI tables rejected: %v", err)
			}
		})
	}
}

// TestPartitionGuard shows that the ACPI builder's overlap check would
// catch a VMM that claimed a device for both IOMMUs: the plan's DMAR with
// INCLUDE_PCI_ALL, or with a virtio-iommu endpoint's scope, is refused.
func TestPartitionGuard(t *testing.T) {
	cfg := Config{IOMMU: mustIOMMU(t, "vtd", "virtio"), Disks: []DiskConfig{{Path: "a", IOMMU: IOMMUVTD}, {Path: "b", IOMMU: IOMMUVirtio}}}
	plan, err := planPCI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, corrupt := range map[string]func(*acpi.DRHD){
		"INCLUDE_PCI_ALL": func(u *acpi.DRHD) { u.IncludePCIAll, u.Scopes = true, nil },
		"scope of 00:04.0": func(u *acpi.DRHD) {
			u.Scopes = append(u.Scopes, acpi.PCIEndpointScope(0, 4, 0))
		},
	} {
		c := testAcpiConfig(t, cfg, plan)
		corrupt(&c.DMAR.Units[0])
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "VIOT") {
			t.Errorf("%s: Validate() = %v, want an error about the VIOT's devices", name, err)
		}
	}
}

type nopMSI struct{}

func (nopMSI) SendMSI(irq.MSI) error { return nil }

// TestAddressSpaceEvents checks that each device gets the address space of
// its own IOMMU, none for iommu=none, and that the --iommu-events log is
// registered on the spaces of both IOMMUs: their registration replays the
// current (pre-translation identity) mappings as MAP events of the
// device's SID.
func TestAddressSpaceEvents(t *testing.T) {
	cfg := Config{
		IOMMU: mustIOMMU(t, "vtd", "virtio"),
		Disks: []DiskConfig{{Path: "a", IOMMU: IOMMUVTD}, {Path: "b", IOMMU: IOMMUVirtio}, {Path: "c", IOMMU: IOMMUNone}},
	}
	plan, err := planPCI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := memory.New(memory.Region{GPA: 0, Data: make([]byte, 1<<20)})
	if err != nil {
		t.Fatal(err)
	}
	u, err := vtd.New(*cfg.IOMMU.VTD, mem, nopMSI{})
	if err != nil {
		t.Fatal(err)
	}
	vc := *cfg.IOMMU.Virtio
	for _, b := range endpointsOf(plan, IOMMUVirtio) {
		vc.Endpoints = append(vc.Endpoints, uint32(b.RequesterID()))
	}
	d, err := virtioiommu.New(vc, mem)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	vm := &VM{cfg: cfg, vtd: u, viommu: d, events: eventlog.New(&buf)}
	wantType := map[IOMMUKind]string{IOMMUVTD: "*vtd.AddressSpace", IOMMUVirtio: "*virtioiommu.AddressSpace", IOMMUNone: "<nil>"}
	for _, p := range plan {
		as, err := vm.addressSpace(p)
		if err != nil {
			t.Fatalf("%v: %v", p.bdf, err)
		}
		if got := fmt.Sprintf("%T", as); as == nil && wantType[p.iommu] != "<nil>" || as != nil && got != wantType[p.iommu] {
			t.Errorf("%v behind %s: address space %s, want %s", p.bdf, p.iommu, got, wantType[p.iommu])
		}
	}
	if err := vm.events.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := eventlog.ReadAll(&buf)
	if err != nil {
		t.Fatal(err)
	}
	maps := map[uint32]int{}
	for _, r := range recs {
		if r.Event.Kind == notifier.Map {
			maps[r.Event.SID]++
		}
	}
	want := map[uint32]int{0x18: 1, 0x20: 1} // 00:03.0 on VT-d, 00:04.0 on virtio-iommu
	for sid := range want {
		if maps[sid] == 0 {
			t.Errorf("no MAP event for SID %#x; MAPs per SID: %v", sid, maps)
		}
	}
	if maps[0x28] != 0 {
		t.Errorf("MAP events for SID 0x28, which is behind no IOMMU: %v", maps)
	}

	// A plan that names an IOMMU the VM did not create is an error, not
	// an untranslated device.
	vm.vtd = nil
	if _, err := vm.addressSpace(plan[0]); err == nil || !strings.Contains(err.Error(), "00:03.0") {
		t.Errorf("addressSpace without the VT-d unit = %v, want an error naming 00:03.0", err)
	}
}

// TestCheckDevices checks the usage errors found before any file is read.
func TestCheckDevices(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		err  string
	}{
		{"ok", Config{IOMMU: mustIOMMU(t, "vtd", "virtio"), IOMMUEvents: "e", Disks: []DiskConfig{{Path: "a", IOMMU: IOMMUVirtio}}}, ""},
		{"events without IOMMU", Config{IOMMUEvents: "e"}, "--iommu-events needs an --iommu"},
		{"bad VT-d", Config{IOMMU: IOMMUConfig{VTD: &vtd.Config{AWBits: 40}}}, "--iommu vtd: "},
		{"unknown device", Config{Devices: []DeviceConfig{{Name: "nvme"}}}, `--device "nvme": want edu`},
		{"too many", Config{Disks: make([]DiskConfig, 28)}, "30 PCI devices"},
		{"missing IOMMU", Config{IOMMU: mustIOMMU(t, "virtio"), Devices: []DeviceConfig{{Name: "edu", IOMMU: IOMMUVTD}}}, "--device edu: iommu=vtd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkDevices(tt.cfg)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) || !IsConfigError(err) {
				t.Fatalf("checkDevices = %v, want a *ConfigError containing %q", err, tt.err)
			}
		})
	}
}

// FuzzDeviceFlags feeds arbitrary flag values to the device and IOMMU
// parsers and the planner: none may panic, and what they accept must be
// consistent (a known IOMMU kind, a plan with one device per slot and no
// device behind an IOMMU the VM does not have).
func FuzzDeviceFlags(f *testing.F) {
	for _, s := range []string{"a.img", "a.img,readonly,iommu=virtio", "tap=t0,iommu=vtd", "edu,iommu=none", "vtd", "virtio,bypass=off",
		"a,iommu=vtd,iommu=virtio", "tap=t0,mac=52:54:00:12:34:56", ",", "iommu=", "edu,iommu=vtd+virtio"} {
		f.Add(s, "vtd")
	}
	f.Fuzz(func(t *testing.T, flag, iommu string) {
		var cfg Config
		var err error
		if cfg.IOMMU, err = ParseIOMMU(strings.Split(iommu, " ")...); err != nil {
			cfg.IOMMU = IOMMUConfig{}
		}
		known := func(k IOMMUKind) bool {
			return k == IOMMUDefault || k == IOMMUNone || k == IOMMUVTD || k == IOMMUVirtio
		}
		if d, err := ParseDisk(flag); err == nil {
			if d.Path == "" || !known(d.IOMMU) {
				t.Fatalf("ParseDisk(%q) = %+v", flag, d)
			}
			cfg.Disks = append(cfg.Disks, d)
		}
		if n, err := ParseNet(flag); err == nil {
			if n.Tap == "" || !known(n.IOMMU) {
				t.Fatalf("ParseNet(%q) = %+v", flag, n)
			}
			cfg.Nets = append(cfg.Nets, n)
		}
		if d, err := ParseDevice(flag); err == nil {
			if d.Name != "edu" || !known(d.IOMMU) {
				t.Fatalf("ParseDevice(%q) = %+v", flag, d)
			}
			cfg.Devices = append(cfg.Devices, d)
		}
		cfg.RNG = true
		plan, err := planPCI(cfg)
		if len(plan) != len(cfg.Disks)+len(cfg.Nets)+len(cfg.Devices)+1 {
			t.Fatalf("plan has %d devices for %+v", len(plan), cfg)
		}
		for i, p := range plan {
			if p.bdf.Device != uint8(3+i) || !cfg.IOMMU.Has(p.iommu) {
				t.Fatalf("planned %+v with IOMMUs %+v (error %v)", p, cfg.IOMMU, err)
			}
		}
		if err == nil {
			c := testAcpiConfig(t, cfg, plan)
			if verr := c.Validate(); verr != nil {
				t.Fatalf("ACPI tables for %+v rejected: %v", cfg, verr)
			}
		}
	})
}
