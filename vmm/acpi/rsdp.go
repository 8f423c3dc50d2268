package acpi

// RSDP layout (ACPI 6.5 §5.2.5.3, "Root System Description Pointer (RSDP)
// Structure"), revision 2.
const (
	rsdpSignature = "RSD PTR "
	rsdpRevision  = 2
	// rsdpSize is the RSDP's Length: the whole revision-2 structure.
	rsdpSize = 36
	// rsdpV1Size is the part covered by the first (ACPI 1.0) checksum.
	rsdpV1Size = 20
)

// buildRSDP returns the RSDP pointing at the XSDT at xsdt. The RSDT
// Address is 0: a revision-2 RSDP with an XSDT needs no RSDT, and Linux
// uses the XSDT whenever the revision is 2 or more.
func buildRSDP(xsdt uint64) []byte {
	b := make([]byte, 0, rsdpSize)
	b = append(b, rsdpSignature...)
	b = append(b, 0) // Checksum
	b = append(b, OEMID...)
	b = append(b, rsdpRevision)
	b = le32(b, 0) // RsdtAddress
	b = le32(b, rsdpSize)
	b = le64(b, xsdt)
	b = append(b, 0)       // Extended Checksum
	b = append(b, 0, 0, 0) // Reserved
	b[8] = -sum8(b[:rsdpV1Size])
	b[32] = -sum8(b)
	return b
}
