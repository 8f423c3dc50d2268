package acpi

import (
	"encoding/binary"
	"errors"
	"testing"
)

// fuzzReader decodes a Config from fuzz bytes; reads past the end give 0.
type fuzzReader struct{ b []byte }

func (r *fuzzReader) next(n int) []byte {
	out := make([]byte, n)
	k := copy(out, r.b)
	r.b = r.b[k:]
	return out
}
func (r *fuzzReader) u8() uint8   { return r.next(1)[0] }
func (r *fuzzReader) u16() uint16 { return binary.LittleEndian.Uint16(r.next(2)) }
func (r *fuzzReader) u32() uint32 { return binary.LittleEndian.Uint32(r.next(4)) }
func (r *fuzzReader) u64() uint64 { return binary.LittleEndian.Uint64(r.next(8)) }

// count reads a list length, capped so one input cannot ask for huge
// allocations.
func (r *fuzzReader) count(limit int) int { return int(r.u8()) % (limit + 1) }

// fuzzWriter is the inverse of fuzzReader, used to turn the test
// configurations into seeds.
type fuzzWriter struct{ b []byte }

func (w *fuzzWriter) u8(v uint8)   { w.b = append(w.b, v) }
func (w *fuzzWriter) u16(v uint16) { w.b = binary.LittleEndian.AppendUint16(w.b, v) }
func (w *fuzzWriter) u32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *fuzzWriter) u64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *fuzzWriter) flag(v bool) {
	if v {
		w.u8(1)
	} else {
		w.u8(0)
	}
}

// List limits of the fuzz encoding: a little above what is valid, so the
// limits themselves are exercised.
const (
	fuzzMaxOverrides = 20
	fuzzMaxPRT       = 140
	fuzzMaxSerial    = 6
	fuzzMaxUnits     = 6
	fuzzMaxScopes    = 6
	fuzzMaxPath      = 130
	fuzzMaxATSR      = 3
	fuzzMaxRanges    = 12
)

func decodeFuzzConfig(data []byte) Config {
	r := &fuzzReader{b: data}
	var c Config
	c.CPUs = int(r.u16())
	c.IOAPIC = IOAPIC{ID: r.u8(), Addr: r.u32(), GSIBase: r.u32()}
	c.PIC = r.u8()&1 != 0
	c.ECAM = ECAM{Base: r.u64(), Segment: r.u16(), StartBus: r.u8(), EndBus: r.u8()}
	c.MMIO32 = Window{r.u64(), r.u64()}
	c.MMIO64 = Window{r.u64(), r.u64()}
	c.IO = Window{r.u64(), r.u64()}
	c.CMOSRTC = r.u8()&1 != 0
	for n := r.count(fuzzMaxOverrides); n > 0; n-- {
		c.Overrides = append(c.Overrides, InterruptOverride{Source: r.u8(), GSI: r.u32(), Flags: r.u16()})
	}
	for n := r.count(fuzzMaxPRT); n > 0; n-- {
		c.PRT = append(c.PRT, PCIRoute{Device: r.u8(), Pin: r.u8(), GSI: r.u32()})
	}
	for n := r.count(fuzzMaxSerial); n > 0; n-- {
		c.Serial = append(c.Serial, SerialPort{Port: r.u16(), IRQ: r.u8()})
	}
	scopes := func() []DeviceScope {
		var out []DeviceScope
		for n := r.count(fuzzMaxScopes); n > 0; n-- {
			s := DeviceScope{Type: ScopeType(r.u8()), EnumerationID: r.u8(), StartBus: r.u8()}
			for k := r.count(fuzzMaxPath); k > 0; k-- {
				s.Path = append(s.Path, PCIPath{r.u8(), r.u8()})
			}
			out = append(out, s)
		}
		return out
	}
	if r.u8()&1 != 0 {
		d := &DMARConfig{HostAddressWidth: r.u8()}
		f := r.u8()
		d.IntrRemap, d.X2APICOptOut = f&1 != 0, f&2 != 0
		for n := r.count(fuzzMaxUnits); n > 0; n-- {
			d.Units = append(d.Units, DRHD{Segment: r.u16(), RegisterBase: r.u64(), Size: r.u8(), IncludePCIAll: r.u8()&1 != 0, Scopes: scopes()})
		}
		for n := r.count(fuzzMaxATSR); n > 0; n-- {
			d.ATSR = append(d.ATSR, ATSR{Segment: r.u16(), AllPorts: r.u8()&1 != 0, Scopes: scopes()})
		}
		c.DMAR = d
	}
	if r.u8()&1 != 0 {
		v := &VIOTConfig{Segment: r.u16(), BDF: r.u16()}
		for n := r.count(fuzzMaxRanges); n > 0; n-- {
			v.Ranges = append(v.Ranges, VIOTPCIRange{EndpointStart: r.u32(), SegmentStart: r.u16(), SegmentEnd: r.u16(), BDFStart: r.u16(), BDFEnd: r.u16()})
		}
		c.VIOT = v
	}
	return c
}

