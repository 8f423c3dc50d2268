// Package vmm assembles a virtual machine on KVM: guest RAM and its layout,
// the port-I/O and MMIO buses, vCPU threads, interrupt routing, the legacy
// platform devices, ACPI tables, PCI, and the boot of a Linux kernel
// (64-bit boot protocol from a bzImage, or PVH from an ELF vmlinux).
//
// Device models never import this package: they receive memory, buses,
// interrupt senders and address spaces as the small interfaces of the
// memory, dma, devices/bus and devices/irq packages.
package vmm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/bobuhiro11/gokvm/kvm"
	"github.com/govmm/govmm/devices/bus"
	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/rtc"
	"github.com/govmm/govmm/devices/serial"
	"github.com/govmm/govmm/devices/virtioiommu"
	"github.com/govmm/govmm/devices/vtd"
	"github.com/govmm/govmm/memory"
	"github.com/govmm/govmm/notifier/eventlog"
	"golang.org/x/sys/unix"
)

// ExitReason says how a VM ended.
type ExitReason int

// Exit reasons.
const (
	// ExitPowerOff: the guest powered the machine off (ACPI S5).
	ExitPowerOff ExitReason = iota + 1
	// ExitReset: the guest reset the machine (0xCF9, the keyboard
	// controller, or the ACPI reset register). Like QEMU's -no-reboot, the
	// VM then ends rather than restarting.
	ExitReset
	// ExitError: the guest or the VMM failed; Run's error says why.
	ExitError
	// ExitStopped: the VM was stopped from outside (context cancelled).
	ExitStopped
)

// String returns a short human-readable form of the value.
func (r ExitReason) String() string {
	switch r {
	case ExitPowerOff:
		return "power off"
	case ExitReset:
		return "reset"
	case ExitError:
		return "error"
	case ExitStopped:
		return "stopped"
	}
	return "unknown"
}

// VM is a configured virtual machine, ready to Run once.
type VM struct {
	cfg    Config
	log    *slog.Logger
	kvmFd  uintptr
	vmFd   uintptr
	mem    *memory.Memory
	ram    [][]byte // host mappings backing mem
	pio    bus.Bus
	mmio   bus.Bus
	vcpus  []*vcpu
	uart   *serial.UART
	pci    *pci.Segment
	routes *gsiRouter
	vtd    *vtd.Unit
	viommu *virtioiommu.Device
	// viommuEndpoints are the functions behind the virtio-iommu.
	viommuEndpoints []pci.BDF
	events          *eventlog.Log
	// closers release device resources (transports first, then back ends).
	closers []func() error
	boot    *bootImage
	layout  Layout

	stopped  atomic.Bool
	stopOnce sync.Once
	reason   ExitReason
	err      error
	done     chan struct{}

	unhandledMu sync.Mutex
	unhandled   map[uint64]bool
}

// New validates cfg, reads the kernel and initrd, and creates the VM. A
// problem with cfg or its files is a *ConfigError and is found before
// /dev/kvm is opened.
func New(cfg Config) (*VM, error) {
	p, err := prepare(cfg)
	if err != nil {
		return nil, err
	}
	vm := &VM{cfg: cfg, log: cfg.Logger, layout: p.layout, done: make(chan struct{}), unhandled: map[uint64]bool{}}
	if vm.log == nil {
		vm.log = slog.Default()
	}
	if err := vm.create(p); err != nil {
		vm.Close()
		return nil, err
	}
	return vm, nil
}

