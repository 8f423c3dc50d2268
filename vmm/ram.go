package vmm

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ramAlign is the host alignment of every guest RAM region: a 2 MiB
// transparent huge page. KVM maps a guest 2 MiB page with one large
// nested page table entry only when the host address is aligned like the
// guest-physical one, and a guest TLB miss through 4 KiB host pages costs
// a longer two-dimensional walk (far longer again when KVM is itself
// nested).
const ramAlign = 2 << 20

// mapRAM maps size bytes (a multiple of 4 KiB) of anonymous, private,
// zero-filled memory at a ramAlign-aligned host address and asks for
// transparent huge pages. Free it with unmapRAM.
func mapRAM(size uint64) ([]byte, error) {
	// Map ramAlign more than needed, then unmap the unaligned head and
	// the tail beyond size.
	span := uintptr(size) + ramAlign
	p, err := unix.MmapPtr(-1, 0, nil, span, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("mmap %d MiB of guest RAM: %w", size>>20, err)
	}
	head := -uintptr(p) & (ramAlign - 1)
	start := unsafe.Add(p, head)
	if head != 0 {
		_ = unix.MunmapPtr(p, head)
	}
	if tail := span - head - uintptr(size); tail != 0 {
		_ = unix.MunmapPtr(unsafe.Add(start, size), tail)
	}
	b := unsafe.Slice((*byte)(start), size)
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE) // best effort: THP may be off
	return b, nil
}

// unmapRAM frees a region from mapRAM.
func unmapRAM(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return unix.MunmapPtr(unsafe.Pointer(&b[0]), uintptr(len(b)))
}
