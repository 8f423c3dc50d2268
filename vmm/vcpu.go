package vmm

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/bobuhiro11/gokvm/kvm"
	"golang.org/x/sys/unix"
)

// cpuidInvariantTSC is CPUID 0x80000007 EDX bit 8, invariant TSC.
const cpuidInvariantTSC = 1 << 8

// KVM's paravirtual CPUID leaves.
const (
	kvmCPUIDSignature = 0x40000000
	kvmCPUIDFeatures  = 0x40000001
)

// vcpu is one virtual CPU: its KVM fd, its mmap'ed struct kvm_run, and the
// OS thread it runs on (locked for its whole life, so that a signal can kick
// it out of KVM_RUN).
type vcpu struct {
	id   int
	fd   uintptr
	run  []byte // struct kvm_run
	tid  atomic.Int32
	vm   *VM
	data [8]byte
}

func (c *vcpu) runData() *kvm.RunData { return (*kvm.RunData)(unsafe.Pointer(&c.run[0])) }

// newVCPU creates vCPU id with the supported CPUID, its APIC ID set to id.
func (vm *VM) newVCPU(id int, mmapSize int, cpuid *kvm.CPUID) (*vcpu, error) {
	fd, err := kvm.CreateVCPU(vm.vmFd, id)
	if err != nil {
		return nil, fmt.Errorf("KVM_CREATE_VCPU %d: %w", id, err)
	}
	run, err := unix.Mmap(int(fd), 0, mmapSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(int(fd))
		return nil, fmt.Errorf("mmap kvm_run of vCPU %d: %w", id, err)
	}
	c := &vcpu{id: id, fd: fd, run: run, vm: vm}
	ids := kvm.CPUID{Nent: cpuid.Nent, Entries: append([]kvm.CPUIDEntry2(nil), cpuid.Entries[:cpuid.Nent]...)}
	for i := range ids.Entries {
		e := &ids.Entries[i]
		switch e.Function {
		case 1:
			// Initial APIC ID and logical processor count; the hypervisor
			// bit tells the guest to look at the 0x40000000 leaves.
			e.Ebx = e.Ebx&0x0000FFFF | uint32(id)<<24 | uint32(vm.cfg.CPUs)<<16
			e.Ecx |= 1 << 31
		case kvmCPUIDSignature:
			// KVM leaves the signature to userspace: "KVMKVMKVM\0\0\0" makes
			// Linux use kvm-clock and the other paravirtual features in
			// leaf 0x40000001.
			e.Eax = kvmCPUIDFeatures
			e.Ebx, e.Ecx, e.Edx = 0x4b4d564b, 0x564b4d56, 0x4d
		case 0xB, 0x1F:
			e.Edx = uint32(id) // x2APIC ID
		case 0xA:
			e.Eax = 0 // no architectural PMU
		case 0x80000007:
			// No invariant TSC, as in QEMU's default CPU models. With it
			// Linux runs its TSC warp test between each pair of vCPUs at
			// bring-up, and the boot CPU waits for the new one with
			// interrupts off: on a host with fewer CPUs than vCPUs
			// (nested, or overcommitted) that wait lasts until the host
			// preempts the spinning vCPU. The guest uses kvm-clock.
			e.Edx &^= cpuidInvariantTSC
		}
	}
	if err := kvm.SetCPUID2(fd, &ids); err != nil {
		c.close()
		return nil, fmt.Errorf("KVM_SET_CPUID2 on vCPU %d: %w", id, err)
	}
	return c, nil
}

func (c *vcpu) close() {
	if c.run != nil {
		unix.Munmap(c.run)
		c.run = nil
	}
	unix.Close(int(c.fd))
}

// kick forces the vCPU out of KVM_RUN: immediate_exit makes the next entry
// return at once, and a signal interrupts a running or halted vCPU. SIGURG
// is the signal the Go runtime itself uses for preemption, so a spare one is
// harmless to the process.
func (c *vcpu) kick() {
	c.runData().ImmediateExit = 1
	if tid := c.tid.Load(); tid != 0 {
		_ = unix.Tgkill(unix.Getpid(), int(tid), unix.SIGURG)
	}
}

