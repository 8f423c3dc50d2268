package virtio_test

import (
	"encoding/binary"
	"testing"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
)

// FuzzChain pops descriptor chains out of arbitrary ring and descriptor
// memory: it must never panic or loop, and every chain it returns must
// obey the rules (readable before writable, bounded length, lengths that
// add up).
func FuzzChain(f *testing.F) {
	const p = virtiotest.RawPayload
	D := func(addr uint64, n uint32, flags, next uint16) virtio.Descriptor {
		return virtio.Descriptor{Addr: addr, Len: n, Flags: flags, Next: next}
	}
	W, N, I := virtio.DescFWrite, virtio.DescFNext, virtio.DescFIndirect
	seeds := []struct {
		head  uint8
		descs []virtio.Descriptor
		pay   []byte
	}{
		{0, []virtio.Descriptor{D(p, 16, N, 1), D(p+16, 512, W|N, 2), D(p+600, 1, W, 0)}, nil},
		{1, []virtio.Descriptor{D(p, 16, N, 1), D(p, 1, N, 0)}, nil}, // loop
		{0, []virtio.Descriptor{D(p, 48, I, 0)}, func() []byte { // indirect table of 3
			b := make([]byte, 48)
			D(p+0x100, 16, N, 1).Encode(b)
			D(p+0x200, 100, W|N, 2).Encode(b[16:])
			D(p+0x300, 1, W, 0).Encode(b[32:])
			return b
		}()},
		{0, []virtio.Descriptor{D(p, 32, I, 0)}, func() []byte { // nested indirect
			b := make([]byte, 32)
			D(p, 32, I, 0).Encode(b)
			return b
		}()},
		{20, nil, nil},
		{0, []virtio.Descriptor{D(1<<63, 1<<31, W, 0)}, nil},
	}
	for _, s := range seeds {
		f.Add(virtiotest.RawInput(s.head, s.descs, s.pay), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, indirect bool) {
		var feats uint64
		if indirect {
			feats = virtio.FeatureIndirectDesc
		}
		_, q, _, err := virtiotest.RawQueue(data, feats|virtio.FeatureEventIdx)
		if err != nil {
			t.Fatal(err)
		}
		var c virtio.Chain
		for range 4 {
			ok, err := q.Pop(&c)
			if err != nil || !ok {
				return
			}
			if len(c.Descs) > virtio.MaxIndirectDescriptors+virtiotest.RawQueueSize {
				t.Fatalf("chain of %d descriptors", len(c.Descs))
			}
			var rl, wl uint64
			for i, d := range c.Descs {
				if d.Flags&virtio.DescFIndirect != 0 {
					t.Fatalf("indirect descriptor %d left in the chain", i)
				}
				if d.Writable() {
					wl += uint64(d.Len)
				} else {
					if i >= len(c.Readable()) {
						t.Fatalf("readable descriptor %d after writable ones", i)
					}
					rl += uint64(d.Len)
				}
			}
			if rl != c.ReadableLen() || wl != c.WritableLen() {
				t.Fatalf("lengths %d/%d, chain says %d/%d", rl, wl, c.ReadableLen(), c.WritableLen())
			}
			// Touch every byte range: errors are fine, panics are not.
			var b [64]byte
			_ = c.ReadAt(b[:min(uint64(len(b)), rl)], 0)
			_ = c.WriteAt(b[:min(uint64(len(b)), wl)], 0)
			_, _ = c.WritableSlices(nil, 0, wl)
			if err := q.Push(c.Head, uint32(wl)); err != nil {
				t.Fatal(err)
			}
			if err := q.Interrupt(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzRegisters throws arbitrary MMIO accesses at the BAR and
// configuration-space accesses at the function: no panic, no deadlock,
// and device_status stays a value the rules allow.
func FuzzRegisters(f *testing.F) {
	op := func(kind byte, off uint16, size byte, v uint64) []byte {
		b := make([]byte, 12)
		b[0], b[3] = kind, size
		binary.LittleEndian.PutUint16(b[1:], off)
		binary.LittleEndian.PutUint64(b[4:], v)
		return b
	}
	seq := func(ops ...[]byte) []byte {
		var b []byte
		for _, o := range ops {
			b = append(b, o...)
		}
		return b
	}
	// Linux's bring-up sequence, then a kick.
	f.Add(seq(op(1, virtio.CommonDeviceStatus, 1, 1), op(1, virtio.CommonDeviceStatus, 1, 3),
		op(1, virtio.CommonDriverFeatureSelect, 4, 1), op(1, virtio.CommonDriverFeature, 4, 1),
		op(1, virtio.CommonDeviceStatus, 1, 11), op(1, virtio.CommonQueueDesc, 8, 0x10000),
		op(1, virtio.CommonQueueDriver, 8, 0x11000), op(1, virtio.CommonQueueDevice, 8, 0x12000),
		op(1, virtio.CommonQueueEnable, 2, 1), op(1, virtio.CommonDeviceStatus, 1, 15),
		op(1, virtio.NotifyOffset, 2, 0), op(1, virtio.CommonDeviceStatus, 1, 0)))
	f.Add(seq(op(0, virtio.ISROffset, 1, 0), op(1, virtio.MSIXTableOffset, 4, 0xfee00000), op(2, 0x40, 4, 0xffffffff)))
	f.Add(seq(op(3, 0x60, 4, 0), op(2, 0x10, 4, 0xffffffff), op(0, virtio.DeviceCfgOffset+6, 4, 0)))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := virtiotest.NewMachine(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		tr, err := virtio.New(newEcho(8, 8), virtio.Config{Memory: m.Mem, MSI: m.MSI})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		if err := m.Seg.Add(echoBDF, tr); err != nil {
			t.Fatal(err)
		}
		d, err := m.Probe(echoBDF, nil, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for len(data) >= 12 {
			kind, off, size, v := data[0]&3, uint64(binary.LittleEndian.Uint16(data[1:])), []int{1, 2, 4, 8}[data[3]&3], binary.LittleEndian.Uint64(data[4:])
			data = data[12:]
			switch kind {
			case 0:
				d.Read(d.Bar+off%virtio.BARSize, size)
			case 1:
				d.Write(d.Bar+off%virtio.BARSize, size, v)
			case 2:
				d.SetCfg(int(off%4096)&^(min(size, 4)-1), min(size, 4), uint32(v))
			case 3:
				d.Cfg(int(off%4096)&^(min(size, 4)-1), min(size, 4))
			}
		}
		if s := tr.Status(); s&virtio.StatusDriverOK != 0 && s&virtio.StatusFeaturesOK == 0 && s&virtio.StatusDeviceNeedsReset == 0 {
			t.Fatalf("DRIVER_OK without FEATURES_OK and without DEVICE_NEEDS_RESET: %s", virtio.StatusString(s))
		}
	})
}
