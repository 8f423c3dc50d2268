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
)

// FuzzRequest feeds arbitrary request chains (descriptors, headers,
// segments, buffer placement) to the block device over a 64 KiB image:
// it must never panic or hang, and never touch memory outside guest RAM
// (the memory package refuses such accesses with an error instead).
func FuzzRequest(f *testing.F) {
	const p = virtiotest.RawPayload
	hdr := func(typ uint32, sector uint64) []byte {
		b := make([]byte, 16)
		binary.LittleEndian.PutUint32(b, typ)
		binary.LittleEndian.PutUint64(b[8:], sector)
		return b
	}
	D := func(addr uint64, n uint32, flags, next uint16) virtio.Descriptor {
		return virtio.Descriptor{Addr: addr, Len: n, Flags: flags, Next: next}
	}
	W, N := virtio.DescFWrite, virtio.DescFNext
	seg := make([]byte, 16)
	binary.LittleEndian.PutUint64(seg, 4)
	binary.LittleEndian.PutUint32(seg[8:], 2)
	seeds := []struct {
		descs []virtio.Descriptor
		pay   []byte
	}{
		{[]virtio.Descriptor{D(p, 16, N, 1), D(p+0x100, 1024, W|N, 2), D(p+0x1000, 1, W, 0)}, hdr(virtioblk.TypeIn, 3)},
		{[]virtio.Descriptor{D(p, 16, N, 1), D(p+0x100, 512, N, 2), D(p+0x1000, 1, W, 0)}, hdr(virtioblk.TypeOut, 127)},
		{[]virtio.Descriptor{D(p, 16, N, 1), D(p+0x1000, 1, W, 0)}, hdr(virtioblk.TypeFlush, 0)},
		{[]virtio.Descriptor{D(p, 16, N, 1), D(p+0x100, 20, W|N, 2), D(p+0x1000, 1, W, 0)}, hdr(virtioblk.TypeGetID, 0)},
		{[]virtio.Descriptor{D(p, 32, N, 1), D(p+0x1000, 1, W, 0)}, append(hdr(virtioblk.TypeDiscard, 0), seg...)},
		{[]virtio.Descriptor{D(p, 32, N, 1), D(p+0x1000, 1, W, 0)}, append(hdr(virtioblk.TypeWriteZeroes, 0), seg...)},
		{[]virtio.Descriptor{D(p, 10, N, 1), D(p+10, 6, N, 2), D(p+0x1000, 1, W, 0)}, hdr(virtioblk.TypeIn, 0)}, // split header
		{[]virtio.Descriptor{D(p, 16, 0, 0)}, hdr(virtioblk.TypeIn, 0)},                                         // no status
		{[]virtio.Descriptor{D(p, 16, N, 1), D(p+0x100, 512, W|N, 2), D(1<<40, 1, W, 0)}, hdr(virtioblk.TypeIn, 1)},
	}
	for _, s := range seeds {
		f.Add(virtiotest.RawInput(0, s.descs, s.pay), uint64(0xffffffff))
	}
	path := filepath.Join(f.TempDir(), "fuzz.img")
	if err := os.WriteFile(path, make([]byte, 64<<10), 0o600); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, features uint64) {
		b, err := virtioblk.Open(path, virtioblk.Options{QueueSize: virtiotest.RawQueueSize, ReadOnly: features&(1<<63) != 0})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		features &= b.Features() | virtio.FeatureIndirectDesc | virtio.FeatureEventIdx
		mem, q, _, err := virtiotest.RawQueue(data, features)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Activate(&virtio.Activation{Features: features, Queues: []*virtio.Queue{q}, Memory: mem, DMA: dma.Identity{}}); err != nil {
			t.Fatal(err)
		}
		// Buffers may overlap the rings (the guest decides), so the ring
		// contents prove nothing afterwards; what must hold is that
		// Process returns, and that an error says what went wrong.
		if err := b.Process(q); err != nil && err.Error() == "" {
			t.Fatal("empty error")
		}
	})
}
