package virtioiommu

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/govmm/govmm/dma"
)

func TestParseConfig(t *testing.T) {
	def := DefaultConfig()
	tests := []struct {
		opts string
		want func(c *Config)
		err  bool
	}{
		{opts: "", want: func(*Config) {}},
		{opts: "  ", want: func(*Config) {}},
		{opts: "aw-bits=39", want: func(c *Config) { c.AWBits = 39 }},
		{opts: "aw-bits=64", want: func(c *Config) { c.AWBits = 64 }},
		{opts: "aw-bits=32", want: func(c *Config) { c.AWBits = 32 }},
		{opts: "granule=4k", want: func(*Config) {}},
		{opts: "granule=4096", want: func(*Config) {}},
		{opts: "granule=64k", want: func(c *Config) { c.PageSizeMask = 64<<10 | Size2M | Size1G }},
		{opts: "granule=2m", want: func(c *Config) { c.PageSizeMask = Size2M | Size1G }},
		{opts: "granule=1G", want: func(c *Config) { c.PageSizeMask = Size1G }},
		{opts: "domain-range=1-0xffff", want: func(c *Config) { c.DomainRange = [2]uint32{1, 0xffff} }},
		{opts: "domain-range=7-7", want: func(c *Config) { c.DomainRange = [2]uint32{7, 7} }},
		{opts: "bypass=off", want: func(c *Config) { c.BypassDefault = false }},
		{opts: "bypass=on", want: func(*Config) {}},
		{opts: "max-mappings=1000", want: func(c *Config) { c.MaxMappings = 1000 }},
		{opts: "aw-bits=39, granule=4k ,bypass=off", want: func(c *Config) { c.AWBits, c.BypassDefault = 39, false }},
		{opts: "aw-bits=31", err: true},
		{opts: "aw-bits=65", err: true},
		{opts: "aw-bits=x", err: true},
		{opts: "granule=3k", err: true},
		{opts: "granule=2k", err: true},
		{opts: "granule=2g", err: true},
		{opts: "granule=k", err: true},
		{opts: "domain-range=5-4", err: true},
		{opts: "domain-range=5", err: true},
		{opts: "domain-range=0-0x100000000", err: true},
		{opts: "bypass=yes", err: true},
		{opts: "max-mappings=0", err: true},
		{opts: "max-mappings=-3", err: true},
		{opts: "aw-bits=48,aw-bits=39", err: true},
		{opts: "pt=on", err: true},
		{opts: "aw-bits", err: true},
		{opts: "=4", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.opts, func(t *testing.T) {
			got, err := ParseConfig(tc.opts)
			if tc.err {
				if !errors.Is(err, ErrConfig) {
					t.Fatalf("ParseConfig(%q) = %+v, %v; want an ErrConfig", tc.opts, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := def
			tc.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("ParseConfig(%q) (-want +got):\n%s", tc.opts, diff)
			}
			// String round-trips the options.
			again, err := ParseConfig(got.String())
			if err != nil || !cmp.Equal(again, got) {
				t.Fatalf("ParseConfig(%q) = %+v, %v; want %+v", got.String(), again, err, got)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(c *Config)
		ok   bool
	}{
		{"default", func(*Config) {}, true},
		{"byte granule", func(c *Config) { c.PageSizeMask = 1 }, true},
		{"zero mask", func(c *Config) { c.PageSizeMask = 0 }, false},
		{"aw 31", func(c *Config) { c.AWBits = 31 }, false},
		{"aw 65", func(c *Config) { c.AWBits = 65 }, false},
		{"empty domain range", func(c *Config) { c.DomainRange = [2]uint32{2, 1} }, false},
		{"negative max mappings", func(c *Config) { c.MaxMappings = -1 }, false},
		{"duplicate endpoint", func(c *Config) { c.Endpoints = []uint32{8, 16, 8} }, false},
		{"reserved ok", func(c *Config) { c.Reserved = []Region{{0x1000, 0x1fff}, {0x10000, 0x1ffff}} }, true},
		{"reserved empty", func(c *Config) { c.Reserved = []Region{{0x2000, 0x1fff}} }, false},
		{"reserved over MSI", func(c *Config) { c.Reserved = []Region{{0xfe000000, 0xfee00000}} }, false},
		{"reserved overlapping", func(c *Config) { c.Reserved = []Region{{0x1000, 0x2fff}, {0x2000, 0x3fff}} }, false},
		{"20 reserved", func(c *Config) { c.Reserved = regions(20) }, true},
		{"21 reserved", func(c *Config) { c.Reserved = regions(21) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.mod(&c)
			err := c.Validate()
			if tc.ok != (err == nil) || err != nil && !errors.Is(err, ErrConfig) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if _, nerr := New(c, nil); (nerr == nil) != tc.ok {
				t.Fatalf("New() = %v, want ok=%v", nerr, tc.ok)
			}
		})
	}
}

func regions(n int) []Region {
	rs := make([]Region, n)
	for i := range rs {
		rs[i] = Region{uint64(i) << 20, uint64(i)<<20 + 0xfff}
	}
	return rs
}

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

// TestConfigSpace reads struct virtio_iommu_config as QEMU's qtest "config"
// does (offsets 8, 16, 24, 28, 36) plus the rest, whole and in pieces.
func TestConfigSpace(t *testing.T) {
	for _, tc := range []struct {
		opts              string
		mask, end         uint64
		domFirst, domLast uint32
		bypass            byte
	}{
		{"", Size4K | Size2M | Size1G, 1<<48 - 1, 0, math.MaxUint32, 1},
		{"aw-bits=39,domain-range=1-1000,bypass=off", Size4K | Size2M | Size1G, 1<<39 - 1, 1, 1000, 0},
		{"aw-bits=64,granule=64k", 64<<10 | Size2M | Size1G, math.MaxUint64, 0, math.MaxUint32, 1},
	} {
		t.Run(tc.opts, func(t *testing.T) {
			c, err := ParseConfig(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			d, err := New(c, nil)
			if err != nil {
				t.Fatal(err)
			}
			var b [ConfigSize]byte
			for i := range b {
				b[i] = 0xaa
			}
			d.ReadConfig(0, b[:])
			if got := le64(b[0:]); got != tc.mask {
				t.Errorf("page_size_mask %#x, want %#x", got, tc.mask)
			}
			if got := le64(b[8:]); got != 0 {
				t.Errorf("input_range.start %#x, want 0", got)
			}
			if got := le64(b[16:]); got != tc.end || got < math.MaxUint32 {
				t.Errorf("input_range.end %#x, want %#x (at least u32 max)", got, tc.end)
			}
			if got, got2 := le32(b[24:]), le32(b[28:]); got != tc.domFirst || got2 != tc.domLast {
				t.Errorf("domain_range [%d, %d], want [%d, %d]", got, got2, tc.domFirst, tc.domLast)
			}
			if got := le32(b[32:]); got != ProbePropertiesSize {
				t.Errorf("probe_size %d, want %d", got, ProbePropertiesSize)
			}
			if b[36] != tc.bypass {
				t.Errorf("bypass %d, want %d", b[36], tc.bypass)
			}
			if b[37] != 0 || b[38] != 0 || b[39] != 0 {
				t.Errorf("reserved bytes %x, want zero", b[37:])
			}
			// Every 1-, 2- and 4-byte piece reads the same bytes.
			for _, n := range []int{1, 2, 4} {
				for off := 0; off+n <= ConfigSize; off += n {
					p := make([]byte, n)
					d.ReadConfig(off, p)
					if string(p) != string(b[off:off+n]) {
						t.Fatalf("%d bytes at %d: %x, want %x", n, off, p, b[off:off+n])
					}
				}
			}
		})
	}
}

func TestFeatures(t *testing.T) {
	d, err := New(testConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := d.Features()
	for _, want := range []uint64{FeatureInputRange, FeatureDomainRange, FeatureMapUnmap, FeatureProbe, FeatureMMIO, FeatureBypassConfig} {
		if f&want == 0 {
			t.Errorf("feature %#x not offered (%#x)", want, f)
		}
	}
	if f&FeatureBypass != 0 {
		t.Errorf("legacy BYPASS offered together with BYPASS_CONFIG (%#x)", f)
	}
	if d.Type() != 23 || d.Type().PCIDeviceID() != 0x1057 {
		t.Errorf("type %d / PCI ID %#x, want 23 / 0x1057", d.Type(), d.Type().PCIDeviceID())
	}
	if got := d.QueueSizes(); len(got) != 2 || d.ConfigSize() != 40 {
		t.Errorf("queues %v, config %d bytes; want 2 queues, 40 bytes", got, d.ConfigSize())
	}
}

// TestBypassField: the driver may write 0 or 1 to bypass only once
// BYPASS_CONFIG is negotiated; the value read back always decides what an
// unattached endpoint can do.
func TestBypassField(t *testing.T) {
	tests := []struct {
		name     string
		features uint64 // 0: all
		inactive bool   // write before activation
		off      int
		data     []byte
		want     byte
	}{
		{name: "write 0", off: 36, data: []byte{0}, want: 0},
		{name: "write 1", off: 36, data: []byte{1}, want: 1},
		{name: "write 2 ignored", off: 36, data: []byte{2}, want: 1},
		{name: "write 0xff ignored", off: 36, data: []byte{0xff}, want: 1},
		{name: "dword write 0", off: 36, data: []byte{0, 9, 9, 9}, want: 0},
		{name: "dword write at 32 sets bypass byte 0", off: 32, data: []byte{9, 9, 9, 9, 0}, want: 0},
		{name: "write elsewhere", off: 0, data: []byte{0, 0, 0, 0}, want: 1},
		{name: "not negotiated", features: allFeats &^ FeatureBypassConfig, off: 36, data: []byte{0}, want: 1},
		{name: "before DRIVER_OK", inactive: true, off: 36, data: []byte{0}, want: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d *Device
			if tc.inactive {
				var err error
				if d, err = New(testConfig(), nil); err != nil {
					t.Fatal(err)
				}
			} else {
				d = newHarness(t, testConfig(), tc.features).d
			}
			d.WriteConfig(tc.off, tc.data)
			var b [1]byte
			d.ReadConfig(36, b[:])
			if b[0] != tc.want {
				t.Fatalf("bypass reads %d, want %d", b[0], tc.want)
			}
			checkBypassBehaviour(t, d, b[0])
			// Other fields are read-only.
			var mask [8]byte
			d.ReadConfig(0, mask[:])
			if le64(mask[:]) != testConfig().PageSizeMask {
				t.Fatalf("page_size_mask changed to %#x", le64(mask[:]))
			}
		})
	}
}

// checkBypassBehaviour checks that an unattached endpoint translates as the
// bypass value read back says.
func checkBypassBehaviour(t *testing.T, d *Device, bypass byte) {
	t.Helper()
	as, _ := d.AddressSpace(eps0)
	gpa, n, err := as.Translate(0x5000, 0x100, dma.Write)
	switch bypass {
	case 1:
		if err != nil || gpa != 0x5000 || n != 0x100 {
			t.Fatalf("bypass 1: Translate = %#x, %#x, %v; want the identity", gpa, n, err)
		}
	case 0:
		var f *dma.Fault
		if !errors.As(err, &f) || f.IOVA != 0x5000 {
			t.Fatalf("bypass 0: Translate = %#x, %#x, %v; want a fault", gpa, n, err)
		}
	}
}
