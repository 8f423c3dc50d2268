package virtiorng_test

import (
	"fmt"

	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/devices/virtiorng"
	"github.com/govmm/govmm/dma"
)

// Example attaches an entropy device and lets the driver ask for 32
// random bytes, as Linux's virtio-rng hwrng does.
func Example() {
	m, _ := virtiotest.NewMachine(32 << 20)
	defer m.Close()
	tr, err := virtio.New(virtiorng.New(), virtio.Config{Memory: m.Mem, MSI: m.MSI})
	if err != nil {
		panic(err)
	}
	defer tr.Close()
	bdf := pci.BDF{Device: 6}
	if err := m.Seg.Add(bdf, tr); err != nil {
		panic(err)
	}
	drv, _ := m.Probe(bdf, dma.Identity{}, 16<<20, 1<<20)
	if _, err := drv.Init(^uint64(0)); err != nil {
		panic(err)
	}
	q, _ := drv.SetupQueue(0, 0)
	drv.DriverOK()
	n, err := q.Submit([]virtiotest.Buf{{Write: true, Len: 32}}, false)
	fmt.Println("random bytes:", n, err)
	// Output:
	// random bytes: 32 <nil>
}
