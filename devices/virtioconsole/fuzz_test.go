package virtioconsole

import (
	"bytes"
	"testing"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/dma"
)

// FuzzQueues feeds arbitrary descriptor chains to both queues: pending
// input into receiveq, output from transmitq. The device must never
// panic or hang, must consume input in order, and can only output bytes
// of guest RAM.
func FuzzQueues(f *testing.F) {
	const p = virtiotest.RawPayload
	W, N := virtio.DescFWrite, virtio.DescFNext
	seeds := []struct {
		descs []virtio.Descriptor
		pay   []byte
	}{
		{[]virtio.Descriptor{{Addr: p, Len: 64, Flags: W}}, nil},
		{[]virtio.Descriptor{{Addr: p, Len: 5}}, []byte("hello")},
		{[]virtio.Descriptor{{Addr: p, Len: 2, Flags: N, Next: 1}, {Addr: p + 2, Len: 3, Flags: W}}, []byte("hi")},
		{[]virtio.Descriptor{{Addr: p, Len: 16, Flags: virtio.DescFIndirect}}, nil},
		{[]virtio.Descriptor{{Addr: 1 << 40, Len: 16, Flags: W}}, nil},
		{[]virtio.Descriptor{{Addr: p, Len: 1, Flags: N, Next: 0}}, nil}, // loop
	}
	for _, s := range seeds {
		f.Add(virtiotest.RawInput(0, s.descs, s.pay), []byte("typed input"))
	}
	f.Fuzz(func(t *testing.T, data, input []byte) {
		for _, index := range []int{ReceiveQueue, TransmitQueue} {
			mem, _, ring, err := virtiotest.RawQueue(data, virtio.FeatureIndirectDesc)
			if err != nil {
				t.Fatal(err)
			}
			cfg := ring.Config(virtio.FeatureIndirectDesc, dma.Identity{}, nil)
			cfg.Index = index
			q, err := virtio.NewQueue(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			c := New(&out, nil)
			qs := []*virtio.Queue{nil, nil}
			qs[index] = q
			if err := c.Activate(&virtio.Activation{Queues: qs, Memory: mem, DMA: dma.Identity{}}); err != nil {
				t.Fatal(err)
			}
			in := append([]byte(nil), input...)
			c.pending = in
			perr := c.Process(q)
			if perr != nil && perr.Error() == "" {
				t.Fatal("empty error")
			}
			if out.Len() > virtiotest.RawRAM*virtiotest.RawQueueSize {
				t.Fatalf("%d bytes of output from %d bytes of RAM", out.Len(), virtiotest.RawRAM)
			}
			// Buffers may overlap the rings (the guest decides), so the
			// used ring proves nothing; the input left over must be a
			// suffix of the input.
			if index == ReceiveQueue && !bytes.HasSuffix(input, c.pending) {
				t.Fatalf("pending %q is not a suffix of the input %q", c.pending, input)
			}
			c.Reset()
		}
	})
}
