package virtioiommu_test

import (
	"fmt"
	"math"

	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/devices/virtioiommu"
	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/notifier"
)

// A VMM builds the device from the --iommu options, wraps it in a virtio
// PCI transport (not behind itself: no DMA address space), and gives each
// endpoint's device model the endpoint's address space. Until the guest's
// driver attaches an endpoint, the endpoint is in bypass mode.
func Example() {
	m, err := virtiotest.NewMachine(16 << 20) // guest RAM, PCI segment, MSI
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()

	iommuBDF, blkBDF := pci.BDF{Device: 2}, pci.BDF{Device: 3}
	cfg, err := virtioiommu.ParseConfig("aw-bits=39,granule=4k")
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg.Endpoints = []uint32{uint32(blkBDF.RequesterID())}
	iommu, err := virtioiommu.New(cfg, m.Mem)
	if err != nil {
		fmt.Println(err)
		return
	}
	tr, err := virtio.New(iommu, virtio.Config{Memory: m.Mem, MSI: m.MSI})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close()
	if err := m.Seg.Add(iommuBDF, tr); err != nil {
		fmt.Println(err)
		return
	}

	as, err := iommu.AddressSpace(uint32(blkBDF.RequesterID()))
	if err != nil {
		fmt.Println(err)
		return
	}
	// as is the virtio.Config.DMA of the block device's transport.
	gpa, n, err := as.Translate(0x10000, 0x200, dma.Write)
	fmt.Printf("%v: %#x -> %#x (%#x bytes), err %v\n", as, uint64(0x10000), gpa, n, err)
	fmt.Printf("PCI ID %04x:%04x, endpoints %#x\n", virtio.PCIVendorID, iommu.Type().PCIDeviceID(), cfg.Endpoints)

	_, err = iommu.AddressSpace(0x20)
	fmt.Println(err)
	// Output:
	// virtio-iommu endpoint 0x18: 0x10000 -> 0x10000 (0x200 bytes), err <nil>
	// PCI ID 1af4:1057, endpoints [0x18]
	// virtioiommu: no such endpoint: 0x20
}

// A host consumer registered for Map is first told what the endpoint can
// reach: here, unattached in bypass mode, the identity over guest RAM.
// From then on it follows every MAP, UNMAP, ATTACH and DETACH the guest
// sends.
func ExampleAddressSpace_Register() {
	m, err := virtiotest.NewMachine(16 << 20)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	cfg := virtioiommu.DefaultConfig()
	cfg.Endpoints = []uint32{0x18}
	iommu, err := virtioiommu.New(cfg, m.Mem)
	if err != nil {
		fmt.Println(err)
		return
	}
	as, _ := iommu.AddressSpace(0x18)
	consumer := notifier.Func(func(ev notifier.Event) error {
		fmt.Println(ev)
		return nil
	})
	if _, err := as.Register(consumer, notifier.Map|notifier.Unmap, 0, math.MaxUint64); err != nil {
		fmt.Println(err)
	}
	// Output:
	// map SID 0x18 IOVA [0x0, 0xffffff] -> 0x0 rw
}

func ExampleParseConfig() {
	cfg, err := virtioiommu.ParseConfig("aw-bits=39,granule=4k,domain-range=1-1023")
	if err != nil {
		fmt.Println(err)
		return
	}
	r := cfg.InputRange()
	fmt.Printf("page_size_mask %#x, granule %#x, input_range [%#x, %#x], domains %d-%d, bypass %v\n",
		cfg.PageSizeMask, cfg.Granule(), r.First, r.Last, cfg.DomainRange[0], cfg.DomainRange[1], cfg.BypassDefault)
	_, err = virtioiommu.ParseConfig("granule=3k")
	fmt.Println(err)
	// Output:
	// page_size_mask 0x40201000, granule 0x1000, input_range [0x0, 0x7fffffffff], domains 1-1023, bypass true
	// virtioiommu: invalid configuration: granule="3k", want a power of two from 4k to 1g
}
