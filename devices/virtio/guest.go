package virtio

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"

	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/memory"
)

// guest is a device's view of guest memory: every address is an IOVA that
// goes through as before mem is touched. Accesses allocate nothing.
type guest struct {
	as  dma.AddressSpace
	mem *memory.Memory
}

// slice returns the guest RAM backing [iova, iova+n) if it is one
// contiguous translation; ok is false if the range crosses a translation
// boundary (the caller then goes byte range by byte range).
func (g guest) slice(iova, n uint64, acc dma.Access) (s []byte, ok bool, err error) {
	gpa, l, err := g.as.Translate(iova, n, acc)
	if err != nil {
		return nil, false, err
	}
	if l < n {
		return nil, false, nil
	}
	s, err = g.mem.Slice(gpa, n)
	return s, err == nil, err
}

// read copies len(p) bytes at iova into p.
func (g guest) read(p []byte, iova uint64) error { return dma.ReadAt(g.as, g.mem, p, iova) }

// write copies p to iova.
func (g guest) write(p []byte, iova uint64) error { return dma.WriteAt(g.as, g.mem, p, iova) }

// load16 reads the little-endian 16-bit value at iova.
func (g guest) load16(iova uint64) (uint16, error) {
	s, ok, err := g.slice(iova, 2, dma.Read)
	if err != nil {
		return 0, err
	}
	if ok {
		return binary.LittleEndian.Uint16(s), nil
	}
	var b [2]byte
	err = g.read(b[:], iova)
	return binary.LittleEndian.Uint16(b[:]), err
}

// store16 writes v little-endian at iova.
func (g guest) store16(iova uint64, v uint16) error {
	s, ok, err := g.slice(iova, 2, dma.Write)
	if err != nil {
		return err
	}
	if ok {
		binary.LittleEndian.PutUint16(s, v)
		return nil
	}
	var b [2]byte
	binary.LittleEndian.PutUint16(b[:], v)
	return g.write(b[:], iova)
}

// loadIdx reads the 16-bit index at iova (2-byte aligned) with an atomic
// 32-bit load of the naturally aligned word that contains it, so that the
// reads that follow it (ring entries, descriptors) are ordered after it.
// That word lies inside the ring the index belongs to.
func (g guest) loadIdx(iova uint64) (uint16, error) {
	word := iova &^ 3
	s, ok, err := g.slice(word, 4, dma.Read)
	if err != nil {
		return 0, err
	}
	if !ok || !aligned4(s) {
		fence()
		return g.load16(iova)
	}
	v := atomic.LoadUint32((*uint32)(unsafe.Pointer(&s[0])))
	return uint16(v >> (8 * (iova & 2))), nil
}

// storeWord writes the 32-bit value v at the 4-byte aligned iova with one
// atomic store (a full barrier on x86), so that everything written before
// it is visible to the driver first.
func (g guest) storeWord(iova uint64, v uint32) error {
	s, ok, err := g.slice(iova, 4, dma.Write)
	if err != nil {
		return err
	}
	if !ok || !aligned4(s) {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], v)
		err := g.write(b[:], iova)
		fence()
		return err
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&s[0])), v)
	return nil
}

func aligned4(s []byte) bool { return uintptr(unsafe.Pointer(&s[0]))&3 == 0 }

// fence is a full memory barrier between the device's stores to a ring
// and its next loads from guest memory (the virtio_mb of §2.7.13.3.1 and
// §2.7.10): a locked read-modify-write on x86.
func fence() { fenceWord.Add(1) }

var fenceWord atomic.Uint32
