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

// IOMMUKind names one of the guest-visible IOMMUs, as the iommu= option of
// the device flags (--disk, --net, --device) does.
type IOMMUKind string

// IOMMU kinds.
const (
	// IOMMUDefault (no iommu= option) puts a device behind the VM's
	// default IOMMU; see IOMMUConfig.Default.
	IOMMUDefault IOMMUKind = ""
	// IOMMUNone puts a device behind no IOMMU: its DMA addresses are
	// guest-physical. The device is in no DRHD scope (the DMAR then has
	// no INCLUDE_PCI_ALL unit) and in no VIOT range, so Linux gives it no
	// IOMMU group and uses direct DMA for it.
	IOMMUNone IOMMUKind = "none"
	// IOMMUVTD is the emulated Intel VT-d unit (DMAR table).
	IOMMUVTD IOMMUKind = "vtd"
	// IOMMUVirtio is the virtio-iommu (VIOT table).
	IOMMUVirtio IOMMUKind = "virtio"
)

// ParseIOMMUKind parses the value of an iommu= device option: "vtd",
// "virtio" or "none". A value naming both IOMMUs ("vtd+virtio", "both")
// is refused with an error saying that a device sits behind one IOMMU at
// most; anything else is an error naming the value.
func ParseIOMMUKind(s string) (IOMMUKind, error) {
	switch k := IOMMUKind(s); k {
	case IOMMUVTD, IOMMUVirtio, IOMMUNone:
		return k, nil
	}
	if s == "both" || strings.Contains(s, string(IOMMUVTD)) && strings.Contains(s, string(IOMMUVirtio)) {
		return "", fmt.Errorf("iommu=%s: a device sits behind one IOMMU at most (want vtd, virtio or none)", s)
	}
	return "", fmt.Errorf("iommu=%q: want vtd, virtio or none", s)
}

// IOMMUConfig selects the guest-visible IOMMUs: none, the VT-d unit, the
// virtio-iommu, or both. Each PCI endpoint sits behind at most one of them,
// as its iommu= option says (DiskConfig.IOMMU, NetConfig.IOMMU,
// DeviceConfig.IOMMU); devices without one sit behind Default().
//
// The guest learns the split from its ACPI tables. The DMAR (VT-d spec
// §8.3) has one DRHD at vtd.RegisterBase: with INCLUDE_PCI_ALL when VT-d
// serves every PCI function (no virtio-iommu, no iommu=none device), and
// otherwise with one PCI endpoint Device Scope (type 1, bus 0, path
// device.function; §8.3.1) per function it serves, so that no device is
// claimed twice. The VIOT (ACPI 6.6 §5.2.33) has the virtio-iommu at
// 00:02.0 and one PCI-range node per function it serves. Linux 6.12 (since
// 6.8, when the IOMMU core stopped keeping one driver per bus) probes each
// device with the driver whose table names it; Linux 6.1 allows one IOMMU
// driver on the PCI bus, so its virtio-iommu fails to register (EBUSY)
// when VT-d is enabled.
type IOMMUConfig struct {
	// VTD, when not nil, adds the VT-d unit with this configuration
	// (--iommu vtd[,...]).
	VTD *vtd.Config
	// Virtio, when not nil, adds the virtio-iommu with this configuration
	// (--iommu virtio[,...]); its Endpoints are filled in by the VMM.
	Virtio *virtioiommu.Config
}

// Enabled reports whether the VM has an IOMMU.
func (c IOMMUConfig) Enabled() bool { return c.VTD != nil || c.Virtio != nil }

// Has reports whether a device can sit behind k: true for a configured
// IOMMUVTD or IOMMUVirtio, always for IOMMUNone, and false otherwise.
func (c IOMMUConfig) Has(k IOMMUKind) bool {
	switch k {
	case IOMMUVTD:
		return c.VTD != nil
	case IOMMUVirtio:
		return c.Virtio != nil
	case IOMMUNone:
		return true
	}
	return false
}

