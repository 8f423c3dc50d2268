package vmm

import (
	"testing"
	"unsafe"
)

// The ioctl argument structs must match <linux/kvm.h> byte for byte: the
// ioctl number encodes the size, and a wrong size is EINVAL (or worse, a
// short read by the kernel).
func TestKVMStructSizes(t *testing.T) {
	tests := []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"kvm_msi", unsafe.Sizeof(kvmMSI{}), 32},
		{"kvm_irqfd", unsafe.Sizeof(kvmIRQFD{}), 32},
		{"kvm_ioeventfd", unsafe.Sizeof(kvmIOEventFD{}), 64},
		{"kvm_irq_routing_entry", unsafe.Sizeof(gsiRoute{}), 48},
		{"kvm_enable_cap", unsafe.Sizeof(kvmEnableCap{}), 104},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("sizeof(%s) = %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}
