package acpi

// xsdtRevision is the XSDT revision (ACPI 6.5 §5.2.8, "Extended System
// Description Table (XSDT)").
const xsdtRevision = 1

// buildXSDT returns the XSDT listing the tables at the given addresses.
func buildXSDT(entries []uint64) []byte {
	t := newTable("XSDT", xsdtRevision, headerSize+8*len(entries))
	for _, e := range entries {
		t = le64(t, e)
	}
	return finishTable(t)
}
