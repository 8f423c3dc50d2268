package acpi

import "encoding/binary"

// Header identity written into every table (ACPI 6.5 §5.2.6, "System
// Description Table Header").
const (
	// OEMID is the OEM ID of every table and of the RSDP.
	OEMID = "GOVMM "
	// OEMRevision is the OEM Revision of every table.
	OEMRevision = 1
	// CreatorID and CreatorRevision identify the table generator (the
	// "Creator ID" / "ASL Compiler ID" field).
	CreatorID       = "GOVM" // 4 characters
	CreatorRevision = 1      // version of this table generator
)

// headerSize is the size of the System Description Table Header.
const headerSize = 36

// newTable returns a table buffer holding the System Description Table
// Header for sig and rev, with Length and Checksum left zero for
// finishTable to fill. The OEM Table ID is "GOVM" followed by the signature
// (for example "GOVMAPIC"), so each table is identifiable on its own.
func newTable(sig string, rev uint8, capacity int) []byte {
	t := make([]byte, headerSize, max(capacity, headerSize))
	copy(t[0:4], sig)
	t[8] = rev
	copy(t[10:16], OEMID)
	copy(t[16:24], CreatorID+sig)
	binary.LittleEndian.PutUint32(t[24:], OEMRevision)
	copy(t[28:32], CreatorID)
	binary.LittleEndian.PutUint32(t[32:], CreatorRevision)
	return t
}

// finishTable writes the table's Length and Checksum (the byte that makes
// the sum of all bytes zero modulo 256).
func finishTable(t []byte) []byte {
	binary.LittleEndian.PutUint32(t[4:], uint32(len(t)))
	t[9] = 0
	t[9] = -sum8(t)
	return t
}

// sum8 returns the sum of b's bytes modulo 256.
func sum8(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// Little-endian appenders.
func le16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func le32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func le64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }
