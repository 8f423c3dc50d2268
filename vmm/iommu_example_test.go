package vmm_test

import (
	"fmt"

	"github.com/govmm/govmm/vmm"
)

// Two IOMMUs in one VM: each device picks one with iommu=, devices without
// the option sit behind VT-d, and iommu=none keeps a device untranslated.
func ExampleParseIOMMU() {
	iommus, err := vmm.ParseIOMMU("vtd,aw-bits=39", "virtio")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("VT-d aw-bits:", iommus.VTD.AWBits, "virtio-iommu:", iommus.Virtio != nil)
	fmt.Println("default:", iommus.Default())
	for _, flag := range []string{"vda.img,iommu=vtd", "vdb.img,readonly,iommu=virtio", "vdc.img", "vdd.img,iommu=none"} {
		d, err := vmm.ParseDisk(flag)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: iommu=%q\n", d.Path, d.IOMMU)
	}
	_, err = vmm.ParseDisk("vde.img,iommu=vtd,iommu=virtio")
	fmt.Println(err)
	_, err = vmm.ParseIOMMU("vtd", "vtd,pt=off")
	fmt.Println(err)
	// Output:
	// VT-d aw-bits: 39 virtio-iommu: true
	// default: vtd
	// vda.img: iommu="vtd"
	// vdb.img: iommu="virtio"
	// vdc.img: iommu=""
	// vdd.img: iommu="none"
	// --disk "vde.img,iommu=vtd,iommu=virtio": iommu= given twice (vtd, then virtio): a device sits behind one IOMMU at most
	// vtd given twice ("vtd" and "vtd,pt=off"): a VM has one IOMMU of each kind
}
