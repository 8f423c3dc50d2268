package virtio_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/memory"
)

// ringRig is a queue over 1 MiB of guest RAM without a transport.
type ringRig struct {
	mem   *memory.Memory
	ring  *virtiotest.Ring
	q     *virtio.Queue
	irqs  int
	ringS uint16
}

const bufArea = 0x10000 // buffers live from here on

func newRingRig(t testing.TB, size uint16, features uint64, as dma.AddressSpace) *ringRig {
	t.Helper()
	mem, err := memory.New(memory.Region{GPA: 0, Data: make([]byte, 1<<20)})
	if err != nil {
		t.Fatal(err)
	}
	r := &ringRig{mem: mem, ringS: size}
	r.ring = virtiotest.NewRing(mem, dma.Identity{}, 0, size)
	if as == nil {
		as = dma.Identity{}
	}
	r.q, err = virtio.NewQueue(r.ring.Config(features, as, func() error { r.irqs++; return nil }))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewQueue(t *testing.T) {
	mem, _ := memory.New(memory.Region{GPA: 0, Data: make([]byte, 4096)})
	good := virtio.QueueConfig{Size: 8, Desc: 0, Driver: 0x80, Device: 0x100, Memory: mem, DMA: dma.Identity{}}
	tests := []struct {
		name string
		edit func(*virtio.QueueConfig)
		ok   bool
	}{
		{"good", func(*virtio.QueueConfig) {}, true},
		{"size 0", func(c *virtio.QueueConfig) { c.Size = 0 }, false},
		{"size 6", func(c *virtio.QueueConfig) { c.Size = 6 }, false},
		{"size 32768", func(c *virtio.QueueConfig) { c.Size = 32768 }, true},
		{"desc misaligned", func(c *virtio.QueueConfig) { c.Desc = 8 }, false},
		{"avail misaligned", func(c *virtio.QueueConfig) { c.Driver = 0x81 }, false},
		{"used misaligned", func(c *virtio.QueueConfig) { c.Device = 0x102 }, false},
		{"used wraps", func(c *virtio.QueueConfig) { c.Device = 1<<64 - 8 }, false},
		{"no memory", func(c *virtio.QueueConfig) { c.Memory = nil }, false},
		{"no address space", func(c *virtio.QueueConfig) { c.DMA = nil }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			if _, err := virtio.NewQueue(c); (err == nil) != tc.ok {
				t.Fatalf("NewQueue: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestPopChains parses well-formed chains of every shape.
func TestPopChains(t *testing.T) {
	type seg struct {
		n uint32
		w bool
	}
	tests := []struct {
		name     string
		segs     []seg
		indirect bool
		rlen     uint64
		wlen     uint64
	}{
		{"single readable", []seg{{100, false}}, false, 100, 0},
		{"single writable", []seg{{100, true}}, false, 0, 100},
		{"mixed", []seg{{16, false}, {512, false}, {512, true}, {1, true}}, false, 528, 513},
		{"zero-length buffer", []seg{{0, false}, {3, true}}, false, 0, 3},
		{"indirect", []seg{{16, false}, {4096, true}, {1, true}}, true, 16, 4097},
		{"full queue", func() []seg {
			s := make([]seg, 8)
			for i := range s {
				s[i] = seg{uint32(i + 1), i >= 4}
			}
			return s
		}(), false, 1 + 2 + 3 + 4, 5 + 6 + 7 + 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRingRig(t, 8, virtio.FeatureIndirectDesc, nil)
			var descs []virtio.Descriptor
			addr := uint64(bufArea)
			for _, s := range tc.segs {
				d := virtio.Descriptor{Addr: addr, Len: s.n}
				if s.w {
					d.Flags = virtio.DescFWrite
				}
				descs = append(descs, d)
				addr += uint64(s.n) + 64
			}
			head := uint16(3)
			if tc.indirect {
				table := uint64(0x8000)
				for i, d := range descs {
					if i+1 < len(descs) {
						d.Flags |= virtio.DescFNext
						d.Next = uint16(i + 1)
					}
					var raw [16]byte
					d.Encode(raw[:])
					if err := r.mem.WriteAt(raw[:], table+uint64(i)*16); err != nil {
						t.Fatal(err)
					}
				}
				if err := r.ring.SetDesc(head, virtio.Descriptor{Addr: table, Len: uint32(16 * len(descs)), Flags: virtio.DescFIndirect | virtio.DescFWrite}); err != nil {
					t.Fatal(err)
				}
			} else if _, err := r.ring.Chain(head, descs...); err != nil {
				t.Fatal(err)
			}
			if err := r.ring.Publish(head); err != nil {
				t.Fatal(err)
			}
			var c virtio.Chain
			ok, err := r.q.Pop(&c)
			if err != nil || !ok {
				t.Fatalf("Pop: %v %v", ok, err)
			}
			if c.Head != head || c.ReadableLen() != tc.rlen || c.WritableLen() != tc.wlen || len(c.Descs) != len(tc.segs) {
				t.Fatalf("got %v", &c)
			}
			for i, d := range c.Descs {
				if d.Addr != descs[i].Addr || d.Len != descs[i].Len || d.Writable() != tc.segs[i].w {
					t.Fatalf("descriptor %d = %v, want %v", i, d, descs[i])
				}
			}
			if ok, err := r.q.Pop(&c); ok || err != nil {
				t.Fatalf("second Pop: %v %v", ok, err)
			}
		})
	}
}

// TestPopErrors: every malformed chain stops the queue with an error
// naming the problem, and the queue stays failed.
func TestPopErrors(t *testing.T) {
	W, N, I := virtio.DescFWrite, virtio.DescFNext, virtio.DescFIndirect
	type entry struct {
		i uint16
		d virtio.Descriptor
	}
	tests := []struct {
		name     string
		features uint64
		table    []entry
		indirect []virtio.Descriptor // written at 0x8000
		head     uint16
		availIdx uint16 // 0: one Publish of head
		want     string
	}{
		{"head out of range", 0, nil, nil, 8, 0, "outside its table"},
		{"next out of range", 0, []entry{{0, virtio.Descriptor{Addr: bufArea, Len: 1, Flags: N, Next: 9}}}, nil, 0, 0, "outside its table"},
		{"loop", 0, []entry{{0, virtio.Descriptor{Addr: bufArea, Len: 1, Flags: N, Next: 1}}, {1, virtio.Descriptor{Addr: bufArea, Len: 1, Flags: N, Next: 0}}}, nil, 0, 0, "longer than 8"},
		{"self loop", 0, []entry{{2, virtio.Descriptor{Addr: bufArea, Len: 1, Flags: N, Next: 2}}}, nil, 2, 0, "longer than 8"},
		{"readable after writable", 0, []entry{{0, virtio.Descriptor{Addr: bufArea, Len: 1, Flags: W | N, Next: 1}}, {1, virtio.Descriptor{Addr: bufArea, Len: 1}}}, nil, 0, 0, "follows a device-writable"},
		{"indirect not negotiated", 0, []entry{{0, virtio.Descriptor{Addr: 0x8000, Len: 16, Flags: I}}}, []virtio.Descriptor{{Addr: bufArea, Len: 1}}, 0, 0, "not negotiated"},
		{"indirect with next", virtio.FeatureIndirectDesc, []entry{{0, virtio.Descriptor{Addr: 0x8000, Len: 16, Flags: I | N, Next: 1}}}, []virtio.Descriptor{{Addr: bufArea, Len: 1}}, 0, 0, "both INDIRECT and NEXT"},
		{"indirect empty", virtio.FeatureIndirectDesc, []entry{{0, virtio.Descriptor{Addr: 0x8000, Len: 0, Flags: I}}}, nil, 0, 0, "whole number"},
		{"indirect ragged", virtio.FeatureIndirectDesc, []entry{{0, virtio.Descriptor{Addr: 0x8000, Len: 20, Flags: I}}}, nil, 0, 0, "whole number"},
		{"indirect huge", virtio.FeatureIndirectDesc, []entry{{0, virtio.Descriptor{Addr: 0x8000, Len: 16 * 4096, Flags: I}}}, nil, 0, 0, "more than 1024"},
		{"nested indirect", virtio.FeatureIndirectDesc, []entry{{0, virtio.Descriptor{Addr: 0x8000, Len: 16, Flags: I}}}, []virtio.Descriptor{{Addr: 0x8000, Len: 16, Flags: I}}, 0, 0, "inside an indirect table"},
		{"indirect loop", virtio.FeatureIndirectDesc, []entry{{0, virtio.Descriptor{Addr: 0x8000, Len: 32, Flags: I}}}, []virtio.Descriptor{{Addr: bufArea, Len: 1, Flags: N, Next: 1}, {Addr: bufArea, Len: 1, Flags: N, Next: 0}}, 0, 0, "longer than 2"},
		{"indirect next out of table", virtio.FeatureIndirectDesc, []entry{{0, virtio.Descriptor{Addr: 0x8000, Len: 32, Flags: I}}}, []virtio.Descriptor{{Addr: bufArea, Len: 1, Flags: N, Next: 5}}, 0, 0, "outside its table of 2"},
		{"indirect table outside RAM", virtio.FeatureIndirectDesc, []entry{{0, virtio.Descriptor{Addr: 1 << 40, Len: 32, Flags: I}}}, nil, 0, 0, "outside guest RAM"},
		{"avail idx far ahead", 0, []entry{{0, virtio.Descriptor{Addr: bufArea, Len: 1}}}, nil, 0, 100, "more than the queue size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRingRig(t, 8, tc.features, nil)
			for _, e := range tc.table {
				if err := r.ring.SetDesc(e.i, e.d); err != nil {
					t.Fatal(err)
				}
			}
			for i, d := range tc.indirect {
				var raw [16]byte
				d.Encode(raw[:])
				if err := r.mem.WriteAt(raw[:], 0x8000+uint64(i)*16); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.ring.Publish(tc.head); err != nil {
				t.Fatal(err)
			}
			if tc.availIdx != 0 {
				if err := r.ring.SetAvailIdx(tc.availIdx); err != nil {
					t.Fatal(err)
				}
			}
			var c virtio.Chain
			ok, err := r.q.Pop(&c)
			if ok || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Pop = %v, %v; want an error containing %q", ok, err, tc.want)
			}
			if _, err2 := r.q.Pop(&c); err2 != err || r.q.Err() != err {
				t.Fatalf("queue did not stay failed: %v / %v", err2, r.q.Err())
			}
			if perr := r.q.Push(0, 0); perr != err {
				t.Fatal("Push on a failed queue succeeded")
			}
		})
	}
}

// TestPopFault: descriptor and ring reads go through the address space;
// a fault there is a *dma.Fault wrapped in the queue's error.
func TestPopFault(t *testing.T) {
	for _, where := range []struct {
		name   string
		lo, hi uint64
	}{{"descriptor table", 0, 16 * 8}, {"available ring", 16 * 8, 16*8 + 22}} {
		t.Run(where.name, func(t *testing.T) {
			fa := &virtiotest.Faulting{AS: dma.Identity{}}
			r := newRingRig(t, 8, 0, fa)
			if _, err := r.ring.Chain(0, virtio.Descriptor{Addr: bufArea, Len: 4}); err != nil {
				t.Fatal(err)
			}
			if err := r.ring.Publish(0); err != nil {
				t.Fatal(err)
			}
			fa.SetFault(where.lo, where.hi, dma.Read)
			var c virtio.Chain
			_, err := r.q.Pop(&c)
			var f *dma.Fault
			if !errors.As(err, &f) {
				t.Fatalf("Pop: %v, want a *dma.Fault", err)
			}
		})
	}
}

// TestInterruptSuppression: without EVENT_IDX the driver's NO_INTERRUPT
// flag decides; with it, used_event does (vring_need_event).
func TestInterruptSuppression(t *testing.T) {
	tests := []struct {
		name      string
		eventIdx  bool
		noIntr    bool
		usedEvent uint16
		batches   []int // requests per Push batch before each Interrupt
		want      []int // cumulative interrupts after each batch
	}{
		{"plain", false, false, 0, []int{1, 2, 0}, []int{1, 2, 2}},
		{"NO_INTERRUPT", false, true, 0, []int{1, 2}, []int{0, 0}},
		{"event idx not reached", true, false, 100, []int{1, 5}, []int{0, 0}},
		{"event idx at 0", true, false, 0, []int{1, 1, 1}, []int{1, 1, 1}},
		{"event idx reached", true, false, 2, []int{1, 1, 1, 1}, []int{0, 0, 1, 1}},
		{"event idx passed in a batch", true, false, 3, []int{1, 4}, []int{0, 1}},
		{"event idx ignores NO_INTERRUPT", true, true, 1, []int{1, 1}, []int{0, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f uint64
			if tc.eventIdx {
				f = virtio.FeatureEventIdx
			}
			r := newRingRig(t, 16, f, nil)
			if tc.noIntr {
				r.ring.SetAvailFlags(virtio.AvailFNoInterrupt)
			}
			r.ring.SetUsedEvent(tc.usedEvent)
			head := uint16(0)
			for b, n := range tc.batches {
				for range n {
					if err := r.q.Push(head, 0); err != nil {
						t.Fatal(err)
					}
					head++
				}
				if err := r.q.Interrupt(); err != nil {
					t.Fatal(err)
				}
				if r.irqs != tc.want[b] {
					t.Fatalf("after batch %d: %d interrupts, want %d", b, r.irqs, tc.want[b])
				}
			}
			if idx, _ := r.ring.UsedIdx(); idx != head {
				t.Fatalf("used idx %d, want %d", idx, head)
			}
		})
	}
}

// TestAvailEvent: with EVENT_IDX an empty Pop publishes avail_event.
func TestAvailEvent(t *testing.T) {
	r := newRingRig(t, 8, virtio.FeatureEventIdx, nil)
	var c virtio.Chain
	for i := range 3 {
		if _, err := r.ring.Chain(0, virtio.Descriptor{Addr: bufArea, Len: 1}); err != nil {
			t.Fatal(err)
		}
		r.ring.Publish(0)
		if ok, err := r.q.Pop(&c); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if ok, err := r.q.Pop(&c); ok || err != nil {
			t.Fatal(ok, err)
		}
		if ev, _ := r.ring.AvailEvent(); ev != uint16(i+1) {
			t.Fatalf("avail_event %d, want %d", ev, i+1)
		}
	}
}

// TestUsedElements: Push writes id and len and the used idx wraps.
func TestUsedElements(t *testing.T) {
	r := newRingRig(t, 4, 0, nil)
	for i := range 70000 {
		if err := r.q.Push(uint16(i%4), uint32(i)); err != nil {
			t.Fatal(err)
		}
		if i%9999 == 0 || i > 69990 {
			id, n, _ := r.ring.UsedElem(uint16(i))
			if idx, _ := r.ring.UsedIdx(); id != uint32(i%4) || n != uint32(i) || idx != uint16(i+1) {
				t.Fatalf("push %d: id %d len %d idx %d", i, id, n, idx)
			}
		}
	}
}

func TestNeedEvent(t *testing.T) {
	tests := []struct {
		event, new, old uint16
		want            bool
	}{
		{0, 1, 0, true},
		{1, 1, 0, false},
		{0, 5, 1, false}, // event 0 lies before old
		{1, 5, 1, true},
		{5, 5, 1, false},
		{4, 5, 1, true},
		{0xffff, 0, 0xfffe, true},
		{0xffff, 2, 0xfffe, true},
		{1, 2, 0xfffe, true},
		{2, 2, 0xfffe, false},
	}
	for _, tc := range tests {
		if got := virtio.NeedEvent(tc.event, tc.new, tc.old); got != tc.want {
			t.Errorf("NeedEvent(%d, %d, %d) = %v", tc.event, tc.new, tc.old, got)
		}
	}
}
