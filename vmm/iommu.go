package vmm

import (
	"fmt"
	"math"
	"strings"

	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/virtioiommu"
	"github.com/govmm/govmm/devices/vtd"
	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/notifier"
	"github.com/govmm/govmm/notifier/eventlog"
	"github.com/govmm/govmm/vmm/acpi"
)

// IOMMUConfig selects the guest-visible IOMMU.
type IOMMUConfig struct {
	// Kind is "" (no IOMMU), "vtd" or "virtio".
	Kind string
	// VTD is the VT-d unit's configuration when Kind is "vtd".
	VTD vtd.Config
	// Virtio is the virtio-iommu's configuration when Kind is "virtio";
	// its Endpoints are filled in by the VMM.
	Virtio virtioiommu.Config
}

// viommuBDF is where the virtio-iommu sits: before every endpoint.
var viommuBDF = pci.BDF{Device: 2}

// ParseIOMMU parses the --iommu flag: "vtd[,OPTIONS]" where OPTIONS are
// those of vtd.ParseConfig (aw-bits=39|48, caching-mode=on|off,
// device-iotlb=on|off, pt=on|off), or "virtio[,OPTIONS]" with those of
// virtioiommu.ParseConfig (aw-bits=N, granule=4k|..., domain-range=A-B,
// bypass=on|off, max-mappings=N). The empty string means no IOMMU.
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
	case "virtio":
		c, err := virtioiommu.ParseConfig(opts)
		if err != nil {
			return IOMMUConfig{}, err
		}
		return IOMMUConfig{Kind: "virtio", Virtio: c}, nil
	}
	return IOMMUConfig{}, fmt.Errorf("unknown IOMMU %q: want vtd or virtio", kind)
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
	case "", "virtio": // the virtio-iommu is a PCI device: createPCIDevices
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
// It returns nil when the device is not behind an IOMMU.
func (vm *VM) addressSpace(b pci.BDF) (iommuSpace, error) {
	var (
		as    iommuSpace
		kinds = notifier.Unmap
	)
	switch {
	case vm.vtd != nil:
		as = vm.vtd.AddressSpace(b.RequesterID())
		if vm.cfg.IOMMU.VTD.CachingMode {
			kinds |= notifier.Map
		}
		if vm.cfg.IOMMU.VTD.DeviceIOTLB {
			kinds |= notifier.DevIOTLBUnmap
		}
	case vm.viommu != nil:
		s, err := vm.viommu.AddressSpace(uint32(b.RequesterID()))
		if err != nil {
			return nil, err
		}
		as, kinds = s, notifier.Map|notifier.Unmap
	default:
		return nil, nil
	}
	if vm.events != nil {
		if _, err := as.Register(vm.events, kinds, 0, math.MaxUint64); err != nil {
			return nil, fmt.Errorf("--iommu-events on %v: %w", b, err)
		}
	}
	return as, nil
}

// iommuSpace is a device address space of either IOMMU.
type iommuSpace interface {
	dma.AddressSpace
	Register(n notifier.Notifier, kinds notifier.Kind, first, last uint64) (notifier.Handle, error)
}

// createVirtioIOMMU adds the virtio-iommu at viommuBDF with the given
// endpoints. The IOMMU itself is not translated.
func (vm *VM) createVirtioIOMMU(endpoints []pci.BDF) error {
	cfg := vm.cfg.IOMMU.Virtio
	cfg.Endpoints = nil
	for _, b := range endpoints {
		cfg.Endpoints = append(cfg.Endpoints, uint32(b.RequesterID()))
	}
	d, err := virtioiommu.New(cfg, vm.mem)
	if err != nil {
		return &ConfigError{Err: fmt.Errorf("--iommu virtio: %w", err)}
	}
	d.SetErrorHook(func(err error) { vm.log.Warn("virtio-iommu", "err", err) })
	vm.viommu = d
	vm.viommuEndpoints = endpoints
	return vm.addVirtio(viommuBDF, d, "virtio-iommu", nil)
}

// viotConfig describes the virtio-iommu and its endpoints for the VIOT
// table: one PCI-range node per endpoint, endpoint ID = requester ID.
func (vm *VM) viotConfig() *acpi.VIOTConfig {
	if vm.viommu == nil || len(vm.viommuEndpoints) == 0 {
		return nil
	}
	c := &acpi.VIOTConfig{Segment: 0, BDF: viommuBDF.RequesterID()}
	for _, b := range vm.viommuEndpoints {
		rid := b.RequesterID()
		c.Ranges = append(c.Ranges, acpi.VIOTPCIRange{EndpointStart: uint32(rid), BDFStart: rid, BDFEnd: rid})
	}
	return c
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