func (vm *VM) create(p *prepared) error {
	path := vm.cfg.KVMPath
	if path == "" {
		path = "/dev/kvm"
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	vm.kvmFd = uintptr(fd)
	for _, c := range []struct {
		cap  uintptr
		name string
	}{{capIRQChip, "IRQCHIP"}, {capUserMemory, "USER_MEMORY"}, {capSetTSSAddr, "SET_TSS_ADDR"},
		{capIRQRouting, "IRQ_ROUTING"}, {capIRQFD, "IRQFD"}, {capIOEventFD, "IOEVENTFD"},
		{capSignalMSI, "SIGNAL_MSI"}, {capImmediateExit, "IMMEDIATE_EXIT"}} {
		if checkExtension(vm.kvmFd, c.cap) == 0 {
			return fmt.Errorf("KVM lacks KVM_CAP_%s", c.name)
		}
	}
	vmFd, err := kvm.CreateVM(vm.kvmFd)
	if err != nil {
		return fmt.Errorf("KVM_CREATE_VM: %w", err)
	}
	vm.vmFd = vmFd
	if err := kvm.SetTSSAddr(vm.vmFd, tssAddr); err != nil {
		return fmt.Errorf("KVM_SET_TSS_ADDR: %w", err)
	}
	if err := kvm.SetIdentityMapAddr(vm.vmFd, identityMapAddr); err != nil {
		return fmt.Errorf("KVM_SET_IDENTITY_MAP_ADDR: %w", err)
	}
	if err := kvm.CreateIRQChip(vm.vmFd); err != nil {
		return fmt.Errorf("KVM_CREATE_IRQCHIP: %w", err)
	}
	if err := kvm.CreatePIT2(vm.vmFd); err != nil {
		return fmt.Errorf("KVM_CREATE_PIT2: %w", err)
	}
	if vm.routes, err = newGSIRouter(vm.vmFd); err != nil {
		return err
	}
	if err := vm.createMemory(); err != nil {
		return err
	}
	if err := vm.createIOMMU(); err != nil {
		return err
	}
	if err := vm.createDevices(); err != nil {
		return err
	}
	rsdp, err := vm.writeACPI()
	if err != nil {
		return fmt.Errorf("ACPI tables: %w", err)
	}
	if err := vm.createVCPUs(); err != nil {
		return err
	}
	vm.boot = &bootImage{kernel: p.kernel, initrd: p.initrd, cmdline: vm.cfg.Cmdline, rsdp: rsdp, layout: p.layout}
	if err := vm.boot.load(vm.mem, vm.vcpus[0].fd); err != nil {
		return fmt.Errorf("loading the kernel: %w", err)
	}
	return nil
}

// createMemory maps guest RAM and registers it with KVM as one slot per
// region.
func (vm *VM) createMemory() error {
	var regions []memory.Region
	add := func(gpa, size uint64) error {
		if size == 0 {
			return nil
		}
		b, err := mapRAM(size)
		if err != nil {
			return err
		}
		vm.ram = append(vm.ram, b)
		slot := &kvm.UserspaceMemoryRegion{
			Slot: uint32(len(regions)), GuestPhysAddr: gpa, MemorySize: size,
			UserspaceAddr: uint64(uintptrOf(b)),
		}
		if err := kvm.SetUserMemoryRegion(vm.vmFd, slot); err != nil {
			return fmt.Errorf("KVM_SET_USER_MEMORY_REGION [%#x, +%#x): %w", gpa, size, err)
		}
		regions = append(regions, memory.Region{GPA: gpa, Data: b})
		return nil
	}
	if err := add(0, vm.layout.LowRAM); err != nil {
		return err
	}
	if err := add(highRAMBase, vm.layout.HighRAM); err != nil {
		return err
	}
	m, err := memory.New(regions...)
	if err != nil {
		return err
	}
	vm.mem = m
	return nil
}

// createDevices puts the legacy platform devices on the buses.
func (vm *VM) createDevices() error {
	out := vm.cfg.Serial
	vm.uart = serial.New(out, gsiLine{vmFd: vm.vmFd, gsi: serial.COM1IRQ})
	for _, d := range []struct {
		base, size uint64
		h          bus.Handler
	}{
		{serial.COM1Port, serial.Size, vm.uart},
		{rtc.Port, rtc.Size, rtc.New(nil)},
		{i8042CommandPort, 1, i8042Port{vm}},
	} {
		if err := vm.pio.Insert(d.base, d.size, d.h); err != nil {
			return err
		}
	}
	return vm.createPlatform()
}

func (vm *VM) createVCPUs() error {
	mmapSize, err := kvm.GetVCPUMMmapSize(vm.kvmFd)
	if err != nil {
		return fmt.Errorf("KVM_GET_VCPU_MMAP_SIZE: %w", err)
	}
	cpuid := kvm.CPUID{Nent: 256, Entries: make([]kvm.CPUIDEntry2, 256)}
	if err := kvm.GetSupportedCPUID(vm.kvmFd, &cpuid); err != nil {
		return fmt.Errorf("KVM_GET_SUPPORTED_CPUID: %w", err)
	}
	for i := 0; i < vm.cfg.CPUs; i++ {
		c, err := vm.newVCPU(i, int(mmapSize), &cpuid)
		if err != nil {
			return err
		}
		vm.vcpus = append(vm.vcpus, c)
	}
	return nil
}

// Memory returns guest RAM.
func (vm *VM) Memory() *memory.Memory { return vm.mem }

// stop ends the VM with reason (and err for ExitError); the first call wins.
func (vm *VM) stop(reason ExitReason, err error) {
	vm.stopOnce.Do(func() {
		vm.reason, vm.err = reason, err
		vm.stopped.Store(true)
		for _, c := range vm.vcpus {
			c.kick()
		}
		close(vm.done)
	})
}

// Run runs the guest until it powers off, resets, fails, or ctx is done. It
// returns how the VM ended; err is non-nil only for ExitError. While it
// runs, GOMAXPROCS is one higher per vCPU: vCPU threads live in KVM_RUN and
// must not hold the processors device goroutines need.
func (vm *VM) Run(ctx context.Context) (ExitReason, error) {
	if vm.cfg.SerialInput != nil && !vm.cfg.VirtioConsole {
		go vm.readInput()
	}
	defer reserveProcs(len(vm.vcpus))()
	var wg sync.WaitGroup
	for _, c := range vm.vcpus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.loop(); err != nil {
				vm.stop(ExitError, err)
			}
		}()
	}
	select {
	case <-vm.done:
	case <-ctx.Done():
		vm.stop(ExitStopped, nil)
	}
	// Keep kicking until every vCPU thread has left KVM_RUN: a kick can
	// land before a thread has recorded its tid.
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	for {
		select {
		case <-finished:
			if e := vm.uart.Err(); e != nil && vm.err == nil && vm.reason == ExitError {
				vm.err = e
			}
			return vm.reason, vm.err
		case <-afterMillis(20):
			for _, c := range vm.vcpus {
				c.kick()
			}
		}
	}
}

