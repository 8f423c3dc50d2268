package virtioblk_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/devices/virtioblk"
	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/memory"
)

// BenchmarkRequest1MiB serves one 1 MiB read or write request made of
// 256 page-sized data segments in an indirect table (the shape Linux
// gives a 1 MiB bio behind an IOMMU), from the available ring to the
// used ring, with preadv/pwritev into guest memory. The image lives in the
// test's temporary directory (page cache).
func BenchmarkRequest1MiB(b *testing.B) {
	for _, tc := range []struct {
		name string
		typ  uint32
		as   dma.AddressSpace
	}{
		{"read/identity", virtioblk.TypeIn, dma.Identity{}},
		{"write/identity", virtioblk.TypeOut, dma.Identity{}},
		{"read/page-permutation", virtioblk.TypeIn, virtiotest.NewPagePermutation(0, 0, 1024, 4)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "bench.img")
			if err := os.WriteFile(path, make([]byte, 8<<20), 0o600); err != nil {
				b.Fatal(err)
			}
			blk, err := virtioblk.Open(path, virtioblk.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer blk.Close()
			ram := make([]byte, 4<<20)
			mem, _ := memory.New(memory.Region{GPA: 0, Data: ram})
			ring := virtiotest.NewRing(mem, tc.as, 0, 256)
			const hdr, table, data, status = 0x8000, 0x9000, 0x100000, 0xa000
			h := make([]byte, 16)
			binary.LittleEndian.PutUint32(h, tc.typ)
			binary.LittleEndian.PutUint64(h[8:], 2048)
			dma.WriteAt(tc.as, mem, h, hdr)
			tbl := make([]byte, 258*16)
			dflags := virtio.DescFWrite
			if tc.typ == virtioblk.TypeOut {
				dflags = 0
			}
			virtio.Descriptor{Addr: hdr, Len: 16, Flags: virtio.DescFNext, Next: 1}.Encode(tbl)
			for i := range 256 {
				virtio.Descriptor{Addr: data + uint64(i)*4096, Len: 4096, Flags: dflags | virtio.DescFNext, Next: uint16(i + 2)}.Encode(tbl[16*(i+1):])
			}
			virtio.Descriptor{Addr: status, Len: 1, Flags: virtio.DescFWrite}.Encode(tbl[16*257:])
			dma.WriteAt(tc.as, mem, tbl, table)
			ring.SetDesc(0, virtio.Descriptor{Addr: table, Len: uint32(len(tbl)), Flags: virtio.DescFIndirect})
			for range 256 {
				ring.Publish(0)
			}
			ring.SetAvailIdx(0)
			features := virtio.FeatureIndirectDesc | virtioblk.FeatureFlush
			q, err := virtio.NewQueue(ring.Config(features, tc.as, nil))
			if err != nil {
				b.Fatal(err)
			}
			if err := blk.Activate(&virtio.Activation{Features: features, Queues: []*virtio.Queue{q}, Memory: mem, DMA: tc.as}); err != nil {
				b.Fatal(err)
			}
			gpa, _, _ := tc.as.Translate(ring.Avail+2, 2, dma.Write)
			idx := ram[gpa : gpa+2]
			sgpa, _, _ := tc.as.Translate(status, 1, dma.Write)
			b.SetBytes(1 << 20)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				ram[sgpa] = 0xff
				binary.LittleEndian.PutUint16(idx, uint16(i+1))
				if err := blk.Process(q); err != nil {
					b.Fatal(err)
				}
				if ram[sgpa] != virtioblk.StatusOK {
					b.Fatalf("status %d", ram[sgpa])
				}
			}
		})
	}
}
