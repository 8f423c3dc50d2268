package acpi

import "fmt"

// Alignment is the alignment of every table in the blob, and the alignment
// Build requires of its base address (the RSDP must sit on a 16-byte
// boundary, ACPI 6.5 §5.2.5.1).
const Alignment = 16 // bytes

// Table locates one table inside Tables.Blob.
type Table struct {
	// Signature is the table's signature ("FACP", "APIC", "DSDT", ...);
	// the RSDP is listed as "RSDP" (its signature proper is "RSD PTR ").
	Signature string
	// GPA is the guest-physical address of its first byte.
	GPA uint64
	// Offset is its offset in Blob; Size its length in bytes (the header's
	// Length field; 36 for the RSDP).
	Offset, Size int
}

// Tables is the result of Build: every table laid out in one contiguous
// blob that the VMM copies to guest-physical Base.
type Tables struct {
	// Base is the guest-physical address of Blob[0].
	Base uint64
	// Blob holds the tables, each at a 16-byte-aligned offset, with zero
	// padding between them.
	Blob []byte
	// RSDP is the guest-physical address of the RSDP, for
	// boot_params.acpi_rsdp_addr (zero page offset 0x070) or the PVH
	// start_info rsdp_paddr. It equals Base.
	RSDP uint64
	// Entries lists the tables in blob order: RSDP, XSDT, FACP, DSDT,
	// APIC, MCFG, then DMAR and VIOT when configured.
	Entries []Table
}

// Size returns len(Blob): the length of the guest-physical range
// [Base, Base+Size) to report as ACPI reclaimable memory (E820 type 3) or
// to keep inside a reserved area.
func (t *Tables) Size() uint64 { return uint64(len(t.Blob)) }

// Lookup returns the bytes of the table with the given signature ("RSDP"
// for the RSDP) and whether it exists. The slice aliases Blob.
func (t *Tables) Lookup(sig string) ([]byte, bool) {
	for _, e := range t.Entries {
		if e.Signature == sig {
			return t.Blob[e.Offset : e.Offset+e.Size : e.Offset+e.Size], true
		}
	}
	return nil, false
}

// Build validates cfg (see Config.Validate) and returns its ACPI tables laid
// out for guest-physical address base, which must be 16-byte aligned.
//
// The blob starts with the revision-2 RSDP, so Tables.RSDP == base; then
// come the XSDT (pointing at FACP, APIC, MCFG and, when configured, DMAR
// and VIOT), the hardware-reduced FADT (pointing at the DSDT), the DSDT,
// the MADT, the MCFG, the DMAR and the VIOT, each 16-byte aligned, with
// valid checksums. The whole blob must not overlap the MMIO windows, the
// ECAM window, the IOAPIC or local APIC or a DMAR register set; it should
// be in guest RAM the guest does not otherwise use (an E820 ACPI or
// reserved range).
//
// Errors are a *ConfigError for an invalid configuration or for tables that
// would overlap one of those ranges (Field "ACPI tables"), or an error
// naming base for a misaligned or wrapping placement.
func Build(cfg Config, base uint64) (*Tables, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if base%Alignment != 0 {
		return nil, fmt.Errorf("acpi: base %#x is not %d-byte aligned", base, Alignment)
	}
	dsdt, err := buildDSDT(&cfg)
	if err != nil {
		return nil, err
	}
	type part struct {
		sig  string
		data []byte
	}
	// Tables that do not depend on addresses; the XSDT, FACP and RSDP are
	// filled in once the layout is known.
	parts := []part{{"RSDP", nil}, {"XSDT", nil}, {"FACP", nil}, {"DSDT", dsdt}, {"APIC", buildMADT(&cfg)}, {"MCFG", buildMCFG(&cfg)}}
	if cfg.DMAR != nil {
		parts = append(parts, part{"DMAR", buildDMAR(cfg.DMAR)})
	}
	if cfg.VIOT != nil {
		parts = append(parts, part{"VIOT", buildVIOT(cfg.VIOT)})
	}
	xsdtEntries := len(parts) - 3 // everything but RSDP, XSDT and DSDT
	sizes := map[string]int{"RSDP": rsdpSize, "XSDT": headerSize + 8*xsdtEntries, "FACP": fadtSize}

	entries := make([]Table, len(parts))
	off := 0
	for i, p := range parts {
		n, ok := sizes[p.sig]
		if !ok {
			n = len(p.data)
		}
		entries[i] = Table{Signature: p.sig, Offset: off, Size: n}
		off = alignUp(off+n, Alignment)
	}
	total := uint64(entries[len(entries)-1].Offset + entries[len(entries)-1].Size)
	if base+total-1 < base {
		return nil, fmt.Errorf("acpi: tables at base %#x (%d bytes) wrap past 2^64", base, total)
	}
	if err := checkOverlaps(append(cfg.memoryRanges(), spanOf("ACPI tables", Window{base, total})), "%#x"); err != nil {
		return nil, err
	}
	gpa := map[string]uint64{}
	for i := range entries {
		entries[i].GPA = base + uint64(entries[i].Offset)
		gpa[entries[i].Signature] = entries[i].GPA
	}
	var xsdtList []uint64
	for _, e := range entries[2:] {
		if e.Signature != "DSDT" {
			xsdtList = append(xsdtList, e.GPA)
		}
	}
	parts[0].data = buildRSDP(gpa["XSDT"])
	parts[1].data = buildXSDT(xsdtList)
	parts[2].data = buildFADT(&cfg, gpa["DSDT"])

	blob := make([]byte, total)
	for i, p := range parts {
		copy(blob[entries[i].Offset:], p.data)
	}
	return &Tables{Base: base, Blob: blob, RSDP: base, Entries: entries}, nil
}

func alignUp(n, a int) int { return (n + a - 1) &^ (a - 1) }
