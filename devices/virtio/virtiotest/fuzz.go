package virtiotest

import (
	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/memory"
)

// Layout of the guest memory RawQueue builds from fuzz input.
const (
	RawQueueSize = 16      // queue size
	RawDescTable = 0x0     // descriptor table (RawQueueSize entries)
	RawPayload   = 0x2000  // where the payload bytes are copied
	RawRAM       = 0x20000 // bytes of guest RAM
	rawHeader    = 2 + RawQueueSize*virtio.DescriptorSize
)

// RawQueue turns fuzz input into guest memory holding a queue of
// RawQueueSize entries and returns the device side of it (made with
// virtio.NewQueue over dma.Identity with the given features) and the
// driver's Ring. data[0] is the head published on the available ring (it
// may be out of range), data[1]&3 how many times it is published (0–3),
// the next 256 bytes the descriptor table, and the rest the payload at
// RawPayload. Missing bytes are zero. Build well-formed inputs with
// RawInput.
func RawQueue(data []byte, features uint64) (*memory.Memory, *virtio.Queue, *Ring, error) {
	buf := make([]byte, rawHeader)
	copy(buf, data)
	ram := make([]byte, RawRAM)
	copy(ram[RawDescTable:], buf[2:rawHeader])
	if len(data) > rawHeader {
		copy(ram[RawPayload:], data[rawHeader:])
	}
	mem, err := memory.New(memory.Region{GPA: 0, Data: ram})
	if err != nil {
		return nil, nil, nil, err
	}
	r := NewRing(mem, dma.Identity{}, 0, RawQueueSize)
	for range buf[1] & 3 {
		if err := r.Publish(uint16(buf[0])); err != nil {
			return nil, nil, nil, err
		}
	}
	q, err := virtio.NewQueue(r.Config(features, dma.Identity{}, nil))
	return mem, q, r, err
}

// RawInput encodes a RawQueue input: head published once, descs at table
// entries 0, 1, ..., payload at RawPayload. Descriptor addresses should
// point into [RawPayload, RawRAM).
func RawInput(head uint8, descs []virtio.Descriptor, payload []byte) []byte {
	b := make([]byte, rawHeader, rawHeader+len(payload))
	b[0], b[1] = head, 1
	for i, d := range descs {
		if i < RawQueueSize {
			d.Encode(b[2+i*virtio.DescriptorSize:])
		}
	}
	return append(b, payload...)
}
