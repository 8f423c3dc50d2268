package vmm

import (
	"fmt"
	"net"
	"strings"

	"github.com/govmm/govmm/devices/edu"
	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtioblk"
	"github.com/govmm/govmm/devices/virtioconsole"
	"github.com/govmm/govmm/devices/virtionet"
	"github.com/govmm/govmm/devices/virtiorng"
	"github.com/govmm/govmm/dma"
)

// DiskConfig is one virtio-blk disk.
type DiskConfig struct {
	// Path is a raw image file; its size in whole 512-byte sectors is the
	// disk's capacity.
	Path string
	// ReadOnly offers VIRTIO_BLK_F_RO and opens the image read-only.
	ReadOnly bool
	// IOMMU is the IOMMU the disk sits behind (iommu=vtd|virtio|none);
	// IOMMUDefault follows IOMMUConfig.Default.
	IOMMU IOMMUKind
}

// ParseDisk parses the --disk flag: PATH[,readonly][,iommu=vtd|virtio|none].
// Errors quote the flag's value and name the offending option; iommu=
// given twice is an error, since a device sits behind one IOMMU at most.
func ParseDisk(s string) (DiskConfig, error) {
	parts := strings.Split(s, ",")
	d := DiskConfig{Path: parts[0]}
	if d.Path == "" {
		return d, fmt.Errorf("--disk %q: want PATH[,readonly][,iommu=vtd|virtio|none]", s)
	}
	var opt iommuOption
	for _, o := range parts[1:] {
		switch v, isIOMMU := strings.CutPrefix(o, "iommu="); {
		case o == "readonly" || o == "ro":
			d.ReadOnly = true
		case isIOMMU:
			if err := opt.set(v); err != nil {
				return d, fmt.Errorf("--disk %q: %v", s, err)
			}
		default:
			return d, fmt.Errorf("--disk %q: unknown option %q (want readonly or iommu=vtd|virtio|none)", s, o)
		}
	}
	d.IOMMU = opt.kind
	return d, nil
}

// NetConfig is one virtio-net interface on a host tap device.
type NetConfig struct {
	// Tap is the name of the host tap interface (created if it does not
	// exist and the process may create it).
	Tap string
	// MAC is the guest's MAC address; nil derives a locally administered
	// one from the tap's name.
	MAC net.HardwareAddr
	// IOMMU is the IOMMU the interface sits behind
	// (iommu=vtd|virtio|none); IOMMUDefault follows IOMMUConfig.Default.
	IOMMU IOMMUKind
}

// ParseNet parses the --net flag:
// tap=NAME[,mac=XX:XX:XX:XX:XX:XX][,iommu=vtd|virtio|none]. Every option is
// key=value and may be given once.
func ParseNet(s string) (NetConfig, error) {
	var (
		n    NetConfig
		opt  iommuOption
		seen = map[string]bool{}
	)
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return n, fmt.Errorf("--net %q: want tap=NAME[,mac=MAC][,iommu=vtd|virtio|none]", s)
		}
		if seen[k] && k != "iommu" { // iommuOption explains its own repeat
			return n, fmt.Errorf("--net %q: option %q given twice", s, k)
		}
		seen[k] = true
		switch k {
		case "tap":
			n.Tap = v
		case "mac":
			m, err := net.ParseMAC(v)
			if err != nil || len(m) != 6 {
				return n, fmt.Errorf("--net %q: bad MAC %q", s, v)
			}
			n.MAC = m
		case "iommu":
			if err := opt.set(v); err != nil {
				return n, fmt.Errorf("--net %q: %v", s, err)
			}
		default:
			return n, fmt.Errorf("--net %q: unknown option %q", s, k)
		}
	}
	if n.Tap == "" || len(n.Tap) >= 16 {
		return n, fmt.Errorf("--net %q: tap=NAME is required (at most 15 characters)", s)
	}
	n.IOMMU = opt.kind
	return n, nil
}