func encodeFuzzConfig(c Config) []byte {
	w := &fuzzWriter{}
	w.u16(uint16(c.CPUs))
	w.u8(c.IOAPIC.ID)
	w.u32(c.IOAPIC.Addr)
	w.u32(c.IOAPIC.GSIBase)
	w.flag(c.PIC)
	w.u64(c.ECAM.Base)
	w.u16(c.ECAM.Segment)
	w.u8(c.ECAM.StartBus)
	w.u8(c.ECAM.EndBus)
	for _, win := range []Window{c.MMIO32, c.MMIO64, c.IO} {
		w.u64(win.Base)
		w.u64(win.Size)
	}
	w.flag(c.CMOSRTC)
	w.u8(uint8(len(c.Overrides)))
	for _, o := range c.Overrides {
		w.u8(o.Source)
		w.u32(o.GSI)
		w.u16(o.Flags)
	}
	w.u8(uint8(len(c.PRT)))
	for _, p := range c.PRT {
		w.u8(p.Device)
		w.u8(p.Pin)
		w.u32(p.GSI)
	}
	w.u8(uint8(len(c.Serial)))
	for _, s := range c.Serial {
		w.u16(s.Port)
		w.u8(s.IRQ)
	}
	scopes := func(ss []DeviceScope) {
		w.u8(uint8(len(ss)))
		for _, s := range ss {
			w.u8(uint8(s.Type))
			w.u8(s.EnumerationID)
			w.u8(s.StartBus)
			w.u8(uint8(len(s.Path)))
			for _, p := range s.Path {
				w.u8(p.Device)
				w.u8(p.Function)
			}
		}
	}
	w.flag(c.DMAR != nil)
	if d := c.DMAR; d != nil {
		w.u8(d.HostAddressWidth)
		var f uint8
		if d.IntrRemap {
			f |= 1
		}
		if d.X2APICOptOut {
			f |= 2
		}
		w.u8(f)
		w.u8(uint8(len(d.Units)))
		for _, u := range d.Units {
			w.u16(u.Segment)
			w.u64(u.RegisterBase)
			w.u8(u.Size)
			w.flag(u.IncludePCIAll)
			scopes(u.Scopes)
		}
		w.u8(uint8(len(d.ATSR)))
		for _, a := range d.ATSR {
			w.u16(a.Segment)
			w.flag(a.AllPorts)
			scopes(a.Scopes)
		}
	}
	w.flag(c.VIOT != nil)
	if v := c.VIOT; v != nil {
		w.u16(v.Segment)
		w.u16(v.BDF)
		w.u8(uint8(len(v.Ranges)))
		for _, r := range v.Ranges {
			w.u32(r.EndpointStart)
			w.u16(r.SegmentStart)
			w.u16(r.SegmentEnd)
			w.u16(r.BDFStart)
			w.u16(r.BDFEnd)
		}
	}
	return w.b
}

