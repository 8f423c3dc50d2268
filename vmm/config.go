package vmm

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Config describes one VM.
type Config struct {
	// Kernel is the path of a bzImage or a PVH-capable ELF vmlinux.
	Kernel string
	// Initrd is the path of an initramfs; empty for none.
	Initrd string
	// Cmdline is the kernel command line.
	Cmdline string
	// Memory is the guest RAM size in bytes (a multiple of 4 KiB).
	Memory uint64
	// CPUs is the number of vCPUs, 1 to MaxCPUs.
	CPUs int
	// Serial receives the COM1 console output; nil discards it.
	Serial io.Writer
	// SerialInput, if not nil, is read for console input.
	SerialInput io.Reader
	// Logger receives the VMM's diagnostics; nil uses slog.Default().
	Logger *slog.Logger
	// KVMPath is the KVM device; empty means /dev/kvm.
	KVMPath string
	// IOMMU selects the guest-visible IOMMUs: VT-d, virtio-iommu, both or
	// none. Each PCI device sits behind the one its IOMMU field names, or
	// behind IOMMU.Default(); the virtio console and the rng always
	// follow the default.
	IOMMU IOMMUConfig
	// IOMMUEvents, if not empty, is a file that receives every notifier
	// event of every device address space of every IOMMU as JSON lines.
	IOMMUEvents string
	// Devices are extra PCI devices: "edu" (the DMA test device).
	Devices []DeviceConfig
	// Disks are virtio-blk disks, in PCI slot order.
	Disks []DiskConfig
	// RNG adds a virtio-rng device.
	RNG bool
	// Nets are virtio-net interfaces on host taps.
	Nets []NetConfig
	// VirtioConsole adds a virtio-console (the guest's hvc0) that takes
	// the console input and writes to Serial as well; the guest then wants
	// console=hvc0. COM1 stays for early boot messages.
	VirtioConsole bool
}

// Limits on a Config.
const (
	MaxCPUs   = 255
	MinMemory = 64 * MiB
)

// ConfigError is a problem with the configuration or the files it names,
// found before any VM is created. Commands report it as a usage error.
type ConfigError struct{ Err error }

// Error describes the failure, naming the offending address or value.
func (e *ConfigError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *ConfigError) Unwrap() error { return e.Err }

func configErr(format string, args ...any) error {
	return &ConfigError{Err: fmt.Errorf(format, args...)}
}

// ParseSize parses a memory size such as "512M", "1G", "1536MiB" or a plain
// number of bytes.
func ParseSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	mult := uint64(1)
	low := strings.ToLower(t)
	for _, u := range []struct {
		suffix string
		mult   uint64
	}{{"kib", KiB}, {"mib", MiB}, {"gib", GiB}, {"k", KiB}, {"m", MiB}, {"g", GiB}} {
		if strings.HasSuffix(low, u.suffix) {
			mult = u.mult
			t = t[:len(t)-len(u.suffix)]
			break
		}
	}
	n, err := strconv.ParseUint(t, 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("bad size %q: want a positive number with an optional K, M or G suffix", s)
	}
	if n > (1<<64-1)/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}

// hostMemory returns the host's total RAM in bytes.
func hostMemory() uint64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}

// prepared is a validated Config with its files read.
type prepared struct {
	cfg    Config
	kernel *Kernel
	initrd []byte
	layout Layout
}

// prepare validates cfg and reads its files. Every error is a *ConfigError.
func prepare(cfg Config) (*prepared, error) {
	if cfg.CPUs < 1 || cfg.CPUs > MaxCPUs {
		return nil, configErr("--cpus %d: must be between 1 and %d", cfg.CPUs, MaxCPUs)
	}
	if cfg.Memory < MinMemory {
		return nil, configErr("--memory %d MiB: at least %d MiB are needed", cfg.Memory>>20, MinMemory>>20)
	}
	if cfg.Memory%(4*KiB) != 0 {
		return nil, configErr("--memory %d: must be a multiple of 4 KiB", cfg.Memory)
	}
	if hm := hostMemory(); hm != 0 && cfg.Memory > hm {
		return nil, configErr("--memory %d MiB is more than the host's %d MiB", cfg.Memory>>20, hm>>20)
	}
	if err := checkDevices(cfg); err != nil {
		return nil, err
	}
	if cfg.Kernel == "" {
		return nil, configErr("--kernel is required")
	}
	k, err := LoadKernel(cfg.Kernel)
	if err != nil {
		return nil, &ConfigError{Err: fmt.Errorf("--kernel %s: %w", cfg.Kernel, err)}
	}
	if len(cfg.Cmdline) > k.maxCmdline() {
		return nil, configErr("--cmdline is %d bytes; the kernel accepts at most %d", len(cfg.Cmdline), k.maxCmdline())
	}
	l, err := NewLayout(cfg.Memory)
	if err != nil {
		return nil, &ConfigError{Err: err}
	}
	for _, d := range cfg.Disks {
		if _, err := os.Stat(d.Path); err != nil {
			return nil, configErr("--disk: %v", err)
		}
	}
	p := &prepared{cfg: cfg, kernel: k, layout: l}
	if cfg.Initrd != "" {
		p.initrd, err = os.ReadFile(cfg.Initrd)
		if err != nil {
			return nil, configErr("--initrd: %v", err)
		}
		if len(p.initrd) == 0 {
			return nil, configErr("--initrd %s is empty", cfg.Initrd)
		}
		if _, err := k.initrdPlacement(l, uint64(len(p.initrd))); err != nil {
			return nil, configErr("--initrd %s: %v", cfg.Initrd, err)
		}
	}
	return p, nil
}

// checkDevices checks the IOMMUs and the PCI devices of cfg, which need no
// file: the VT-d options, the number of devices, and that every device
// names an IOMMU the VM has (see planPCI). Every error is a *ConfigError.
func checkDevices(cfg Config) error {
	if c := cfg.IOMMU.VTD; c != nil {
		if err := c.Validate(); err != nil {
			return configErr("--iommu vtd: %v", err)
		}
	}
	if cfg.IOMMUEvents != "" && !cfg.IOMMU.Enabled() {
		return configErr("--iommu-events needs an --iommu")
	}
	for _, d := range cfg.Devices {
		if d.Name != "edu" {
			return configErr("--device %q: want edu", d.Name)
		}
	}
	if n := len(cfg.Disks) + len(cfg.Nets) + len(cfg.Devices) + 2; n > 29 {
		return configErr("%d PCI devices do not fit in slots 3-31 of bus 0", n)
	}
	if _, err := planPCI(cfg); err != nil {
		return &ConfigError{Err: err}
	}
	return nil
}

// IsConfigError reports whether err is a configuration error.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}
