package vmm

import (
	"testing"
	"unsafe"
)

// TestMapRAM: regions are 2 MiB aligned, zero-filled, writable to the last
// byte, and unmap cleanly.
func TestMapRAM(t *testing.T) {
	for _, size := range []uint64{4 << 10, 2 << 20, 3<<20 + 4<<10, 64 << 20} {
		b, err := mapRAM(size)
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if a := uintptr(unsafe.Pointer(&b[0])); a%ramAlign != 0 {
			t.Errorf("%d bytes at %#x: not 2 MiB aligned", size, a)
		}
		if uint64(len(b)) != size {
			t.Errorf("len %d, want %d", len(b), size)
		}
		if b[0] != 0 || b[len(b)-1] != 0 {
			t.Errorf("%d bytes: not zero-filled", size)
		}
		b[0], b[len(b)-1] = 1, 2
		if err := unmapRAM(b); err != nil {
			t.Errorf("%d bytes: unmap: %v", size, err)
		}
	}
}