// DeviceConfig is one extra PCI device of the --device flag.
type DeviceConfig struct {
	// Name is the device: "edu", the DMA test engine (PCI 1234:11e8).
	Name string
	// IOMMU is the IOMMU the device sits behind (iommu=vtd|virtio|none);
	// IOMMUDefault follows IOMMUConfig.Default.
	IOMMU IOMMUKind
}

// ParseDevice parses the --device flag: NAME[,iommu=vtd|virtio|none], where
// NAME is "edu".
func ParseDevice(s string) (DeviceConfig, error) {
	parts := strings.Split(s, ",")
	d := DeviceConfig{Name: parts[0]}
	if d.Name != "edu" {
		return d, fmt.Errorf("--device %q: unknown device %q (want edu)", s, d.Name)
	}
	var opt iommuOption
	for _, o := range parts[1:] {
		v, ok := strings.CutPrefix(o, "iommu=")
		if !ok {
			return d, fmt.Errorf("--device %q: unknown option %q (want iommu=vtd|virtio|none)", s, o)
		}
		if err := opt.set(v); err != nil {
			return d, fmt.Errorf("--device %q: %v", s, err)
		}
	}
	d.IOMMU = opt.kind
	return d, nil
}

// iommuOption collects the iommu= option of a device flag.
type iommuOption struct {
	kind  IOMMUKind
	given bool
}

// set parses one iommu= value. A second one is an error whatever its
// value: a device sits behind one IOMMU at most.
func (o *iommuOption) set(v string) error {
	k, err := ParseIOMMUKind(v)
	if err != nil {
		return err
	}
	if o.given {
		return fmt.Errorf("iommu= given twice (%s, then %s): a device sits behind one IOMMU at most", o.kind, k)
	}
	o.kind, o.given = k, true
	return nil
}

