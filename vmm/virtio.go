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
}

// ParseDisk parses the --disk flag: PATH[,readonly].
func ParseDisk(s string) (DiskConfig, error) {
	parts := strings.Split(s, ",")
	d := DiskConfig{Path: parts[0]}
	if d.Path == "" {
		return d, fmt.Errorf("--disk %q: want PATH[,readonly]", s)
	}
	for _, o := range parts[1:] {
		switch o {
		case "readonly", "ro":
			d.ReadOnly = true
		default:
			return d, fmt.Errorf("--disk %q: unknown option %q (want readonly)", s, o)
		}
	}
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
}

// ParseNet parses the --net flag: tap=NAME[,mac=XX:XX:XX:XX:XX:XX].
func ParseNet(s string) (NetConfig, error) {
	var n NetConfig
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return n, fmt.Errorf("--net %q: want tap=NAME[,mac=MAC]", s)
		}
		switch k {
		case "tap":
			n.Tap = v
		case "mac":
			m, err := net.ParseMAC(v)
			if err != nil || len(m) != 6 {
				return n, fmt.Errorf("--net %q: bad MAC %q", s, v)
			}
			n.MAC = m
		default:
			return n, fmt.Errorf("--net %q: unknown option %q", s, k)
		}
	}
	if n.Tap == "" || len(n.Tap) >= 16 {
		return n, fmt.Errorf("--net %q: tap=NAME is required (at most 15 characters)", s)
	}
	return n, nil
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

// plannedDevice is one endpoint PCI device and its slot.
type plannedDevice struct {
	bdf  pci.BDF
	kind string // "disk", "rng", "edu"
	idx  int    // index into Config.Disks for disks
}

// planPCI places the endpoint devices from slot 3 on, in the order disks,
// rng, extra devices. (Slot 2 is the virtio-iommu's, 0 the host bridge.)
func (vm *VM) planPCI() []plannedDevice {
	var p []plannedDevice
	slot := uint8(3)
	add := func(kind string, idx int) {
		p = append(p, plannedDevice{bdf: pci.BDF{Device: slot}, kind: kind, idx: idx})
		slot++
	}
	for i := range vm.cfg.Disks {
		add("disk", i)
	}
	for i := range vm.cfg.Nets {
		add("net", i)
	}
	if vm.cfg.VirtioConsole {
		add("console", 0)
	}
	if vm.cfg.RNG {
		add("rng", 0)
	}
	for _, d := range vm.cfg.Devices {
		add(d, 0)
	}
	return p
}

// createPCIDevices adds the virtio-iommu (if configured) and every planned
// endpoint device, each behind the IOMMU address space of its requester ID.
func (vm *VM) createPCIDevices() error {
	plan := vm.planPCI()
	if vm.cfg.IOMMU.Kind == "virtio" {
		var eps []pci.BDF
		for _, d := range plan {
			eps = append(eps, d.bdf)
		}
		if err := vm.createVirtioIOMMU(eps); err != nil {
			return err
		}
	}
	for _, d := range plan {
		as, err := vm.addressSpace(d.bdf)
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
