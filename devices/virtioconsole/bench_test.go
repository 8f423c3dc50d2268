package virtioconsole_test

import (
	"encoding/binary"
	"io"
	"testing"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/devices/virtioconsole"
	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/memory"
)

// BenchmarkTransmit1500 serves one 1500-byte transmitq chain (two
// buffers, as an hvc write of a long line may arrive) from the available
// ring to io.Discard.
func BenchmarkTransmit1500(b *testing.B) {
	ram := make([]byte, 1<<20)
	mem, _ := memory.New(memory.Region{GPA: 0, Data: ram})
	ring := virtiotest.NewRing(mem, dma.Identity{}, 0, 256)
	ring.Chain(0, virtio.Descriptor{Addr: 0x10000, Len: 1000}, virtio.Descriptor{Addr: 0x20000, Len: 500})
	for range 256 {
		ring.Publish(0)
	}
	cfg := ring.Config(0, dma.Identity{}, nil)
	cfg.Index = virtioconsole.TransmitQueue
	q, err := virtio.NewQueue(cfg)
	if err != nil {
		b.Fatal(err)
	}
	c := virtioconsole.New(io.Discard, nil)
	if err := c.Activate(&virtio.Activation{Queues: []*virtio.Queue{nil, q}, Memory: mem, DMA: dma.Identity{}}); err != nil {
		b.Fatal(err)
	}
	idx := ram[ring.Avail+2 : ring.Avail+4]
	b.SetBytes(1500)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		binary.LittleEndian.PutUint16(idx, uint16(i+1))
		if err := c.Process(q); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReceive1500 delivers 1500 bytes of host input through the
// input goroutine into a posted receive buffer, as the driver sees it:
// Wake, Process, used ring.
func BenchmarkReceive1500(b *testing.B) {
	pr, pw := io.Pipe()
	defer pw.Close()
	con := virtioconsole.New(io.Discard, pr)
	r := newRig(b, con, nil, nil, 0)
	chunk := make([]byte, 1500)
	errs := make(chan error, 1)
	go func() {
		for range b.N {
			if _, err := pw.Write(chunk); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	b.SetBytes(1500)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := r.rx.Submit([]virtiotest.Buf{{Write: true, Len: 1500}}, false); err != nil {
			b.Fatal(err)
		}
		r.drv.ResetIOVA()
	}
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}
