package vmm

import (
	"fmt"
	"unsafe"

	"github.com/bobuhiro11/gokvm/kvm"
	"golang.org/x/sys/unix"
)

// KVM ioctls that gokvm's kvm package does not wrap, numbered as in
// <linux/kvm.h> (KVMIO = 0xAE).
const (
	kvmIO            = 0xAE
	nrSetGSIRouting  = 0x6a
	nrIRQFD          = 0x76
	nrIOEventFD      = 0x79
	nrEnableCap      = 0xa3
	nrSignalMSI      = 0xa5
	nrCheckExtension = 0x03

	// Capabilities used by govmm.
	capIRQChip       = 0
	capUserMemory    = 3
	capSetTSSAddr    = 4
	capIRQRouting    = 25
	capIRQFD         = 32
	capIOEventFD     = 36
	capSignalMSI     = 77
	capSplitIRQChip  = 121
	capImmediateExit = 136

	// KVM exit reasons gokvm does not name.
	exitSystemEvent = 24

	systemEventShutdown = 1
	systemEventReset    = 2
	systemEventCrash    = 3
)

func ioctl(fd uintptr, op uintptr, arg unsafe.Pointer) (uintptr, error) {
	for {
		r, _, e := unix.Syscall(unix.SYS_IOCTL, fd, op, uintptr(arg))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return r, e
		}
		return r, nil
	}
}

func iow(nr, size uintptr) uintptr { return kvm.IIOW(nr, size) }

// checkExtension returns KVM_CHECK_EXTENSION's answer for capability c.
func checkExtension(fd uintptr, c uintptr) uintptr {
	r, _, e := unix.Syscall(unix.SYS_IOCTL, fd, kvm.IIO(nrCheckExtension), c)
	if e != 0 {
		return 0
	}
	return r
}

// kvmMSI is struct kvm_msi.
type kvmMSI struct {
	AddrLo, AddrHi, Data, Flags, DevID uint32
	_                                  [12]byte
}

const msiValidDevID = 1 << 0

// signalMSI injects an MSI with KVM_SIGNAL_MSI. KVM returns 0 when the
// message was blocked (e.g. by the guest's LAPIC state) and >0 when
// delivered, both success from the device's point of view, and -1 (seen as
// EPERM) when no local APIC accepts the destination.
func signalMSI(vmFd uintptr, addr uint64, data, devID uint32, validDevID bool) error {
	m := kvmMSI{AddrLo: uint32(addr), AddrHi: uint32(addr >> 32), Data: data, DevID: devID}
	if validDevID {
		m.Flags = msiValidDevID
	}
	_, err := ioctl(vmFd, iow(nrSignalMSI, unsafe.Sizeof(m)), unsafe.Pointer(&m))
	if err != nil {
		return fmt.Errorf("KVM_SIGNAL_MSI addr %#x data %#x: %w", addr, data, err)
	}
	return nil
}

// kvmIRQFD is struct kvm_irqfd.
type kvmIRQFD struct {
	FD, GSI, Flags, ResampleFD uint32
	_                          [16]byte
}

const irqfdDeassign = 1 << 0

// setIRQFD binds (or with deassign unbinds) eventfd fd to gsi: a write to
// the eventfd injects the GSI's route without leaving the kernel.
func setIRQFD(vmFd uintptr, fd int, gsi uint32, deassign bool) error {
	a := kvmIRQFD{FD: uint32(fd), GSI: gsi}
	if deassign {
		a.Flags = irqfdDeassign
	}
	_, err := ioctl(vmFd, iow(nrIRQFD, unsafe.Sizeof(a)), unsafe.Pointer(&a))
	if err != nil {
		return fmt.Errorf("KVM_IRQFD fd %d gsi %d: %w", fd, gsi, err)
	}
	return nil
}

