package virtiotest

import (
	"encoding/binary"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/memory"
)

// Ring is the driver side of a split virtqueue laid out directly in guest
// memory, without a transport: for unit tests, fuzzers and benchmarks of
// a device's Process against a queue made with virtio.NewQueue. Addresses
// are IOVAs written through AS.
type Ring struct {
	Mem               *memory.Memory
	AS                dma.AddressSpace
	Size              uint16
	Desc, Avail, Used uint64
	availIdx          uint16
}

// NewRing lays out a ring of size entries from the IOVA base (4 KiB
// aligned): the descriptor table, then the available ring, then the used
// ring on the next 4 KiB boundary. The caller keeps [base, End()) free.
func NewRing(mem *memory.Memory, as dma.AddressSpace, base uint64, size uint16) *Ring {
	r := &Ring{Mem: mem, AS: as, Size: size, Desc: base}
	r.Avail = base + 16*uint64(size)
	r.Used = (r.Avail + 6 + 2*uint64(size) + pageMask) &^ pageMask
	return r
}

// End returns the first IOVA after the rings.
func (r *Ring) End() uint64 { return (r.Used + 6 + 8*uint64(r.Size) + pageMask) &^ pageMask }

// Config returns the virtio.QueueConfig of the ring for a device queue
// with index 0, the given features and address space.
func (r *Ring) Config(features uint64, as dma.AddressSpace, interrupt func() error) virtio.QueueConfig {
	return virtio.QueueConfig{
		Size: r.Size, Desc: r.Desc, Driver: r.Avail, Device: r.Used,
		Features: features, Memory: r.Mem, DMA: as, Interrupt: interrupt,
	}
}

// SetDesc writes descriptor i of the table.
func (r *Ring) SetDesc(i uint16, d virtio.Descriptor) error {
	var raw [virtio.DescriptorSize]byte
	d.Encode(raw[:])
	return dma.WriteAt(r.AS, r.Mem, raw[:], r.Desc+uint64(i)*virtio.DescriptorSize)
}

// Chain writes descs as a chain at table entries first, first+1, ... (the
// NEXT flags and indices are filled in) and returns first.
func (r *Ring) Chain(first uint16, descs ...virtio.Descriptor) (uint16, error) {
	for i, d := range descs {
		idx := first + uint16(i)
		if i+1 < len(descs) {
			d.Flags |= virtio.DescFNext
			d.Next = (idx + 1) % r.Size
		}
		if err := r.SetDesc(idx%r.Size, d); err != nil {
			return 0, err
		}
	}
	return first, nil
}

// Publish makes head available and advances idx.
func (r *Ring) Publish(head uint16) error {
	if err := r.put16(r.Avail+4+2*uint64(r.availIdx%r.Size), head); err != nil {
		return err
	}
	r.availIdx++
	return r.put16(r.Avail+2, r.availIdx)
}

// SetAvailIdx overwrites the available idx.
func (r *Ring) SetAvailIdx(v uint16) error { r.availIdx = v; return r.put16(r.Avail+2, v) }

// SetAvailFlags writes the available ring's flags.
func (r *Ring) SetAvailFlags(v uint16) error { return r.put16(r.Avail, v) }

// SetUsedEvent writes used_event.
func (r *Ring) SetUsedEvent(v uint16) error { return r.put16(r.Avail+4+2*uint64(r.Size), v) }

// AvailEvent reads avail_event.
func (r *Ring) AvailEvent() (uint16, error) { return r.get16(r.Used + 4 + 8*uint64(r.Size)) }

// UsedIdx reads the used idx.
func (r *Ring) UsedIdx() (uint16, error) { return r.get16(r.Used + 2) }

// UsedElem reads used ring entry i (modulo the size): id and len.
func (r *Ring) UsedElem(i uint16) (id, n uint32, err error) {
	var b [8]byte
	err = dma.ReadAt(r.AS, r.Mem, b[:], r.Used+4+8*uint64(i%r.Size))
	return binary.LittleEndian.Uint32(b[:]), binary.LittleEndian.Uint32(b[4:]), err
}

func (r *Ring) put16(iova uint64, v uint16) error {
	var b [2]byte
	binary.LittleEndian.PutUint16(b[:], v)
	return dma.WriteAt(r.AS, r.Mem, b[:], iova)
}

func (r *Ring) get16(iova uint64) (uint16, error) {
	var b [2]byte
	err := dma.ReadAt(r.AS, r.Mem, b[:], iova)
	return binary.LittleEndian.Uint16(b[:]), err
}