// TestFuzzEncoding checks that the seed encoding reproduces the test
// configurations, so the seeds really start from valid configs.
func TestFuzzEncoding(t *testing.T) {
	for _, tc := range testConfigs() {
		if tc.cfg.CPUs > 0xFFFF || len(tc.cfg.PRT) > fuzzMaxPRT {
			t.Fatalf("%s does not fit the fuzz encoding", tc.name)
		}
		got := decodeFuzzConfig(encodeFuzzConfig(tc.cfg))
		a, err1 := Build(got, testBase)
		b, err2 := Build(tc.cfg, testBase)
		if err1 != nil || err2 != nil || string(a.Blob) != string(b.Blob) {
			t.Errorf("%s: decoded config builds differently (%v, %v)", tc.name, err1, err2)
		}
	}
}

// FuzzBuild feeds Build arbitrary configurations and bases. Build must
// never panic; it either returns an error (a *ConfigError, or a placement
// error naming the base) or tables that a guest can walk: every checksum
// zero, every length consistent, the RSDP, XSDT and FADT pointing at the
// right tables, one local APIC per CPU, a well-formed DMAR and a VIOT that
// resolves each range's first and last function to the right endpoint.
func FuzzBuild(f *testing.F) {
	for _, tc := range testConfigs() {
		f.Add(encodeFuzzConfig(tc.cfg), uint64(testBase))
	}
	f.Add([]byte{}, uint64(0))
	f.Add(encodeFuzzConfig(fullConfig()), uint64(0xC000_0000))
	f.Add(encodeFuzzConfig(vtdConfig()), uint64(1<<64-16))
	f.Fuzz(func(t *testing.T, data []byte, base uint64) {
		cfg := decodeFuzzConfig(data)
		tb, err := Build(cfg, base)
		if err != nil {
			var ce *ConfigError
			if errors.As(err, &ce) && (ce.Field == "" || ce.Reason == "") {
				t.Fatalf("ConfigError without field or reason: %#v", ce)
			}
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		checkWalkable(t, cfg, tb)
	})
}

// checkWalkable verifies tb the way a guest would read it.
func checkWalkable(t *testing.T, cfg Config, tb *Tables) {
	t.Helper()
	if tb.RSDP != tb.Base || tb.Base%Alignment != 0 {
		t.Fatalf("RSDP %#x, base %#x", tb.RSDP, tb.Base)
	}
	end := 0
	bySig := map[string]Table{}
	for _, e := range tb.Entries {
		if e.Offset < end || e.Offset%Alignment != 0 || e.Offset+e.Size > len(tb.Blob) || e.GPA != tb.Base+uint64(e.Offset) {
			t.Fatalf("%s at offset %d size %d GPA %#x in a %d-byte blob", e.Signature, e.Offset, e.Size, e.GPA, len(tb.Blob))
		}
		end = e.Offset + e.Size
		bySig[e.Signature] = e
		b, _ := tb.Lookup(e.Signature)
		if e.Signature == "RSDP" {
			if len(b) != 36 || string(b[:8]) != "RSD PTR " || byteSum(b[:20]) != 0 || byteSum(b) != 0 {
				t.Fatalf("bad RSDP % x", b)
			}
			continue
		}
		checkTable(t, e.Signature, b)
	}
	rsdp, _ := tb.Lookup("RSDP")
	if le.Uint64(rsdp[24:]) != bySig["XSDT"].GPA {
		t.Fatalf("RSDP points at %#x, XSDT is at %#x", le.Uint64(rsdp[24:]), bySig["XSDT"].GPA)
	}
	xsdt, _ := tb.Lookup("XSDT")
	if n := (len(xsdt) - 36) / 8; n != len(tb.Entries)-3 {
		t.Fatalf("XSDT has %d entries for %d tables", n, len(tb.Entries))
	}
	for off := 36; off < len(xsdt); off += 8 {
		gpa := le.Uint64(xsdt[off:])
		found := false
		for _, e := range tb.Entries[2:] {
			found = found || (e.GPA == gpa && e.Signature != "DSDT")
		}
		if !found {
			t.Fatalf("XSDT entry %#x is not a table", gpa)
		}
	}
	facp, _ := tb.Lookup("FACP")
	if le.Uint64(facp[140:]) != bySig["DSDT"].GPA {
		t.Fatalf("X_DSDT %#x, DSDT at %#x", le.Uint64(facp[140:]), bySig["DSDT"].GPA)
	}
	dsdt, _ := tb.Lookup("DSDT")
	checkDSDTFraming(t, dsdt)
	madt, _ := tb.Lookup("APIC")
	_, _, entries := decodeMADT(t, madt)
	cpus := 0
	for _, e := range entries {
		if e.typ == 0 {
			cpus++
		}
	}
	if cpus != cfg.CPUs {
		t.Fatalf("%d local APICs for %d CPUs", cpus, cfg.CPUs)
	}
	if cfg.DMAR != nil {
		b, _ := tb.Lookup("DMAR")
		_, _, s := decodeDMAR(t, b)
		if len(s) != len(cfg.DMAR.Units)+len(cfg.DMAR.ATSR) {
			t.Fatalf("%d DMAR structures for %d units and %d ATSRs", len(s), len(cfg.DMAR.Units), len(cfg.DMAR.ATSR))
		}
	}
	if cfg.VIOT != nil {
		b, _ := tb.Lookup("VIOT")
		for _, r := range cfg.VIOT.Ranges {
			for _, bdf := range []uint16{r.BDFStart, r.BDFEnd} {
				epid, seg, iommu, err := viotEndpoint(b, r.SegmentStart, bdf)
				want := r.EndpointStart + uint32(bdf-r.BDFStart)
				if err != nil || epid != want || seg != cfg.VIOT.Segment || iommu != cfg.VIOT.BDF {
					t.Fatalf("VIOT: %04x:%04x -> endpoint %#x via %04x:%04x (%v), want %#x", r.SegmentStart, bdf, epid, seg, iommu, err, want)
				}
			}
		}
	}
}

// checkDSDTFraming walks the DSDT's top-level terms — Name(_S5_, Package)
// and Scope(_SB_) — and checks that their PkgLengths cover the table
// exactly.
func checkDSDTFraming(t *testing.T, b []byte) {
	t.Helper()
	pkgLen := func(p int) (total, n int) {
		follow := int(b[p] >> 6)
		if follow == 0 {
			return int(b[p] & 0x3F), 1
		}
		total = int(b[p] & 0x0F)
		for i := 1; i <= follow; i++ {
			total |= int(b[p+i]) << (4 + 8*(i-1))
		}
		return total, 1 + follow
	}
	p := 36
	if string(b[p:p+6]) != "\x08_S5_\x12" {
		t.Fatalf("DSDT starts with % x, want Name(_S5_, Package)", b[p:p+6])
	}
	p += 5
	total, _ := pkgLen(p + 1)
	p += 1 + total
	if p >= len(b) || b[p] != 0x10 {
		t.Fatalf("no Scope after _S5_ (offset %d of %d)", p, len(b))
	}
	total, _ = pkgLen(p + 1)
	if p+1+total != len(b) {
		t.Fatalf("Scope(_SB_) at %d spans %d bytes, table ends %d bytes later", p, total, len(b)-p-1)
	}
}

// TestTablesWalkable runs the fuzz checks on the test configurations.
func TestTablesWalkable(t *testing.T) {
	for _, tc := range testConfigs() {
		t.Run(tc.name, func(t *testing.T) {
			checkWalkable(t, tc.cfg, mustBuild(t, tc.cfg, testBase))
		})
	}
}
