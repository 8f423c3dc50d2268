package virtio

import (
	"encoding/binary"
	"fmt"
)

// Descriptor flags (struct virtq_desc, virtio 1.2 §2.7.5).
const (
	DescFNext     uint16 = 1 // VIRTQ_DESC_F_NEXT: the chain continues at Next
	DescFWrite    uint16 = 2 // VIRTQ_DESC_F_WRITE: the buffer is device-writable
	DescFIndirect uint16 = 4 // VIRTQ_DESC_F_INDIRECT: the buffer is a table of descriptors
)

// DescriptorSize is the size in bytes of one struct virtq_desc.
const DescriptorSize = 16

// Descriptor is one entry of a descriptor table (struct virtq_desc,
// virtio 1.2 §2.7.5): a buffer of Len bytes at the IOVA Addr, flags, and
// the index of the next descriptor when Flags has DescFNext.
type Descriptor struct {
	Addr  uint64 // IOVA of the buffer (or of an indirect table)
	Len   uint32 // bytes
	Flags uint16 // DescF* bits
	Next  uint16 // next descriptor in the same table, if DescFNext
}

// DecodeDescriptor decodes the 16-byte little-endian struct virtq_desc at
// the start of b. b must hold at least DescriptorSize bytes.
func DecodeDescriptor(b []byte) Descriptor {
	_ = b[DescriptorSize-1]
	le := binary.LittleEndian
	return Descriptor{Addr: le.Uint64(b), Len: le.Uint32(b[8:]), Flags: le.Uint16(b[12:]), Next: le.Uint16(b[14:])}
}

// Encode writes d as a struct virtq_desc into the first DescriptorSize
// bytes of b.
func (d Descriptor) Encode(b []byte) {
	_ = b[DescriptorSize-1]
	le := binary.LittleEndian
	le.PutUint64(b, d.Addr)
	le.PutUint32(b[8:], d.Len)
	le.PutUint16(b[12:], d.Flags)
	le.PutUint16(b[14:], d.Next)
}

// Writable reports whether the buffer is device-writable.
func (d Descriptor) Writable() bool { return d.Flags&DescFWrite != 0 }

// String formats d as "[addr, +len) w" for messages.
func (d Descriptor) String() string {
	dir := "r"
	if d.Writable() {
		dir = "w"
	}
	return fmt.Sprintf("[%#x, +%#x) %s", d.Addr, d.Len, dir)
}
