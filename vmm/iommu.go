package vmm

import (
	"fmt"
	"math"
	"strings"

	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/vtd"
	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/notifier"
	"github.com/govmm/govmm/notifier/eventlog"
	"github.com/govmm/govmm/vmm/acpi"
)

// IOMMUConfig selects the guest-visible IOMMU.
type IOMMUConfig struct {
	// Kind is "" (no IOMMU) or "vtd".
	Kind string
	// VTD is the VT-d unit's configuration when Kind is "vtd".
	VTD vtd.Config
}

// ParseIOMMU parses the --iommu flag: "vtd" or "vtd,OPTIONS" where OPTIONS
// are those of vtd.ParseConfig (aw-bits=39|48, caching-mode=on|off,
// device-iotlb=on|off, pt=on|off). The empty string means no IOMMU.
func ParseIOMMU(s string) (IOMMUConfig, error) {
	if s == "" {
		return IOMMUConfig{}, nil
	}
	kind, opts, _ := strings.Cut(s, ",")
	switch kind {
	case "vtd":
		c, err := vtd.ParseConfig(opts)
		if err != nil {
			return IOMMUConfig{}, err
		}
		return IOMMUConfig{Kind: "vtd", VTD: c}, nil
	}
	return IOMMUConfig{}, fmt.Errorf("unknown IOMMU %q: want vtd", kind)
}

// createIOMMU creates the configured IOMMU, maps its registers and opens the
// event log.
func (vm *VM) createIOMMU() error {
	if vm.cfg.IOMMUEvents != "" {
		l, err := eventlog.Create(vm.cfg.IOMMUEvents)
		if err != nil {
			return fmt.Errorf("--iommu-events: %w", err)
		}
		vm.events = l
	}
	switch vm.cfg.IOMMU.Kind {
	case "":
		return nil
	case "vtd":
		u, err := vtd.New(vm.cfg.IOMMU.VTD, vm.mem, msiSender{vmFd: vm.vmFd})
		if err != nil {
			return fmt.Errorf("VT-d: %w", err)
		}
		u.SetErrorHook(func(err error) { vm.log.Warn("VT-d", "err", err) })
		if err := vm.mmio.Insert(vtd.RegisterBase, vtd.RegisterWindowSize, u); err != nil {
			return err
		}
		vm.vtd = u
		return nil
	}
	return fmt.Errorf("unknown IOMMU %q", vm.cfg.IOMMU.Kind)
}

// addressSpace returns the DMA address space of the PCI function at b and
// attaches the event log to it.
func (vm *VM) addressSpace(b pci.BDF) (dma.AddressSpace, error) {
	if vm.vtd == nil {
		return dma.Identity{}, nil
	}
	as := vm.vtd.AddressSpace(b.RequesterID())
	if vm.events != nil {
		kinds := notifier.Unmap
		if vm.cfg.IOMMU.VTD.CachingMode {
			kinds |= notifier.Map
		}
		if vm.cfg.IOMMU.VTD.DeviceIOTLB {
			kinds |= notifier.DevIOTLBUnmap
		}
		if _, err := as.Register(vm.events, kinds, 0, math.MaxUint64); err != nil {
			return nil, fmt.Errorf("--iommu-events on %v: %w", b, err)
		}
	}
	return as, nil
}

// dmarConfig describes the VT-d unit to the ACPI builder: one DRHD with
// INCLUDE_PCI_ALL for segment 0.
func (vm *VM) dmarConfig() *acpi.DMARConfig {
	if vm.vtd == nil {
		return nil
	}
	return &acpi.DMARConfig{
		HostAddressWidth: uint8(vm.cfg.IOMMU.VTD.HAW()),
		Units: []acpi.DRHD{{
			Segment: 0, RegisterBase: vtd.RegisterBase, IncludePCIAll: true,
		}},
	}
}
