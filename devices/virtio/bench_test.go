package virtio_test

import (
	"encoding/binary"
	"testing"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/memory"
)

// BenchmarkPopPush measures the device side of one request: take a
// 3-descriptor chain from the available ring, return it on the used ring,
// decide on the interrupt. The driver side is a direct store of the
// available idx into guest RAM.
func BenchmarkPopPush(b *testing.B) {
	for _, tc := range []struct {
		name     string
		features uint64
		as       dma.AddressSpace
	}{
		{"identity", 0, dma.Identity{}},
		{"identity/event-idx", virtio.FeatureEventIdx, dma.Identity{}},
		{"page-permutation", 0, virtiotest.NewPagePermutation(0, 0, 256, 1)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ram := make([]byte, 1<<20)
			mem, _ := memory.New(memory.Region{GPA: 0, Data: ram})
			// The driver writes through the same mapping as the device.
			ring := virtiotest.NewRing(mem, tc.as, 0, 256)
			if _, err := ring.Chain(0,
				virtio.Descriptor{Addr: 0x10000, Len: 16},
				virtio.Descriptor{Addr: 0x11000, Len: 4096, Flags: virtio.DescFWrite},
				virtio.Descriptor{Addr: 0x12000, Len: 1, Flags: virtio.DescFWrite}); err != nil {
				b.Fatal(err)
			}
			for range 256 {
				ring.Publish(0)
			}
			ring.SetAvailIdx(0)
			q, err := virtio.NewQueue(ring.Config(tc.features, tc.as, func() error { return nil }))
			if err != nil {
				b.Fatal(err)
			}
			gpa, _, _ := tc.as.Translate(ring.Avail+2, 2, dma.Write)
			idx := ram[gpa : gpa+2]
			var c virtio.Chain
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				binary.LittleEndian.PutUint16(idx, uint16(i+1))
				ok, err := q.Pop(&c)
				if !ok || err != nil {
					b.Fatal(ok, err)
				}
				if err := q.Push(c.Head, 1); err != nil {
					b.Fatal(err)
				}
				if err := q.Interrupt(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkChainSlices measures resolving a 64 KiB writable buffer made
// of 16 descriptors into guest-RAM slices through a page-granular
// address space (what a block read does before preadv).
func BenchmarkChainSlices(b *testing.B) {
	ram := make([]byte, 1<<20)
	mem, _ := memory.New(memory.Region{GPA: 0, Data: ram})
	as := virtiotest.NewPagePermutation(0, 0, 256, 2)
	ring := virtiotest.NewRing(mem, as, 0, 256)
	var descs []virtio.Descriptor
	for i := range 16 {
		descs = append(descs, virtio.Descriptor{Addr: 0x10000 + uint64(i)*4096, Len: 4096, Flags: virtio.DescFWrite})
	}
	ring.Chain(0, descs...)
	ring.Publish(0)
	q, _ := virtio.NewQueue(ring.Config(0, as, nil))
	var c virtio.Chain
	if ok, err := q.Pop(&c); !ok || err != nil {
		b.Fatal(ok, err)
	}
	var iov [][]byte
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var err error
		if iov, err = c.WritableSlices(iov[:0], 0, 64<<10); err != nil || len(iov) != 16 {
			b.Fatal(len(iov), err)
		}
	}
}

// BenchmarkTransportRoundTrip measures a full request through the PCI
// transport: the test driver adds a 2-buffer request, kicks through the
// notify register, the queue goroutine serves it and interrupts, and the
// driver reaps it. Driver-side allocations are included.
func BenchmarkTransportRoundTrip(b *testing.B) {
	r := newRig(b, newEcho(256), virtio.Config{}, nil, 0)
	qs := r.start(b, allFeatures)
	in := []byte("0123456789abcdef")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r.drv.ResetIOVA()
		if _, err := qs[0].Submit([]virtiotest.Buf{{Data: in}, {Write: true, Len: 16}}, false); err != nil {
			b.Fatal(err)
		}
	}
}
