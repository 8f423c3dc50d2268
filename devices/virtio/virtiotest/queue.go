package virtiotest

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/dma"
)

// Queue is the driver side of one split virtqueue (Linux's virtio_ring):
// a descriptor free list, the available ring the driver fills and the
// used ring it drains. Not safe for concurrent use.
type Queue struct {
	d                 *Driver
	Index             int
	Size              uint16
	Desc, Avail, Used uint64 // IOVAs
	Vector            int
	notify            uint64
	free              []uint16
	chains            map[uint16][]uint16 // head -> descriptors to free
	availIdx          uint16
	availFlags        uint16
	lastUsed          uint16
}

// Buf is one buffer of a request: Data is what the driver puts in a
// device-readable buffer; a device-writable one (Write) has Len bytes,
// pre-filled with Poison. IOVA is filled in by Add.
type Buf struct {
	Write bool
	Data  []byte
	Len   uint32
	IOVA  uint64
}

// Poison is the byte device-writable buffers are filled with before they
// are handed to the device, so a test can tell written bytes apart.
const Poison = 0xee

// SetupQueue programs queue i as vp_modern's setup_vq does: select it,
// read its maximum size, write size (0 or too big: the maximum), place
// the descriptor table, available ring and used ring on their own pages
// of IOVA space, assign MSI-X vector i+1 and enable the queue.
func (d *Driver) SetupQueue(i int, size uint16) (*Queue, error) {
	c := d.Common
	d.Write(c+virtio.CommonQueueSelect, 2, uint64(i))
	maxSize := uint16(d.Read(c+virtio.CommonQueueSize, 2))
	if maxSize == 0 {
		return nil, fmt.Errorf("virtiotest: queue %d does not exist", i)
	}
	if size == 0 || size > maxSize {
		size = maxSize
	}
	q := &Queue{d: d, Index: i, Size: size, Vector: i + 1, chains: map[uint16][]uint16{}}
	var err error
	if q.Desc, err = d.AllocIOVA(16*uint64(size), pageSize); err != nil {
		return nil, err
	}
	if q.Avail, err = d.AllocIOVA(6+2*uint64(size), pageSize); err != nil {
		return nil, err
	}
	if q.Used, err = d.AllocIOVA(6+8*uint64(size), pageSize); err != nil {
		return nil, err
	}
	for j := size; j > 0; j-- {
		q.free = append(q.free, j-1)
	}
	d.Write(c+virtio.CommonQueueSize, 2, uint64(size))
	d.write64(c+virtio.CommonQueueDesc, q.Desc)
	d.write64(c+virtio.CommonQueueDriver, q.Avail)
	d.write64(c+virtio.CommonQueueDevice, q.Used)
	d.Write(c+virtio.CommonQueueMSIXVector, 2, uint64(q.Vector))
	if got := d.Read(c+virtio.CommonQueueMSIXVector, 2); got != uint64(q.Vector) {
		return nil, fmt.Errorf("virtiotest: queue %d: vector %d read back as %#x", i, q.Vector, got)
	}
	q.notify = d.Notify + d.Read(c+virtio.CommonQueueNotifyOff, 2)*uint64(d.NotifyMul)
	d.Write(c+virtio.CommonQueueEnable, 2, 1)
	d.Queues = append(d.Queues, q)
	d.allocMu.Lock()
	d.ringsEnd = d.iovaNext
	d.allocMu.Unlock()
	return q, nil
}

