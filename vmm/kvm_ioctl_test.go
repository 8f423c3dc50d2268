package vmm

import (
	"os"
	"testing"

	"github.com/bobuhiro11/gokvm/kvm"
	"golang.org/x/sys/unix"
)

// openVM creates a bare VM on /dev/kvm (the ioctls work on any KVM, even a
// slow one). It fails the test, never skips, when /dev/kvm is missing.
func openVM(t *testing.T) (kvmFd, vmFd uintptr) {
	t.Helper()
	fd, err := unix.Open("/dev/kvm", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		if os.IsNotExist(err) {
			t.Fatalf("/dev/kvm is missing: these tests exercise the KVM ioctls for real")
		}
		t.Fatalf("open /dev/kvm: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	v, err := kvm.CreateVM(uintptr(fd))
	if err != nil {
		t.Fatalf("KVM_CREATE_VM: %v", err)
	}
	t.Cleanup(func() { unix.Close(int(v)) })
	return uintptr(fd), v
}

func eventfd(t *testing.T) int {
	t.Helper()
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// TestKVMIoctls runs every ioctl wrapper gokvm lacks against the kernel:
// a wrong struct size or number is EINVAL or ENOTTY here.
func TestKVMIoctls(t *testing.T) {
	t.Run("split irqchip", func(t *testing.T) {
		kfd, vfd := openVM(t)
		if checkExtension(kfd, capSplitIRQChip) == 0 {
			t.Fatal("KVM lacks KVM_CAP_SPLIT_IRQCHIP")
		}
		if err := enableCap(vfd, capSplitIRQChip, ioapicPins); err != nil {
			t.Fatal(err)
		}
		// A second irqchip on top of the split one is refused.
		if err := kvm.CreateIRQChip(vfd); err == nil {
			t.Fatal("KVM_CREATE_IRQCHIP succeeded after a split irqchip")
		}
	})
	t.Run("routing, irqfd, MSI", func(t *testing.T) {
		_, vfd := openVM(t)
		if err := kvm.CreateIRQChip(vfd); err != nil {
			t.Fatal(err)
		}
		r, err := newGSIRouter(vfd)
		if err != nil {
			t.Fatal(err)
		}
		efd := eventfd(t)
		gsi, err := r.AddMSIRoute(efd, msiFor(0xFEE00000, 0x4021))
		if err != nil {
			t.Fatal(err)
		}
		if gsi < ioapicPins {
			t.Fatalf("MSI route on GSI %d, which is an IOAPIC pin", gsi)
		}
		if err := r.UpdateMSIRoute(gsi, msiFor(0xFEE01000, 0x4022)); err != nil {
			t.Fatal(err)
		}
		// Binding the same eventfd twice is EBUSY: proof the first bind
		// reached the kernel.
		if err := setIRQFD(vfd, efd, gsi, false); err == nil {
			t.Fatal("second KVM_IRQFD of the same eventfd succeeded")
		}
		if err := r.RemoveMSIRoute(efd, gsi); err != nil {
			t.Fatal(err)
		}
		// KVM answers -1 (EPERM) for an MSI no LAPIC accepts; with vCPU 0
		// present a fixed-delivery MSI to APIC ID 0 is delivered.
		if err := signalMSI(vfd, 0xFEE00000, 0x4021, 0, false); err == nil {
			t.Fatal("MSI with no vCPU reported delivered")
		}
		cpu, err := kvm.CreateVCPU(vfd, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(int(cpu))
		if err := signalMSI(vfd, 0xFEE00000, 0x4021, 0, false); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ioeventfd", func(t *testing.T) {
		_, vfd := openVM(t)
		efd := eventfd(t)
		e := ioEvents{vmFd: vfd}
		match := uint64(3)
		if err := e.RegisterIOEvent(efd, 0xC0001000, 2, &match); err != nil {
			t.Fatal(err)
		}
		if err := e.RegisterIOEvent(efd, 0xC0001000, 2, &match); err == nil {
			t.Fatal("duplicate ioeventfd accepted")
		}
		if err := e.UnregisterIOEvent(efd, 0xC0001000, 2, &match); err != nil {
			t.Fatal(err)
		}
	})
}
