package vmm

import (
	"testing"

	"github.com/bobuhiro11/gokvm/kvm"
)

// TestVCPUCPUID creates the vCPUs of a 2-vCPU VM on /dev/kvm and reads back
// the CPUID KVM holds for each: APIC IDs, the CPU count, the hypervisor bit
// and KVM signature, and no invariant TSC.
func TestVCPUCPUID(t *testing.T) {
	kfd, vfd := openVM(t)
	vm := &VM{kvmFd: kfd, vmFd: vfd, cfg: Config{CPUs: 2}}
	if err := vm.createVCPUs(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range vm.vcpus {
			c.close()
		}
	})
	for _, c := range vm.vcpus {
		got := kvm.CPUID{Nent: 256, Entries: make([]kvm.CPUIDEntry2, 256)}
		if err := kvm.GetCPUID2(c.fd, &got); err != nil {
			t.Fatalf("KVM_GET_CPUID2 on vCPU %d: %v", c.id, err)
		}
		leaf := func(fn uint32) (kvm.CPUIDEntry2, bool) {
			for _, e := range got.Entries[:got.Nent] {
				if e.Function == fn {
					return e, true
				}
			}
			return kvm.CPUIDEntry2{}, false
		}
		checks := []struct {
			name string
			fn   uint32
			ok   func(kvm.CPUIDEntry2) bool
		}{
			{"leaf 1: initial APIC ID", 1, func(e kvm.CPUIDEntry2) bool { return e.Ebx>>24 == uint32(c.id) }},
			{"leaf 1: logical processors", 1, func(e kvm.CPUIDEntry2) bool { return e.Ebx>>16&0xff == 2 }},
			{"leaf 1: hypervisor bit", 1, func(e kvm.CPUIDEntry2) bool { return e.Ecx&(1<<31) != 0 }},
			{"KVM signature", kvmCPUIDSignature, func(e kvm.CPUIDEntry2) bool {
				return e.Ebx == 0x4b4d564b && e.Ecx == 0x564b4d56 && e.Edx == 0x4d && e.Eax >= kvmCPUIDFeatures
			}},
			{"no invariant TSC", 0x80000007, func(e kvm.CPUIDEntry2) bool { return e.Edx&cpuidInvariantTSC == 0 }},
		}
		for _, ch := range checks {
			e, ok := leaf(ch.fn)
			if !ok {
				t.Errorf("vCPU %d: %s: no leaf %#x", c.id, ch.name, ch.fn)
				continue
			}
			if !ch.ok(e) {
				t.Errorf("vCPU %d: %s: leaf %#x is %+v", c.id, ch.name, ch.fn, e)
			}
		}
	}
}