// Add makes a request of bufs available, device-readable buffers first.
// With indirect, the chain is one VIRTQ_DESC_F_INDIRECT descriptor
// pointing at a table of len(bufs) descriptors. It allocates IOVA space for
// each buffer (16-byte aligned, so large buffers straddle pages), copies in
// the readable data and poisons the writable buffers, fills bufs[i].IOVA,
// and publishes the head. It does not notify the device (Kick).
func (q *Queue) Add(bufs []Buf, indirect bool) (uint16, error) {
	descs := make([]virtio.Descriptor, len(bufs))
	for i := range bufs {
		b := &bufs[i]
		n := uint64(b.Len)
		if !b.Write {
			n = uint64(len(b.Data))
			b.Len = uint32(n)
		}
		iova, err := q.d.AllocIOVA(n, 16)
		if err != nil {
			return 0, err
		}
		b.IOVA = iova
		data := b.Data
		if b.Write {
			data = make([]byte, n)
			for j := range data {
				data[j] = Poison
			}
		}
		if err := q.d.WriteGuest(iova, data); err != nil {
			return 0, err
		}
		descs[i] = virtio.Descriptor{Addr: iova, Len: b.Len}
		if b.Write {
			descs[i].Flags = virtio.DescFWrite
		}
	}
	if indirect {
		table, err := q.d.AllocIOVA(uint64(len(descs))*virtio.DescriptorSize, 16)
		if err != nil {
			return 0, err
		}
		raw := make([]byte, len(descs)*virtio.DescriptorSize)
		for i, d := range descs {
			if i+1 < len(descs) {
				d.Flags |= virtio.DescFNext
				d.Next = uint16(i + 1)
			}
			d.Encode(raw[i*virtio.DescriptorSize:])
		}
		if err := q.d.WriteGuest(table, raw); err != nil {
			return 0, err
		}
		descs = []virtio.Descriptor{{Addr: table, Len: uint32(len(raw)), Flags: virtio.DescFIndirect}}
	}
	if len(descs) > len(q.free) {
		return 0, fmt.Errorf("virtiotest: queue %d: %d descriptors wanted, %d free", q.Index, len(descs), len(q.free))
	}
	ids := make([]uint16, len(descs))
	for i := range ids {
		ids[i] = q.free[len(q.free)-1-i]
	}
	q.free = q.free[:len(q.free)-len(ids)]
	for i, d := range descs {
		if i+1 < len(descs) {
			d.Flags |= virtio.DescFNext
			d.Next = ids[i+1]
		}
		if err := q.PutDescriptor(ids[i], d); err != nil {
			return 0, err
		}
	}
	q.chains[ids[0]] = ids
	return ids[0], q.Publish(ids[0])
}

// PutDescriptor writes descriptor table entry i.
func (q *Queue) PutDescriptor(i uint16, d virtio.Descriptor) error {
	var raw [virtio.DescriptorSize]byte
	d.Encode(raw[:])
	return q.d.WriteGuest(q.Desc+uint64(i)*virtio.DescriptorSize, raw[:])
}

// Publish puts head on the available ring and advances idx with one
// ordered store (the virtio_wmb before the idx update, §2.7.13.1).
func (q *Queue) Publish(head uint16) error {
	var b [2]byte
	binary.LittleEndian.PutUint16(b[:], head)
	if err := q.d.WriteGuest(q.Avail+4+2*uint64(q.availIdx%q.Size), b[:]); err != nil {
		return err
	}
	q.availIdx++
	return q.storeWord(q.Avail, uint32(q.availFlags)|uint32(q.availIdx)<<16)
}

// SetAvailIdx overwrites the available idx (for tests of drivers that
// misbehave).
func (q *Queue) SetAvailIdx(idx uint16) error {
	q.availIdx = idx
	return q.storeWord(q.Avail, uint32(q.availFlags)|uint32(idx)<<16)
}

// SetNoInterrupt sets or clears VIRTQ_AVAIL_F_NO_INTERRUPT.
func (q *Queue) SetNoInterrupt(on bool) error {
	q.availFlags = 0
	if on {
		q.availFlags = virtio.AvailFNoInterrupt
	}
	return q.storeWord(q.Avail, uint32(q.availFlags)|uint32(q.availIdx)<<16)
}

// SetUsedEvent writes used_event (VIRTIO_F_EVENT_IDX): the driver wants an
// interrupt once the used idx passes v.
func (q *Queue) SetUsedEvent(v uint16) error {
	var b [2]byte
	binary.LittleEndian.PutUint16(b[:], v)
	return q.d.WriteGuest(q.Avail+4+2*uint64(q.Size), b[:])
}

// AvailEvent reads avail_event, the device's request for notifications.
func (q *Queue) AvailEvent() (uint16, error) {
	var b [2]byte
	err := q.d.ReadGuest(q.Used+4+8*uint64(q.Size), b[:])
	return binary.LittleEndian.Uint16(b[:]), err
}