// addVirtio wraps dev in a modern virtio-pci transport at b, behind the
// IOMMU address space of b's requester ID when there is an IOMMU.
// as is nil for a device not behind an IOMMU (the transport then does not
// insist on VIRTIO_F_ACCESS_PLATFORM).
func (vm *VM) addVirtio(b pci.BDF, dev virtio.Device, name string, as iommuSpace) error {
	cfg := virtio.Config{
		Memory: vm.mem, MSI: msiSender{vmFd: vm.vmFd},
		IOEvents: ioEvents{vmFd: vm.vmFd}, Routes: vm.routes,
		OnError: func(err error) { vm.log.Warn(name, "err", err) },
	}
	if as != nil {
		cfg.DMA = as
	}
	t, err := virtio.New(dev, cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := vm.pci.Add(b, t); err != nil {
		t.Close()
		return fmt.Errorf("%s at %v: %w", name, b, err)
	}
	vm.closers = append(vm.closers, t.Close)
	return nil
}

// plannedDevice is one endpoint PCI device, its slot and its IOMMU.
type plannedDevice struct {
	bdf  pci.BDF
	kind string // "disk", "net", "console", "rng", "edu"
	idx  int    // index into Config.Disks, Config.Nets or Config.Devices
	// iommu is the IOMMU the device sits behind, resolved: IOMMUNone,
	// IOMMUVTD or IOMMUVirtio.
	iommu IOMMUKind
}

// planPCI places the endpoint devices of cfg from slot 3 on, in the order
// disks, nets, virtio console, rng, extra devices (slot 2 is the
// virtio-iommu's, 0 the host bridge's), and resolves the IOMMU each sits
// behind. A device naming an IOMMU the VM does not have is an error that
// names the device's flag (the first such device); the plan is then
// complete, with such devices behind no IOMMU. cfg has at most 29 endpoint devices (prepare checks).
func planPCI(cfg Config) ([]plannedDevice, error) {
	var (
		p     []plannedDevice
		first error
		slot  = uint8(3)
	)
	add := func(kind string, idx int, want IOMMUKind, flag string) {
		k, err := cfg.IOMMU.resolve(want)
		if err != nil {
			if first == nil {
				first = fmt.Errorf("%s: %w", flag, err)
			}
			k = IOMMUNone
		}
		p = append(p, plannedDevice{bdf: pci.BDF{Device: slot}, kind: kind, idx: idx, iommu: k})
		slot++
	}
	for i, d := range cfg.Disks {
		add("disk", i, d.IOMMU, "--disk "+d.Path)
	}
	for i, n := range cfg.Nets {
		add("net", i, n.IOMMU, "--net tap="+n.Tap)
	}
	if cfg.VirtioConsole {
		add("console", 0, IOMMUDefault, "--console virtio")
	}
	if cfg.RNG {
		add("rng", 0, IOMMUDefault, "--rng")
	}
	for i, d := range cfg.Devices {
		add(d.Name, i, d.IOMMU, "--device "+d.Name)
	}
	return p, first
}

// endpointsOf returns the slots of the planned devices behind k.
func endpointsOf(plan []plannedDevice, k IOMMUKind) []pci.BDF {
	var out []pci.BDF
	for _, d := range plan {
		if d.iommu == k {
			out = append(out, d.bdf)
		}
	}
	return out
}

// createPCIDevices adds the virtio-iommu (if configured) with the devices
// planned behind it as its endpoints, and every planned endpoint device,
// each in the address space of its IOMMU.
func (vm *VM) createPCIDevices() error {
	plan, err := planPCI(vm.cfg)
	if err != nil {
		return &ConfigError{Err: err}
	}
	if vm.cfg.IOMMU.Virtio != nil {
		if err := vm.createVirtioIOMMU(endpointsOf(plan, IOMMUVirtio)); err != nil {
			return err
		}
	}
	for _, d := range plan {
		as, err := vm.addressSpace(d)
		if err != nil {
			return err
		}
		if err := vm.createDevice(d, as); err != nil {
			return err
		}
	}
	return nil
}

func (vm *VM) createDevice(d plannedDevice, as iommuSpace) error {
	switch d.kind {
	case "disk":
		c := vm.cfg.Disks[d.idx]
		blk, err := virtioblk.Open(c.Path, virtioblk.Options{ReadOnly: c.ReadOnly, Serial: fmt.Sprintf("govmm-disk%d", d.idx)})
		if err != nil {
			return &ConfigError{Err: fmt.Errorf("--disk %s: %w", c.Path, err)}
		}
		vm.closers = append(vm.closers, blk.Close)
		return vm.addVirtio(d.bdf, blk, "virtio-blk", as)
	case "net":
		c := vm.cfg.Nets[d.idx]
		n, err := virtionet.Open(c.Tap, virtionet.Options{MAC: c.MAC})
		if err != nil {
			return &ConfigError{Err: fmt.Errorf("--net tap=%s: %w", c.Tap, err)}
		}
		vm.closers = append(vm.closers, n.Close)
		return vm.addVirtio(d.bdf, n, "virtio-net", as)
	case "console":
		c := virtioconsole.New(vm.cfg.Serial, vm.cfg.SerialInput)
		vm.closers = append(vm.closers, c.Close)
		return vm.addVirtio(d.bdf, c, "virtio-console", as)
	case "rng":
		return vm.addVirtio(d.bdf, virtiorng.New(), "virtio-rng", as)
	case "edu":
		var das dma.AddressSpace = dma.Identity{}
		if as != nil {
			das = as
		}
		e, err := edu.New(vm.mem, das, msiSender{vmFd: vm.vmFd})
		if err != nil {
			return fmt.Errorf("edu: %w", err)
		}
		if err := vm.pci.Add(d.bdf, e); err != nil {
			return fmt.Errorf("edu at %v: %w", d.bdf, err)
		}
		return nil
	}
	return fmt.Errorf("unknown device %q", d.kind)
}