// Default returns the IOMMU a device without an iommu= option sits
// behind: the only one configured, IOMMUVTD when both are (the unit Linux
// enables at boot, with no module to load, so such devices work whether
// or not the guest loads virtio_iommu), and IOMMUNone when there is none.
// The virtio console and the rng, which take no options, follow it too.
func (c IOMMUConfig) Default() IOMMUKind {
	switch {
	case c.VTD != nil:
		return IOMMUVTD
	case c.Virtio != nil:
		return IOMMUVirtio
	}
	return IOMMUNone
}

// resolve returns the IOMMU a device asking for k sits behind: k itself,
// or Default() for IOMMUDefault. Naming an IOMMU the VM does not have is
// an error.
func (c IOMMUConfig) resolve(k IOMMUKind) (IOMMUKind, error) {
	if k == IOMMUDefault {
		return c.Default(), nil
	}
	if _, err := ParseIOMMUKind(string(k)); err != nil {
		return "", err
	}
	if !c.Has(k) {
		return "", fmt.Errorf("iommu=%s, but the VM has no such IOMMU (add --iommu %s)", k, k)
	}
	return k, nil
}

// ParseIOMMU parses the values of the --iommu flags, one per IOMMU:
// "vtd[,OPTIONS]" with the options of vtd.ParseConfig (aw-bits=39|48,
// caching-mode=on|off, device-iotlb=on|off, pt=on|off), and
// "virtio[,OPTIONS]" with those of virtioiommu.ParseConfig (aw-bits=N,
// granule=4k|..., domain-range=A-B, bypass=on|off, max-mappings=N). Each
// kind may be given once; no value means no IOMMU. Errors name the
// offending value.
func ParseIOMMU(values ...string) (IOMMUConfig, error) {
	var c IOMMUConfig
	given := map[IOMMUKind]string{}
	for _, v := range values {
		kind, opts, _ := strings.Cut(v, ",")
		k := IOMMUKind(kind)
		if k == IOMMUVTD || k == IOMMUVirtio {
			if prev, dup := given[k]; dup {
				return IOMMUConfig{}, fmt.Errorf("%s given twice (%q and %q): a VM has one IOMMU of each kind", k, prev, v)
			}
			given[k] = v
		}
		switch k {
		case IOMMUVTD:
			vc, err := vtd.ParseConfig(opts)
			if err != nil {
				return IOMMUConfig{}, err
			}
			c.VTD = &vc
		case IOMMUVirtio:
			vc, err := virtioiommu.ParseConfig(opts)
			if err != nil {
				return IOMMUConfig{}, err
			}
			c.Virtio = &vc
		default:
			return IOMMUConfig{}, fmt.Errorf("unknown IOMMU %q: want vtd or virtio", kind)
		}
	}
	return c, nil
}