// kvmIOEventFD is struct kvm_ioeventfd.
type kvmIOEventFD struct {
	DataMatch uint64
	Addr      uint64
	Len       uint32
	FD        int32
	Flags     uint32
	_         [36]byte
}

const (
	ioeventfdDataMatch = 1 << 0
	ioeventfdPIO       = 1 << 1
	ioeventfdDeassign  = 1 << 2
)

// setIOEventFD makes a guest write of length n at addr (MMIO, or port I/O
// when pio) signal eventfd fd instead of exiting to userspace; with match
// only writes of that value do.
func setIOEventFD(vmFd uintptr, fd int, addr uint64, n uint32, pio bool, match *uint64, deassign bool) error {
	a := kvmIOEventFD{Addr: addr, Len: n, FD: int32(fd)}
	if pio {
		a.Flags |= ioeventfdPIO
	}
	if match != nil {
		a.Flags |= ioeventfdDataMatch
		a.DataMatch = *match
	}
	if deassign {
		a.Flags |= ioeventfdDeassign
	}
	_, err := ioctl(vmFd, iow(nrIOEventFD, unsafe.Sizeof(a)), unsafe.Pointer(&a))
	if err != nil {
		return fmt.Errorf("KVM_IOEVENTFD addr %#x len %d: %w", addr, n, err)
	}
	return nil
}

// gsiRoute is one struct kvm_irq_routing_entry (48 bytes: the union is
// u32 pad[8]).
type gsiRoute struct {
	GSI   uint32
	Type  uint32
	Flags uint32
	_     uint32
	U     [8]uint32
}

const (
	routeIRQChip = 1
	routeMSI     = 2

	irqchipPICMaster = 0
	irqchipPICSlave  = 1
	irqchipIOAPIC    = 2
)

func irqchipRoute(gsi, chip, pin uint32) gsiRoute {
	r := gsiRoute{GSI: gsi, Type: routeIRQChip}
	r.U[0], r.U[1] = chip, pin
	return r
}

func msiRoute(gsi uint32, addr uint64, data uint32) gsiRoute {
	r := gsiRoute{GSI: gsi, Type: routeMSI}
	r.U[0], r.U[1], r.U[2] = uint32(addr), uint32(addr>>32), data
	return r
}

// setGSIRouting replaces the VM's whole GSI routing table with KVM_SET_GSI_ROUTING.
func setGSIRouting(vmFd uintptr, routes []gsiRoute) error {
	const hdr = 8
	buf := make([]byte, hdr+len(routes)*int(unsafe.Sizeof(gsiRoute{})))
	*(*uint32)(unsafe.Pointer(&buf[0])) = uint32(len(routes))
	if len(routes) > 0 {
		copy(buf[hdr:], unsafe.Slice((*byte)(unsafe.Pointer(&routes[0])), len(routes)*int(unsafe.Sizeof(gsiRoute{}))))
	}
	_, err := ioctl(vmFd, iow(nrSetGSIRouting, hdr), unsafe.Pointer(&buf[0]))
	if err != nil {
		return fmt.Errorf("KVM_SET_GSI_ROUTING (%d routes): %w", len(routes), err)
	}
	return nil
}

// kvmEnableCap is struct kvm_enable_cap.
type kvmEnableCap struct {
	Cap   uint32
	Flags uint32
	Args  [4]uint64
	_     [64]byte
}

// enableCap enables VM capability c with the given arguments
// (KVM_ENABLE_CAP on the VM fd), e.g. KVM_CAP_SPLIT_IRQCHIP with the
// number of IOAPIC routes reserved for userspace.
func enableCap(vmFd uintptr, c uint32, args ...uint64) error {
	a := kvmEnableCap{Cap: c}
	copy(a.Args[:], args)
	_, err := ioctl(vmFd, iow(nrEnableCap, unsafe.Sizeof(a)), unsafe.Pointer(&a))
	if err != nil {
		return fmt.Errorf("KVM_ENABLE_CAP %d: %w", c, err)
	}
	return nil
}