// loop runs the vCPU until the VM stops or the guest does something that
// ends it; it returns nil when the VM was stopped from outside.
func (c *vcpu) loop() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c.tid.Store(int32(unix.Gettid()))
	defer c.tid.Store(0)
	r := c.runData()
	for !c.vm.stopped.Load() {
		if err := kvm.Run(c.fd); err != nil {
			return c.fatal("KVM_RUN failed: %v", err)
		}
		switch kvm.ExitType(r.ExitReason) {
		case kvm.EXITIO:
			c.handleIO(r)
		case kvm.EXITMMIO:
			c.handleMMIO(r)
		case kvm.EXITUNKNOWN, kvm.EXITINTR, kvm.EXITHLT, kvm.EXITIRQWINDOWOPEN:
			// KVM_RUN returned EINTR or EAGAIN (an AP still waiting for
			// its SIPI leaves exit_reason untouched): just enter again.
		case kvm.EXITSHUTDOWN:
			return c.fatal("triple fault (KVM_EXIT_SHUTDOWN)")
		case kvm.EXITFAILENTRY:
			return c.fatal("VM entry failed: hardware_entry_failure_reason %#x", r.Data[0])
		case kvm.EXITINTERNALERROR:
			return c.fatal("KVM internal error: suberror %d", uint32(r.Data[0]))
		case exitSystemEvent:
			switch uint32(r.Data[0]) {
			case systemEventShutdown:
				c.vm.stop(ExitPowerOff, nil)
			case systemEventReset:
				c.vm.stop(ExitReset, nil)
			default:
				return c.fatal("guest crashed (KVM system event %d)", uint32(r.Data[0]))
			}
		default:
			return c.fatal("unexpected KVM exit reason %d", r.ExitReason)
		}
	}
	return nil
}

// handleIO serves a port-I/O exit, including string I/O (count > 1).
func (c *vcpu) handleIO(r *kvm.RunData) {
	dir, size, port, count, off := r.IO()
	if size == 0 || size > 8 || off >= uint64(len(c.run)) || off+size*count > uint64(len(c.run)) {
		return
	}
	for i := uint64(0); i < count; i++ {
		buf := c.run[off+i*size : off+(i+1)*size]
		var ok bool
		if dir == kvm.EXITIOOUT {
			ok = c.vm.pio.Write(port, buf)
		} else {
			ok = c.vm.pio.Read(port, buf)
		}
		if !ok {
			c.vm.logUnhandled("io", port, dir == kvm.EXITIOOUT)
		}
	}
}

// handleMMIO serves an MMIO exit: struct kvm_run.mmio is phys_addr (u64),
// data[8], len (u32), is_write (u8).
func (c *vcpu) handleMMIO(r *kvm.RunData) {
	addr := r.Data[0]
	n := uint32(r.Data[2])
	write := uint8(r.Data[2]>>32) != 0
	if n == 0 || n > 8 {
		return
	}
	buf := c.data[:n]
	if write {
		binary.LittleEndian.PutUint64(c.data[:], r.Data[1])
		if !c.vm.mmio.Write(addr, buf) {
			c.vm.logUnhandled("mmio", addr, true)
		}
		return
	}
	if !c.vm.mmio.Read(addr, buf) {
		c.vm.logUnhandled("mmio", addr, false)
	}
	var v [8]byte
	copy(v[:], buf)
	r.Data[1] = binary.LittleEndian.Uint64(v[:])
}

// fatal returns an error describing why the guest cannot go on, with the
// vCPU's registers.
func (c *vcpu) fatal(format string, args ...any) error {
	return &GuestError{CPU: c.id, Reason: fmt.Sprintf(format, args...), Registers: c.dumpRegisters()}
}

func (c *vcpu) dumpRegisters() string {
	regs, err := kvm.GetRegs(c.fd)
	if err != nil {
		return fmt.Sprintf("(registers unavailable: %v)", err)
	}
	s := fmt.Sprintf("RIP=%016x RSP=%016x RFLAGS=%08x\nRAX=%016x RBX=%016x RCX=%016x RDX=%016x\nRSI=%016x RDI=%016x RBP=%016x\nR8 =%016x R9 =%016x R10=%016x R11=%016x\nR12=%016x R13=%016x R14=%016x R15=%016x",
		regs.RIP, regs.RSP, regs.RFLAGS, regs.RAX, regs.RBX, regs.RCX, regs.RDX,
		regs.RSI, regs.RDI, regs.RBP, regs.R8, regs.R9, regs.R10, regs.R11,
		regs.R12, regs.R13, regs.R14, regs.R15)
	if sr, err := kvm.GetSregs(c.fd); err == nil {
		s += fmt.Sprintf("\nCR0=%016x CR2=%016x CR3=%016x CR4=%016x EFER=%016x\nCS=%04x base=%x l=%d db=%d  SS=%04x  GDT=%x/%x IDT=%x/%x",
			sr.CR0, sr.CR2, sr.CR3, sr.CR4, sr.EFER, sr.CS.Selector, sr.CS.Base, sr.CS.L, sr.CS.DB,
			sr.SS.Selector, sr.GDT.Base, sr.GDT.Limit, sr.IDT.Base, sr.IDT.Limit)
	}
	return s
}

// GuestError is a guest or VM failure that stops the VM: a triple fault, a
// failed VM entry, a KVM internal error. Registers holds the failing
// vCPU's state, formatted for a person.
type GuestError struct {
	CPU       int
	Reason    string
	Registers string
}

// Error describes the failure, naming the offending address or value.
func (e *GuestError) Error() string {
	return fmt.Sprintf("vCPU %d: %s\n%s", e.CPU, e.Reason, e.Registers)
}
