package acpi

// mcfgRevision is the MCFG revision (PCI Firmware Specification 3.3
// §4.1.2, "MCFG Table Description"; the signature is reserved in ACPI 6.5
// §5.2.6). Linux treats revision 1 and later as current.
const mcfgRevision = 1

// buildMCFG returns the MCFG: the header, 8 reserved bytes, and one 16-byte
// allocation structure (Base Address, PCI Segment Group Number, Start Bus
// Number, End Bus Number, 4 reserved bytes) for cfg.ECAM.
func buildMCFG(cfg *Config) []byte {
	t := newTable("MCFG", mcfgRevision, headerSize+8+16)
	t = le64(t, 0)
	t = le64(t, cfg.ECAM.Base)
	t = le16(t, cfg.ECAM.Segment)
	t = append(t, cfg.ECAM.StartBus, cfg.ECAM.EndBus)
	t = le32(t, 0)
	return finishTable(t)
}
