package virtioblk_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/devices/virtioblk"
	"github.com/govmm/govmm/dma"
)

// TestReadWrite writes and reads multi-segment requests through the rings
// and checks the image file and the buffers, over an identity and a
// page-permuting address space, with direct and indirect chains.
func TestReadWrite(t *testing.T) {
	perm := virtiotest.NewPagePermutation(iovaBase, 16<<20, 4096, 3)
	spaces := []struct {
		name     string
		dev, drv dma.AddressSpace
		iova     uint64
	}{
		{"identity", nil, nil, 0},
		{"page permutation", perm, perm, iovaBase},
	}
	for _, sp := range spaces {
		for _, indirect := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/indirect=%v", sp.name, indirect), func(t *testing.T) {
				r := newRig(t, virtioblk.Options{}, sp.dev, sp.drv, sp.iova, ^uint64(0))
				tests := []struct {
					sector uint64
					n      int
					split  []uint32
				}{
					{0, 512, nil},
					{7, 3 * 512, []uint32{512, 1024}},
					{100, 64 << 10, []uint32{4096 + 512, 1000 * 0, 512, 8192}},
					{imageSize/512 - 2, 1024, []uint32{512}},
					{1000, 1 << 20, []uint32{1 << 19, 4096, 512}},
				}
				for i, tc := range tests {
					data := make([]byte, tc.n)
					for j := range data {
						data[j] = byte(j*13 + i + 1)
					}
					res := r.do(t, req{typ: virtioblk.TypeOut, sector: tc.sector, out: data, split: tc.split, indir: indirect})
					if res.status != virtioblk.StatusOK || res.used != 1 {
						t.Fatalf("write %d: status %d used %d", i, res.status, res.used)
					}
					if got := r.fileAt(t, int64(tc.sector)*512, tc.n); !bytes.Equal(got, data) {
						t.Fatalf("write %d: the image does not hold the data", i)
					}
					res = r.do(t, req{typ: virtioblk.TypeIn, sector: tc.sector, in: uint32(tc.n), split: tc.split, indir: indirect})
					if res.status != virtioblk.StatusOK || res.used != uint32(tc.n)+1 {
						t.Fatalf("read %d: status %d used %d", i, res.status, res.used)
					}
					if !bytes.Equal(res.data, data) {
						t.Fatalf("read %d: wrong data", i)
					}
				}
				// Untouched sectors keep the original pattern.
				if got, want := r.fileAt(t, 50*512, 512), pattern(51 * 512)[50*512:]; !bytes.Equal(got, want) {
					t.Fatal("sector 50 changed")
				}
				if errs := r.errors(); len(errs) != 0 {
					t.Fatal(errs)
				}
			})
		}
	}
}

