package virtioconsole

import (
	"encoding/binary"
	"io"
	"testing"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/memory"
)

// BenchmarkReceiveProcess1500 is the device's share of delivering 1500
// bytes of input: Process on receiveq copying a pending chunk into one
// posted 4 KiB buffer (Linux posts a page) and returning it.
func BenchmarkReceiveProcess1500(b *testing.B) {
	ram := make([]byte, 1<<20)
	mem, _ := memory.New(memory.Region{GPA: 0, Data: ram})
	ring := virtiotest.NewRing(mem, dma.Identity{}, 0, 256)
	ring.SetDesc(0, virtio.Descriptor{Addr: 0x10000, Len: 4096, Flags: virtio.DescFWrite})
	for range 256 {
		ring.Publish(0)
	}
	q, err := virtio.NewQueue(ring.Config(0, dma.Identity{}, nil))
	if err != nil {
		b.Fatal(err)
	}
	c := New(io.Discard, nil)
	if err := c.Activate(&virtio.Activation{Queues: []*virtio.Queue{q, nil}, Memory: mem, DMA: dma.Identity{}}); err != nil {
		b.Fatal(err)
	}
	idx := ram[ring.Avail+2 : ring.Avail+4]
	chunk := make([]byte, 1500)
	b.SetBytes(1500)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		binary.LittleEndian.PutUint16(idx, uint16(i+1))
		c.pending = chunk
		if err := c.Process(q); err != nil {
			b.Fatal(err)
		}
		if len(c.pending) != 0 {
			b.Fatal("input not delivered")
		}
	}
}