// UsedIdx reads the used idx.
func (q *Queue) UsedIdx() (uint16, error) {
	w, err := q.loadWord(q.Used)
	return uint16(w >> 16), err
}

// Kick notifies the device: a 16-bit write of the queue index at the
// queue's notify address (vp_notify).
func (q *Queue) Kick() { q.d.Write(q.notify, 2, uint64(q.Index)) }

// PopUsed takes the next used element, if any: the head and the number
// of bytes the device wrote. The chain's descriptors return to the free
// list.
func (q *Queue) PopUsed() (head uint16, written uint32, ok bool, err error) {
	idx, err := q.UsedIdx()
	if err != nil || idx == q.lastUsed {
		return 0, 0, false, err
	}
	var e [8]byte
	if err := q.d.ReadGuest(q.Used+4+8*uint64(q.lastUsed%q.Size), e[:]); err != nil {
		return 0, 0, false, err
	}
	q.lastUsed++
	head, written = uint16(binary.LittleEndian.Uint32(e[:])), binary.LittleEndian.Uint32(e[4:])
	q.free = append(q.free, q.chains[head]...)
	delete(q.chains, head)
	return head, written, true, nil
}

// Wait blocks until a used element is there, sleeping on the queue's
// MSI-X vector between looks, and returns it. With VIRTIO_F_EVENT_IDX it
// first asks for an interrupt at the next used element (used_event =
// the driver's last seen used idx), as virtqueue_enable_cb does.
func (q *Queue) Wait() (head uint16, written uint32, err error) {
	sig := q.d.M.MSI.signal(q.Vector)
	for {
		if q.d.Features&virtio.FeatureEventIdx != 0 {
			if err := q.SetUsedEvent(q.lastUsed); err != nil {
				return 0, 0, err
			}
		}
		h, n, ok, err := q.PopUsed()
		if err != nil || ok {
			return h, n, err
		}
		<-sig
	}
}

// Poll spins (yielding the processor) until a used element is there, for
// tests where the interrupt is suppressed.
func (q *Queue) Poll() (head uint16, written uint32, err error) {
	for {
		h, n, ok, err := q.PopUsed()
		if err != nil || ok {
			return h, n, err
		}
		runtime.Gosched()
	}
}

// Submit adds bufs, kicks the device and waits for the request to be used.
// It returns the bytes written.
func (q *Queue) Submit(bufs []Buf, indirect bool) (uint32, error) {
	head, err := q.Add(bufs, indirect)
	if err != nil {
		return 0, err
	}
	q.Kick()
	h, n, err := q.Wait()
	if err == nil && h != head {
		err = fmt.Errorf("virtiotest: queue %d: used head %d, want %d", q.Index, h, head)
	}
	return n, err
}

// Contents reads back the current bytes of buffer b.
func (q *Queue) Contents(b Buf) ([]byte, error) {
	p := make([]byte, b.Len)
	return p, q.d.ReadGuest(b.IOVA, p)
}

// storeWord stores the 4-byte aligned word at iova atomically, so that
// the device sees the ring entry before the idx.
func (q *Queue) storeWord(iova uint64, v uint32) error {
	gpa, n, err := q.d.AS.Translate(iova, 4, dma.Write)
	if err != nil {
		return err
	}
	s, err := q.d.M.Mem.Slice(gpa, 4)
	if err != nil || n < 4 || iova%4 != 0 {
		return fmt.Errorf("virtiotest: ring word at IOVA %#x is not one aligned translation: %v", iova, err)
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&s[0])), v)
	return nil
}

func (q *Queue) loadWord(iova uint64) (uint32, error) {
	gpa, n, err := q.d.AS.Translate(iova, 4, dma.Read)
	if err != nil {
		return 0, err
	}
	s, err := q.d.M.Mem.Slice(gpa, 4)
	if err != nil || n < 4 || iova%4 != 0 {
		return 0, fmt.Errorf("virtiotest: ring word at IOVA %#x is not one aligned translation: %v", iova, err)
	}
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&s[0]))), nil
}