// TestRequests covers every request type's outcome.
func TestRequests(t *testing.T) {
	capacity := uint64(imageSize / 512)
	seg := func(sector uint64, n, flags uint32) []byte {
		b := make([]byte, virtioblk.SegmentSize)
		binary.LittleEndian.PutUint64(b, sector)
		binary.LittleEndian.PutUint32(b[8:], n)
		binary.LittleEndian.PutUint32(b[12:], flags)
		return b
	}
	zeroSectors := func(sector, n uint64) func(*testing.T, *rig, result) {
		return func(t *testing.T, r *rig, _ result) {
			if got := r.fileAt(t, int64(sector)*512, int(n)*512); bytes.Count(got, []byte{0}) != len(got) {
				t.Errorf("sectors [%d, +%d) are not zero", sector, n)
			}
			if got, want := r.fileAt(t, int64(sector+n)*512, 512), pattern(int(sector+n+1) * 512)[(sector+n)*512:]; !bytes.Equal(got, want) {
				t.Errorf("the sector after the range changed")
			}
		}
	}
	unchanged := func(sector uint64) func(*testing.T, *rig, result) {
		return func(t *testing.T, r *rig, _ result) {
			if got, want := r.fileAt(t, int64(sector)*512, 512), pattern(int(sector+1) * 512)[sector*512:]; !bytes.Equal(got, want) {
				t.Errorf("sector %d changed", sector)
			}
		}
	}
	tests := []struct {
		name   string
		opts   virtioblk.Options
		want   uint64 // features the driver accepts
		req    req
		status byte
		used   uint32
		check  func(*testing.T, *rig, result)
	}{
		{"read past the end", virtioblk.Options{}, ^uint64(0), req{typ: virtioblk.TypeIn, sector: capacity - 1, in: 1024}, virtioblk.StatusIOErr, 1,
			func(t *testing.T, _ *rig, res result) {
				if !isPoison(res.data) {
					t.Error("data written on a failed read")
				}
			}},
		{"read at a huge sector", virtioblk.Options{}, ^uint64(0), req{typ: virtioblk.TypeIn, sector: 1<<63 + 5, in: 512}, virtioblk.StatusIOErr, 1, nil},
		{"write past the end", virtioblk.Options{}, ^uint64(0), req{typ: virtioblk.TypeOut, sector: capacity, out: make([]byte, 512)}, virtioblk.StatusIOErr, 1, nil},
		{"partial sector", virtioblk.Options{}, ^uint64(0), req{typ: virtioblk.TypeOut, sector: 3, out: make([]byte, 100)}, virtioblk.StatusIOErr, 1, unchanged(3)},
		{"read-only write", virtioblk.Options{ReadOnly: true}, ^uint64(0), req{typ: virtioblk.TypeOut, sector: 9, out: make([]byte, 512)}, virtioblk.StatusIOErr, 1, unchanged(9)},
		{"read-only read", virtioblk.Options{ReadOnly: true}, ^uint64(0), req{typ: virtioblk.TypeIn, sector: 9, in: 512}, virtioblk.StatusOK, 513,
			func(t *testing.T, _ *rig, res result) {
				if !bytes.Equal(res.data, pattern(10 * 512)[9*512:]) {
					t.Error("wrong data")
				}
			}},
		{"read-only discard", virtioblk.Options{ReadOnly: true}, ^uint64(0), req{typ: virtioblk.TypeDiscard, out: seg(1, 1, 0)}, virtioblk.StatusUnsupp, 1, unchanged(1)},
		{"flush", virtioblk.Options{}, ^uint64(0), req{typ: virtioblk.TypeFlush}, virtioblk.StatusOK, 1, nil},
		{"flush not negotiated", virtioblk.Options{}, ^virtioblk.FeatureFlush, req{typ: virtioblk.TypeFlush}, virtioblk.StatusUnsupp, 1, nil},
		{"write-through without FLUSH", virtioblk.Options{}, ^virtioblk.FeatureFlush, req{typ: virtioblk.TypeOut, sector: 2, out: bytes.Repeat([]byte{9}, 512)}, virtioblk.StatusOK, 1,
			func(t *testing.T, r *rig, _ result) {
				if !bytes.Equal(r.fileAt(t, 1024, 512), bytes.Repeat([]byte{9}, 512)) {
					t.Error("not written")
				}
			}},
		{"get id", virtioblk.Options{Serial: "govmm-disk-0"}, ^uint64(0), req{typ: virtioblk.TypeGetID, in: 20}, virtioblk.StatusOK, 21,
			func(t *testing.T, _ *rig, res result) {
				if want := append([]byte("govmm-disk-0"), make([]byte, 8)...); !bytes.Equal(res.data, want) {
					t.Errorf("id %q", res.data)
				}
			}},
		{"get id, short buffer", virtioblk.Options{Serial: "0123456789abcdefghij"}, ^uint64(0), req{typ: virtioblk.TypeGetID, in: 4}, virtioblk.StatusOK, 5,
			func(t *testing.T, _ *rig, res result) {
				if string(res.data) != "0123" {
					t.Errorf("id %q", res.data)
				}
			}},
		{"unknown type", virtioblk.Options{}, ^uint64(0), req{typ: 99, in: 512}, virtioblk.StatusUnsupp, 1, nil},
		{"get lifetime", virtioblk.Options{}, ^uint64(0), req{typ: virtioblk.TypeGetLifetime, in: 16}, virtioblk.StatusUnsupp, 1, nil},
		{"discard", virtioblk.Options{}, ^uint64(0), req{typ: virtioblk.TypeDiscard, out: append(seg(16, 8, 0), seg(40, 2, 0)...)}, virtioblk.StatusOK, 1,
			func(t *testing.T, r *rig, res result) {
				zeroSectors(16, 8)(t, r, res) // tmpfs and ext4 punch holes; the data reads as zeroes
				zeroSectors(40, 2)(t, r, res)
			}},
		{"discard with unmap", virtioblk.Options{}, ^uint64(0), req{typ: virtioblk.TypeDiscard, out: seg(16, 8, virtioblk.SegmentFlagUnmap)}, virtioblk.StatusUnsupp, 1, unchanged(16)},
		{"discard not negotiated", virtioblk.Options{}, ^virtioblk.FeatureDiscard, req{typ: virtioblk.TypeDiscard, out: seg(16, 8, 0)}, virtioblk.StatusUnsupp, 1, unchanged(16)},
		{"discard past the end", virtioblk.Options{}, ^uint64(0), req{typ: virtioblk.TypeDiscard, out: append(seg(16, 8, 0), seg(capacity-1, 2, 0)...)}, virtioblk.StatusIOErr, 1, unchanged(16)},
		{"discard, no segment", virtioblk.Options{}, ^uint64(0), req{typ: virtioblk.TypeDiscard}, virtioblk.StatusIOErr, 1, nil},
		{"discard, ragged segment", virtioblk.Options{}, ^uint64(0), req{typ: virtioblk.TypeDiscard, out: seg(16, 8, 0)[:12]}, virtioblk.StatusIOErr, 1, unchanged(16)},
		{"discard, too many segments", virtioblk.Options{}, ^uint64(0), req{typ: virtioblk.TypeDiscard, out: bytes.Repeat(seg(16, 1, 0), virtioblk.MaxDiscardSeg+1)}, virtioblk.StatusIOErr, 1, unchanged(16)},
		{"write zeroes", virtioblk.Options{}, ^uint64(0), req{typ: virtioblk.TypeWriteZeroes, out: seg(30, 3, 0)}, virtioblk.StatusOK, 1, zeroSectors(30, 3)},
		{"write zeroes with unmap", virtioblk.Options{}, ^uint64(0), req{typ: virtioblk.TypeWriteZeroes, out: seg(30, 3, virtioblk.SegmentFlagUnmap)}, virtioblk.StatusOK, 1, zeroSectors(30, 3)},
		{"write zeroes, unknown flag", virtioblk.Options{}, ^uint64(0), req{typ: virtioblk.TypeWriteZeroes, out: seg(30, 3, 4)}, virtioblk.StatusUnsupp, 1, unchanged(30)},
		{"write zeroes, too long", virtioblk.Options{}, ^uint64(0), req{typ: virtioblk.TypeWriteZeroes, out: seg(0, virtioblk.MaxWriteZeroesSectors+1, 0)}, virtioblk.StatusIOErr, 1, unchanged(0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.opts, nil, nil, 0, tc.want)
			res := r.do(t, tc.req)
			if res.status != tc.status || res.used != tc.used {
				t.Fatalf("status %d used %d, want %d and %d", res.status, res.used, tc.status, tc.used)
			}
			if tc.check != nil {
				tc.check(t, r, res)
			}
			if s := r.drv.Status(); s&virtio.StatusDeviceNeedsReset != 0 {
				t.Fatalf("status %s", virtio.StatusString(s))
			}
		})
	}
}

