package virtio_test

import (
	"bytes"
	"fmt"

	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
)

// upper is a complete virtio device back end: one queue whose requests
// carry text in device-readable buffers and get it back in upper case in
// device-writable ones.
type upper struct{}

func (upper) Type() virtio.Type                 { return virtio.TypeConsole }
func (upper) Features() uint64                  { return 0 }
func (upper) QueueSizes() []uint16              { return []uint16{64} }
func (upper) ConfigSize() int                   { return 0 }
func (upper) ReadConfig(int, []byte)            {}
func (upper) WriteConfig(int, []byte)           {}
func (upper) Activate(*virtio.Activation) error { return nil }
func (upper) Reset()                            {}

// Process runs on the queue's goroutine after each notification.
func (upper) Process(q *virtio.Queue) error {
	var c virtio.Chain
	for {
		ok, err := q.Pop(&c)
		if err != nil || !ok {
			return err // an error sets DEVICE_NEEDS_RESET
		}
		n := min(c.ReadableLen(), c.WritableLen())
		buf := make([]byte, n)
		if err := c.ReadAt(buf, 0); err != nil {
			return err
		}
		if err := c.WriteAt(bytes.ToUpper(buf), 0); err != nil {
			return err
		}
		if err := q.Push(c.Head, uint32(n)); err != nil {
			return err
		}
	}
}

// Example wires a device behind an IOMMU-like address space, then plays
// Linux's driver against it: probe, negotiate, set up the queue, submit a
// request.
func Example() {
	m, err := virtiotest.NewMachine(32 << 20)
	if err != nil {
		panic(err)
	}
	defer m.Close()

	// The device's address space: IOVA pages at 256 GiB map to shuffled
	// guest pages from 16 MiB.
	as := virtiotest.NewPagePermutation(0x40_0000_0000, 16<<20, 1024, 1)
	tr, err := virtio.New(upper{}, virtio.Config{Memory: m.Mem, MSI: m.MSI, DMA: as})
	if err != nil {
		panic(err)
	}
	defer tr.Close()
	bdf := pci.BDF{Device: 3}
	if err := m.Seg.Add(bdf, tr); err != nil {
		panic(err)
	}

	drv, err := m.Probe(bdf, as, 0x40_0000_0000, 4<<20)
	if err != nil {
		panic(err)
	}
	f, err := drv.Init(^uint64(0))
	if err != nil {
		panic(err)
	}
	fmt.Println("features:", virtio.FeatureString(f))
	q, err := drv.SetupQueue(0, 0)
	if err != nil {
		panic(err)
	}
	drv.DriverOK()
	fmt.Println("status:", virtio.StatusString(drv.Status()))

	bufs := []virtiotest.Buf{{Data: []byte("hello, iommu")}, {Write: true, Len: 12}}
	n, err := q.Submit(bufs, false)
	if err != nil {
		panic(err)
	}
	out, _ := q.Contents(bufs[1])
	fmt.Printf("used %d bytes: %s\n", n, out)
	// Output:
	// features: INDIRECT_DESC|EVENT_IDX|VERSION_1|ACCESS_PLATFORM
	// status: ACKNOWLEDGE|DRIVER|FEATURES_OK|DRIVER_OK
	// used 12 bytes: HELLO, IOMMU
}
