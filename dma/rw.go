package dma

import (
	"github.com/govmm/govmm/memory"
)

// ReadAt reads len(p) bytes at iova through as into p, splitting the copy at
// every translation boundary. It returns the first translation or memory error;
// p may then be partly filled.
func ReadAt(as AddressSpace, mem *memory.Memory, p []byte, iova uint64) error {
	return walk(as, mem, p, iova, Read, func(dst, src []byte) { copy(dst, src) })
}

// WriteAt writes p at iova through as, splitting at translation boundaries.
// On error a prefix of p may already have been written.
func WriteAt(as AddressSpace, mem *memory.Memory, p []byte, iova uint64) error {
	return walk(as, mem, p, iova, Write, func(buf, guest []byte) { copy(guest, buf) })
}

func walk(as AddressSpace, mem *memory.Memory, p []byte, iova uint64, acc Access, do func(buf, guest []byte)) error {
	for len(p) > 0 {
		gpa, n, err := as.Translate(iova, uint64(len(p)), acc)
		if err != nil {
			return err
		}
		if n > uint64(len(p)) {
			n = uint64(len(p))
		}
		g, err := mem.Slice(gpa, n)
		if err != nil {
			return err
		}
		do(p[:n], g)
		p = p[n:]
		iova += n
	}
	return nil
}

// Slices appends to dst the guest-RAM slices that back [iova, iova+n) through
// as, one per contiguous translation, for devices that do I/O straight into
// guest memory (readv/writev). The slices alias guest RAM.
func Slices(dst [][]byte, as AddressSpace, mem *memory.Memory, iova, n uint64, acc Access) ([][]byte, error) {
	for n > 0 {
		gpa, l, err := as.Translate(iova, n, acc)
		if err != nil {
			return dst, err
		}
		if l > n {
			l = n
		}
		g, err := mem.Slice(gpa, l)
		if err != nil {
			return dst, err
		}
		dst = append(dst, g)
		n -= l
		iova += l
	}
	return dst, nil
}