// TestConfig reads struct virtio_blk_config as the driver does.
func TestConfig(t *testing.T) {
	for _, opts := range []virtioblk.Options{{}, {ReadOnly: true, Queues: 3, QueueSize: 64}} {
		t.Run(fmt.Sprintf("%+v", opts), func(t *testing.T) {
			r := newRig(t, opts, nil, nil, 0, ^uint64(0))
			d := r.drv
			qs := max(opts.Queues, 1)
			qsize := uint64(opts.QueueSize)
			if qsize == 0 {
				qsize = 256
			}
			fields := []struct {
				name string
				off  uint64
				n    int
				want uint64
			}{
				{"capacity", virtioblk.ConfigCapacity, 8, imageSize / 512},
				{"size_max", virtioblk.ConfigSizeMax, 4, virtioblk.SizeMax},
				{"seg_max", virtioblk.ConfigSegMax, 4, qsize - 2},
				{"blk_size", virtioblk.ConfigBlkSize, 4, 512},
				{"num_queues", virtioblk.ConfigNumQueues, 2, uint64(qs)},
				{"max_discard_seg", virtioblk.ConfigMaxDiscardSeg, 4, virtioblk.MaxDiscardSeg},
			}
			for _, f := range fields {
				if got := d.ReadDeviceConfig(f.off, f.n); got != f.want {
					t.Errorf("%s = %d, want %d", f.name, got, f.want)
				}
			}
			d.Write(d.DeviceCfg+virtioblk.ConfigCapacity, 4, 1)
			if got := d.ReadDeviceConfig(virtioblk.ConfigCapacity, 8); got != imageSize/512 {
				t.Errorf("capacity writable: %d", got)
			}
			f := d.Features
			wantRO := opts.ReadOnly
			if (f&virtioblk.FeatureRO != 0) != wantRO || (f&virtioblk.FeatureDiscard != 0) == wantRO || (f&virtioblk.FeatureMQ != 0) != (qs > 1) {
				t.Errorf("negotiated %s", virtio.FeatureString(f))
			}
			if len(r.qs) != qs {
				t.Errorf("%d queues", len(r.qs))
			}
		})
	}
}

