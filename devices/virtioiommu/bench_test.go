package virtioiommu

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/dma"
)

// fill gives domain 1 (eps0 attached) n one-page mappings, one every other
// page from IOVA 4 GiB (clear of the MSI window), without going through
// the queue.
func fill(b *testing.B, h *harness, n int) {
	b.Helper()
	h.must(StatusOK, attachReq(1, eps0, 0))
	h.d.mu.Lock()
	defer h.d.mu.Unlock()
	for i := range n {
		iova := fillBase + uint64(i)<<13
		if st := h.d.dispatch(request{typ: TypeMap, domain: 1, virtStart: iova, virtEnd: iova + 0xfff, physStart: iova, flags: rw}); st != StatusOK {
			b.Fatalf("fill %d: %v", i, st)
		}
	}
}

const (
	fillBase  = 1 << 32
	benchHead = 14      // descriptors 14 and 15, clear of the harness's chains at 0
	benchBuf  = 0x18000 // the request; its tail at benchBuf+64
)

// benchQueue is a request chain prepared once at descriptor benchHead:
// the readable part at benchBuf, a 4-byte tail at benchBuf+64. Each round
// rewrites the request's fields, publishes it and runs the device.
type benchQueue struct {
	h *harness
}

func newBenchQueue(b *testing.B, h *harness, size int) *benchQueue {
	if _, err := h.rr.Chain(benchHead,
		virtio.Descriptor{Addr: benchBuf, Len: uint32(size)},
		virtio.Descriptor{Addr: benchBuf + 64, Len: TailSize, Flags: virtio.DescFWrite}); err != nil {
		b.Fatal(err)
	}
	return &benchQueue{h: h}
}

// run serves the request at benchBuf and returns its status. It publishes
// the chain by writing the available ring in guest RAM directly, so that
// the driver side allocates nothing.
func (q *benchQueue) run(b *testing.B) Status {
	le := binary.LittleEndian
	ring := q.h.ram[q.h.rr.Avail:]
	idx := le.Uint16(ring[2:])
	le.PutUint16(ring[4+2*(idx%q.h.rr.Size):], benchHead)
	le.PutUint16(ring[2:], idx+1)
	if err := q.h.d.Process(q.h.rq); err != nil {
		b.Fatal(err)
	}
	q.h.used++
	return Status(q.h.ram[benchBuf+64])
}

// sync tells the harness's ring what run published, before the harness
// sends requests of its own.
func (q *benchQueue) sync(b *testing.B) {
	if err := q.h.rr.SetAvailIdx(binary.LittleEndian.Uint16(q.h.ram[q.h.rr.Avail+2:])); err != nil {
		b.Fatal(err)
	}
}

const benchBatch = 256

// BenchmarkRequest measures the host-side cost of one MAP or UNMAP request,
// from the available ring to the used ring, in a domain holding 1K or 1M
// one-page mappings. The domain is brought back to its size every 256
// requests outside the timer.
func BenchmarkRequest(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("MAP/%s", sizeName(n)), func(b *testing.B) {
			cfg := testConfig()
			h := newHarness(b, cfg, 0)
			fill(b, h, n)
			q := newBenchQueue(b, h, ReqMapSize)
			copy(h.ram[benchBuf:], mapReq(1, 0, 0, 0, rw))
			le := binary.LittleEndian
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				iova := uint64(1)<<40 + uint64(i%benchBatch)<<12
				le.PutUint64(h.ram[benchBuf+8:], iova)
				le.PutUint64(h.ram[benchBuf+16:], iova+0xfff)
				le.PutUint64(h.ram[benchBuf+24:], iova&0xffffff)
				if st := q.run(b); st != StatusOK {
					b.Fatalf("MAP %#x: %v", iova, st)
				}
				if i%benchBatch == benchBatch-1 {
					b.StopTimer()
					q.sync(b)
					h.must(StatusOK, unmapReq(1, 1<<40, 1<<41))
					b.StartTimer()
				}
			}
		})
		b.Run(fmt.Sprintf("UNMAP/%s", sizeName(n)), func(b *testing.B) {
			h := newHarness(b, testConfig(), 0)
			fill(b, h, n)
			refill := func() {
				for j := range benchBatch {
					iova := uint64(1)<<40 + uint64(j)<<12
					h.must(StatusOK, mapReq(1, iova, iova+0xfff, 0, rw))
				}
			}
			refill()
			q := newBenchQueue(b, h, ReqUnmapSize)
			copy(h.ram[benchBuf:], unmapReq(1, 0, 0))
			le := binary.LittleEndian
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				iova := uint64(1)<<40 + uint64(i%benchBatch)<<12
				le.PutUint64(h.ram[benchBuf+8:], iova)
				le.PutUint64(h.ram[benchBuf+16:], iova+0xfff)
				if st := q.run(b); st != StatusOK {
					b.Fatalf("UNMAP %#x: %v", iova, st)
				}
				if i%benchBatch == benchBatch-1 {
					b.StopTimer()
					q.sync(b)
					refill()
					b.StartTimer()
				}
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dM", n>>20)
	}
	return fmt.Sprintf("%dK", n>>10)
}

// BenchmarkTranslate measures Translate hits: in a domain of 1K or 1M
// mappings, in ascending page order (a DMA stream) and at random pages,
// on one goroutine and on all of them (different endpoints would not even
// share a lock), and in bypass mode.
func BenchmarkTranslate(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 20} {
		h := newHarness(b, testConfig(), 0)
		fill(b, h, n)
		as := h.as(eps0)
		b.Run(fmt.Sprintf("hit/sequential/%s", sizeName(n)), func(b *testing.B) {
			b.ReportAllocs()
			for i := range b.N {
				iova := fillBase + uint64(i%n)<<13 + 0x80
				if _, l, err := as.Translate(iova, 0x200, dma.Read); err != nil || l != 0x200 {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("hit/random/%s", sizeName(n)), func(b *testing.B) {
			pages := make([]uint64, 4096)
			r := rand.New(rand.NewPCG(1, 2))
			for i := range pages {
				pages[i] = fillBase + r.Uint64N(uint64(n))<<13 + 0x80
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, _, err := as.Translate(pages[i%len(pages)], 0x200, dma.Write); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("hit/parallel/%s", sizeName(n)), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, _, err := as.Translate(fillBase+uint64(i%n)<<13, 8, dma.Read); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
	b.Run("bypass", func(b *testing.B) {
		h := newHarness(b, testConfig(), 0)
		as := h.as(eps1)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, _, err := as.Translate(uint64(i)<<12, 0x1000, dma.Read); err != nil {
				b.Fatal(err)
			}
		}
	})
}