// createIOMMU creates the VT-d unit, if configured, maps its registers and
// opens the event log. (The virtio-iommu is a PCI device: see
// createPCIDevices.)
func (vm *VM) createIOMMU() error {
	if vm.cfg.IOMMUEvents != "" {
		l, err := eventlog.Create(vm.cfg.IOMMUEvents)
		if err != nil {
			return fmt.Errorf("--iommu-events: %w", err)
		}
		vm.events = l
	}
	c := vm.cfg.IOMMU.VTD
	if c == nil {
		return nil
	}
	u, err := vtd.New(*c, vm.mem, msiSender{vmFd: vm.vmFd})
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

// addressSpace returns the DMA address space of the planned device d in
// the IOMMU it sits behind, with the event log attached. It returns nil
// for a device behind no IOMMU.
func (vm *VM) addressSpace(d plannedDevice) (iommuSpace, error) {
	var (
		as    iommuSpace
		kinds = notifier.Unmap
		rid   = d.bdf.RequesterID()
	)
	switch {
	case d.iommu == IOMMUVTD && vm.vtd != nil:
		as = vm.vtd.AddressSpace(rid)
		if vm.cfg.IOMMU.VTD.CachingMode {
			kinds |= notifier.Map
		}
		if vm.cfg.IOMMU.VTD.DeviceIOTLB {
			kinds |= notifier.DevIOTLBUnmap
		}
	case d.iommu == IOMMUVirtio && vm.viommu != nil:
		s, err := vm.viommu.AddressSpace(uint32(rid))
		if err != nil {
			return nil, err
		}
		as, kinds = s, notifier.Map|notifier.Unmap
	case d.iommu == IOMMUVTD, d.iommu == IOMMUVirtio:
		return nil, fmt.Errorf("%v is planned behind the %s IOMMU, which was not created", d.bdf, d.iommu)
	default:
		return nil, nil
	}
	if vm.events != nil {
		if _, err := as.Register(vm.events, kinds, 0, math.MaxUint64); err != nil {
			return nil, fmt.Errorf("--iommu-events on %v: %w", d.bdf, err)
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
	cfg := *vm.cfg.IOMMU.Virtio
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

// viommuBDF is where the virtio-iommu sits: before every endpoint.
var viommuBDF = pci.BDF{Device: 2}

// viotConfig describes the virtio-iommu and its endpoints for the VIOT
// table.
func (vm *VM) viotConfig() *acpi.VIOTConfig {
	if vm.viommu == nil {
		return nil
	}
	return viotConfig(vm.viommuEndpoints)
}

// viotConfig returns the VIOT for a virtio-iommu at viommuBDF serving
// endpoints: one PCI-range node per endpoint, endpoint ID = requester ID
// (ACPI 6.6 §5.2.33.2). It returns nil for no endpoint: a VIOT without
// ranges would describe an IOMMU that translates nothing.
func viotConfig(endpoints []pci.BDF) *acpi.VIOTConfig {
	if len(endpoints) == 0 {
		return nil
	}
	c := &acpi.VIOTConfig{Segment: 0, BDF: viommuBDF.RequesterID()}
	for _, b := range endpoints {
		rid := b.RequesterID()
		c.Ranges = append(c.Ranges, acpi.VIOTPCIRange{EndpointStart: uint32(rid), BDFStart: rid, BDFEnd: rid})
	}
	return c
}

// dmarConfig describes the VT-d unit to the ACPI builder.
func (vm *VM) dmarConfig() *acpi.DMARConfig {
	if vm.vtd == nil {
		return nil
	}
	// prepare and createPCIDevices have run planPCI on this Config
	// already and stopped at its error, so there is none here.
	plan, _ := planPCI(vm.cfg)
	return dmarConfig(vm.cfg.IOMMU, plan)
}

// dmarConfig returns the DMAR for c's VT-d unit (nil without one): one DRHD
// for segment 0 at vtd.RegisterBase (VT-d spec §8.3). The DRHD has
// INCLUDE_PCI_ALL when the unit serves every PCI function of the segment:
// no virtio-iommu and every planned device behind VT-d. Otherwise it lists
// a PCI endpoint Device Scope (§8.3.1) for each planned device behind
// VT-d, in slot order, and nothing else: the virtio-iommu, its endpoints
// and iommu=none devices stay outside.
func dmarConfig(c IOMMUConfig, plan []plannedDevice) *acpi.DMARConfig {
	if c.VTD == nil {
		return nil
	}
	u := acpi.DRHD{Segment: 0, RegisterBase: vtd.RegisterBase, IncludePCIAll: c.Virtio == nil}
	for _, d := range plan {
		if d.iommu != IOMMUVTD {
			u.IncludePCIAll = false
		}
	}
	if !u.IncludePCIAll {
		for _, d := range plan {
			if d.iommu == IOMMUVTD {
				u.Scopes = append(u.Scopes, acpi.PCIEndpointScope(d.bdf.Bus, d.bdf.Device, d.bdf.Function))
			}
		}
	}
	return &acpi.DMARConfig{HostAddressWidth: uint8(c.VTD.HAW()), Units: []acpi.DRHD{u}}
}