// TestMultiQueue runs requests on several queues at once.
func TestMultiQueue(t *testing.T) {
	r := newRig(t, virtioblk.Options{Queues: 4}, nil, nil, 0, ^uint64(0))
	var wg sync.WaitGroup
	errs := make(chan error, len(r.qs))
	for i := range r.qs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 20 {
				sector := uint64(i*1000 + k*8)
				data := bytes.Repeat([]byte{byte(i*20 + k + 1)}, 4096)
				if res := r.do(t, req{typ: virtioblk.TypeOut, sector: sector, out: data, queue: i, split: []uint32{512}}); res.status != virtioblk.StatusOK {
					errs <- fmt.Errorf("queue %d write %d: status %d", i, k, res.status)
					return
				}
				if res := r.do(t, req{typ: virtioblk.TypeIn, sector: sector, in: 4096, queue: i}); !bytes.Equal(res.data, data) {
					errs <- fmt.Errorf("queue %d read %d: wrong data", i, k)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestDMAFault: a buffer the IOMMU refuses fails the request with IOERR
// and does no I/O; a status byte it refuses, or a ring it refuses, sets
// DEVICE_NEEDS_RESET and raises the configuration vector.
func TestDMAFault(t *testing.T) {
	tests := []struct {
		name      string
		fault     func(r *rig, bufs []virtiotest.Buf) (lo, hi uint64)
		typ       uint32
		needReset bool
	}{
		{"read data buffer", func(_ *rig, b []virtiotest.Buf) (uint64, uint64) { return b[1].IOVA + 600, b[1].IOVA + 601 }, virtioblk.TypeIn, false},
		{"write data buffer", func(_ *rig, b []virtiotest.Buf) (uint64, uint64) { return b[1].IOVA, b[1].IOVA + 1 }, virtioblk.TypeOut, false},
		{"header", func(_ *rig, b []virtiotest.Buf) (uint64, uint64) { return b[0].IOVA, b[0].IOVA + 16 }, virtioblk.TypeOut, false},
		{"status byte", func(_ *rig, b []virtiotest.Buf) (uint64, uint64) { return b[2].IOVA, b[2].IOVA + 1 }, virtioblk.TypeIn, true},
		{"descriptor table", func(r *rig, _ []virtiotest.Buf) (uint64, uint64) { return r.qs[0].Desc, r.qs[0].Desc + 4096 }, virtioblk.TypeIn, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			perm := virtiotest.NewPagePermutation(iovaBase, 16<<20, 4096, 9)
			fa := &virtiotest.Faulting{AS: perm}
			r := newRig(t, virtioblk.Options{}, fa, perm, iovaBase, ^uint64(0))
			q := r.qs[0]
			var bufs []virtiotest.Buf
			bufs = append(bufs, virtiotest.Buf{Data: header(tc.typ, 4)})
			if tc.typ == virtioblk.TypeOut {
				bufs = append(bufs, virtiotest.Buf{Data: bytes.Repeat([]byte{0x5a}, 1024)})
			} else {
				bufs = append(bufs, virtiotest.Buf{Write: true, Len: 1024})
			}
			bufs = append(bufs, virtiotest.Buf{Write: true, Len: 1})
			// Allocate and fill the buffers first, then fault, then publish.
			head, err := q.Add(bufs, false)
			if err != nil {
				t.Fatal(err)
			}
			_ = head
			lo, hi := tc.fault(r, bufs)
			fa.SetFault(lo, hi, dma.ReadWrite)
			q.Kick()
			if tc.needReset {
				s := waitNeedsReset(r)
				if s&virtio.StatusDriverOK == 0 {
					t.Fatalf("status %s", virtio.StatusString(s))
				}
				for r.m.MSI.Count(0) == 0 { // the configuration vector
					yield()
				}
				if errs := r.errors(); len(errs) == 0 || !strings.Contains(errs[0].Error(), "faulted") {
					t.Fatalf("reported %v", errs)
				}
			} else {
				if _, _, err := q.Wait(); err != nil {
					t.Fatal(err)
				}
				st, _ := q.Contents(bufs[2])
				if st[0] != virtioblk.StatusIOErr {
					t.Fatalf("status %d, want IOERR", st[0])
				}
				if tc.typ == virtioblk.TypeIn {
					if data, _ := q.Contents(bufs[1]); !isPoison(data) {
						t.Error("data written although the buffer faulted")
					}
				}
				if got, want := r.fileAt(t, 4*512, 1024), pattern(6 * 512)[4*512:]; !bytes.Equal(got, want) {
					t.Error("image changed by a failed write")
				}
			}
			if fa.Faults() == 0 {
				t.Error("no translation faulted")
			}
		})
	}
}

// TestMalformed: chains the device cannot answer stop the queue with
// DEVICE_NEEDS_RESET.
func TestMalformed(t *testing.T) {
	tests := []struct {
		name string
		bufs []virtiotest.Buf
	}{
		{"no status byte", []virtiotest.Buf{{Data: header(virtioblk.TypeIn, 0)}}},
		{"short header", []virtiotest.Buf{{Data: header(virtioblk.TypeIn, 0)[:10]}, {Write: true, Len: 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, virtioblk.Options{}, nil, nil, 0, ^uint64(0))
			if _, err := r.qs[0].Add(tc.bufs, false); err != nil {
				t.Fatal(err)
			}
			r.qs[0].Kick()
			waitNeedsReset(r)
			if errs := r.errors(); len(errs) == 0 || !strings.Contains(errs[0].Error(), "malformed") {
				t.Fatalf("reported %v", errs)
			}
			// A reset brings the device back.
			r.drv.Reset()
			if _, err := r.drv.Init(^uint64(0)); err != nil {
				t.Fatal(err)
			}
			q, err := r.drv.SetupQueue(0, 0)
			if err != nil {
				t.Fatal(err)
			}
			r.qs[0] = q
			r.drv.DriverOK()
			if res := r.do(t, req{typ: virtioblk.TypeIn, sector: 1, in: 512}); res.status != virtioblk.StatusOK {
				t.Fatalf("after reset: status %d", res.status)
			}
		})
	}
}

func waitNeedsReset(r *rig) uint8 {
	for {
		if s := r.drv.Status(); s&virtio.StatusDeviceNeedsReset != 0 {
			return s
		}
		yield()
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name string
		opts virtioblk.Options
		ok   bool
	}{
		{"defaults", virtioblk.Options{}, true},
		{"serial 20", virtioblk.Options{Serial: strings.Repeat("x", 20)}, true},
		{"serial 21", virtioblk.Options{Serial: strings.Repeat("x", 21)}, false},
		{"queue size 3", virtioblk.Options{QueueSize: 3}, false},
		{"queue size 2", virtioblk.Options{QueueSize: 2}, false},
		{"queues 257", virtioblk.Options{Queues: 257}, false},
		{"queues -1", virtioblk.Options{Queues: -1}, false},
	}
	path := t.TempDir() + "/img"
	if err := writeFile(path, 4096+100); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := virtioblk.Open(path, tc.opts)
			if (err == nil) != tc.ok {
				t.Fatalf("Open: %v", err)
			}
			if err == nil {
				if b.Capacity() != 8 {
					t.Errorf("capacity %d, want 8 (whole sectors)", b.Capacity())
				}
				b.Close()
			}
		})
	}
	if _, err := virtioblk.Open(path+".missing", virtioblk.Options{}); err == nil {
		t.Error("opened a missing file")
	}
}
