package acpi

import "encoding/binary"

// gas is a Generic Address Structure (ACPI 6.5 §5.2.3.2): the location of
// a register in an address space.
type gas struct {
	spaceID    uint8 // 0 system memory, 1 system I/O
	bitWidth   uint8
	bitOffset  uint8
	accessSize uint8 // 0 undefined, 1 byte, 2 word, 3 dword, 4 qword
	address    uint64
}

// gasSize is the encoded size of a Generic Address Structure.
const gasSize = 12

// Address space IDs and access sizes of a Generic Address Structure.
const (
	gasSystemIO   = 1
	gasAccessByte = 1
)

// ioByteRegister is an 8-bit register at port, accessed with byte accesses.
func ioByteRegister(port uint16) gas {
	return gas{spaceID: gasSystemIO, bitWidth: 8, accessSize: gasAccessByte, address: uint64(port)}
}

// put writes the 12-byte encoding of g to b[:12].
func (g gas) put(b []byte) {
	_ = b[gasSize-1]
	b[0], b[1], b[2], b[3] = g.spaceID, g.bitWidth, g.bitOffset, g.accessSize
	binary.LittleEndian.PutUint64(b[4:], g.address)
}
