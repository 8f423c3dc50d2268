package virtioblk_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/devices/virtioblk"
	"github.com/govmm/govmm/dma"
)

const (
	imageSize = 4 << 20
	iovaBase  = 0x40_0000_0000
)

var blkBDF = pci.BDF{Device: 5}

// pattern is the initial image content: byte i of sector s is s*31+i.
func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i/512*31 + i%512)
	}
	return p
}

type rig struct {
	path string
	blk  *virtioblk.Block
	tr   *virtio.Transport
	m    *virtiotest.Machine
	drv  *virtiotest.Driver
	qs   []*virtiotest.Queue

	mu   sync.Mutex
	errs []error
}

// newRig writes a fresh image, opens it with opts and brings the device
// up behind devAS (nil: no IOMMU) with a driver using drvAS from iova.
func newRig(t testing.TB, opts virtioblk.Options, devAS, drvAS dma.AddressSpace, iova uint64, want uint64) *rig {
	t.Helper()
	r := &rig{path: filepath.Join(t.TempDir(), "disk.img")}
	if err := os.WriteFile(r.path, pattern(imageSize), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	if r.blk, err = virtioblk.Open(r.path, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.blk.Close() })
	if r.m, err = virtiotest.NewMachine(32 << 20); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.m.Close() })
	r.tr, err = virtio.New(r.blk, virtio.Config{Memory: r.m.Mem, MSI: r.m.MSI, DMA: devAS, OnError: func(err error) {
		r.mu.Lock()
		r.errs = append(r.errs, err)
		r.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.tr.Close() })
	if err := r.m.Seg.Add(blkBDF, r.tr); err != nil {
		t.Fatal(err)
	}
	if drvAS == nil {
		drvAS, iova = dma.Identity{}, 16<<20
	}
	if r.drv, err = r.m.Probe(blkBDF, drvAS, iova, 16<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := r.drv.Init(want); err != nil {
		t.Fatal(err)
	}
	nq := int(r.drv.Read(r.drv.Common+virtio.CommonNumQueues, 2))
	for i := range nq {
		q, err := r.drv.SetupQueue(i, 0)
		if err != nil {
			t.Fatal(err)
		}
		r.qs = append(r.qs, q)
	}
	r.drv.DriverOK()
	return r
}

func (r *rig) errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// fileAt returns n bytes of the image at off.
func (r *rig) fileAt(t testing.TB, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(r.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := make([]byte, n)
	if _, err := f.ReadAt(p, off); err != nil {
		t.Fatal(err)
	}
	return p
}

// req describes one request as the driver builds it.
type req struct {
	typ    uint32
	sector uint64
	out    []byte   // readable payload after the header
	in     uint32   // writable payload bytes before the status byte
	split  []uint32 // sizes to split both payloads into (the rest goes last)
	indir  bool
	queue  int
}

type result struct {
	status byte
	data   []byte
	used   uint32
}

func header(typ uint32, sector uint64) []byte {
	h := make([]byte, virtioblk.HeaderSize)
	binary.LittleEndian.PutUint32(h, typ)
	binary.LittleEndian.PutUint64(h[8:], sector)
	return h
}

func splitSizes(total uint32, split []uint32) []uint32 {
	var out []uint32
	for _, s := range split {
		if s >= total {
			break
		}
		out = append(out, s)
		total -= s
	}
	if total > 0 {
		out = append(out, total)
	}
	return out
}

// do submits q as Linux's virtio_blk would (header, data segments, status)
// and waits for it.
func (r *rig) do(t testing.TB, q req) result {
	t.Helper()
	bufs := []virtiotest.Buf{{Data: header(q.typ, q.sector)}}
	off := uint32(0)
	for _, s := range splitSizes(uint32(len(q.out)), q.split) {
		bufs = append(bufs, virtiotest.Buf{Data: q.out[off : off+s]})
		off += s
	}
	nIn := 0
	for _, s := range splitSizes(q.in, q.split) {
		bufs = append(bufs, virtiotest.Buf{Write: true, Len: s})
		nIn++
	}
	bufs = append(bufs, virtiotest.Buf{Write: true, Len: 1})
	used, err := r.qs[q.queue].Submit(bufs, q.indir)
	if err != nil {
		t.Fatal(err)
	}
	var res result
	res.used = used
	for _, b := range bufs[len(bufs)-1-nIn : len(bufs)-1] {
		p, err := r.qs[q.queue].Contents(b)
		if err != nil {
			t.Fatal(err)
		}
		res.data = append(res.data, p...)
	}
	st, err := r.qs[q.queue].Contents(bufs[len(bufs)-1])
	if err != nil {
		t.Fatal(err)
	}
	res.status = st[0]
	return res
}

func isPoison(p []byte) bool { return bytes.Count(p, []byte{virtiotest.Poison}) == len(p) }
