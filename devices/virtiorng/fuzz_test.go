package virtiorng_test

import (
	"testing"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/devices/virtiorng"
	"github.com/govmm/govmm/dma"
)

// FuzzRequest feeds arbitrary chains to the entropy device: no panic,
// and every used length is at most MaxRequest. The source writes zeroes,
// so a buffer the guest placed over the used ring can only clear it,
// never forge a used length.
func FuzzRequest(f *testing.F) {
	const p = virtiotest.RawPayload
	W, N := virtio.DescFWrite, virtio.DescFNext
	f.Add(virtiotest.RawInput(0, []virtio.Descriptor{{Addr: p, Len: 64, Flags: W}}, nil))
	f.Add(virtiotest.RawInput(1, []virtio.Descriptor{{}, {Addr: p, Len: 4000, Flags: W | N, Next: 2}, {Addr: p + 0x4000, Len: 100, Flags: W}}, nil))
	f.Add(virtiotest.RawInput(0, []virtio.Descriptor{{Addr: p, Len: 8, Flags: N, Next: 1}, {Addr: p + 8, Len: 8, Flags: W}}, nil))
	f.Add(virtiotest.RawInput(0, []virtio.Descriptor{{Addr: p, Len: 1 << 30, Flags: W}}, nil))
	f.Add(virtiotest.RawInput(0, []virtio.Descriptor{{Addr: 1 << 50, Len: 16, Flags: W}}, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		mem, q, ring, err := virtiotest.RawQueue(data, virtio.FeatureIndirectDesc)
		if err != nil {
			t.Fatal(err)
		}
		r := virtiorng.NewFrom(zeroes{})
		if err := r.Activate(&virtio.Activation{Queues: []*virtio.Queue{q}, Memory: mem, DMA: dma.Identity{}}); err != nil {
			t.Fatal(err)
		}
		_ = r.Process(q)
		used, _ := ring.UsedIdx()
		for i := range used {
			_, n, _ := ring.UsedElem(i)
			if n > virtiorng.MaxRequest || n > virtiotest.RawRAM {
				t.Fatalf("used length %d", n)
			}
		}
	})
}

type zeroes struct{}

func (zeroes) Read(p []byte) (int, error) { clear(p); return len(p), nil }