func (vm *VM) readInput() {
	buf := make([]byte, 256)
	for {
		n, err := vm.cfg.SerialInput.Read(buf)
		if n > 0 {
			vm.uart.Receive(buf[:n])
		}
		if err != nil || vm.stopped.Load() {
			return
		}
	}
}

// Close releases the VM's resources. It must not be called while Run is
// running.
func (vm *VM) Close() error {
	var errs []error
	for i := len(vm.closers) - 1; i >= 0; i-- {
		errs = append(errs, vm.closers[i]())
	}
	vm.closers = nil
	for _, c := range vm.vcpus {
		c.close()
	}
	vm.vcpus = nil
	for _, b := range vm.ram {
		_ = unmapRAM(b)
	}
	vm.ram = nil
	if vm.events != nil {
		errs = append(errs, vm.events.Close())
		vm.events = nil
	}
	if vm.vmFd != 0 {
		errs = append(errs, unix.Close(int(vm.vmFd)))
		vm.vmFd = 0
	}
	if vm.kvmFd != 0 {
		errs = append(errs, unix.Close(int(vm.kvmFd)))
		vm.kvmFd = 0
	}
	return errors.Join(errs...)
}

// logUnhandled logs, once per address and at debug level, a guest access to
// an address no device decodes.
func (vm *VM) logUnhandled(space string, addr uint64, write bool) {
	vm.unhandledMu.Lock()
	defer vm.unhandledMu.Unlock()
	if vm.unhandled[addr] || len(vm.unhandled) > 1024 {
		return
	}
	vm.unhandled[addr] = true
	vm.log.Debug("guest access to an unmapped address", "space", space, "addr", fmt.Sprintf("%#x", addr), "write", write)
}

var _ = os.Stderr

// WriteState writes every vCPU's registers to w, for a person looking at a
// guest that stopped making progress. Call it after Run has returned.
func (vm *VM) WriteState(w io.Writer) {
	for _, c := range vm.vcpus {
		fmt.Fprintf(w, "vCPU %d:\n%s\n", c.id, c.dumpRegisters())
	}
}
