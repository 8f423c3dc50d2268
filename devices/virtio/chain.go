package virtio

import (
	"errors"
	"fmt"

	"github.com/govmm/govmm/dma"
)

// MaxIndirectDescriptors is the largest indirect descriptor table a
// device accepts (entries, i.e. table length / 16). A direct chain is
// limited by the queue size instead (virtio 1.2 §2.7.5.3.1: a chain is
// never longer than the queue).
const MaxIndirectDescriptors = 1024

// ErrOutOfRange is returned (wrapped with the offending range) by the
// Chain accessors when an access reaches past the end of the readable or
// writable part of the chain.
var ErrOutOfRange = errors.New("virtio: access beyond the buffers of the descriptor chain")

// ChainError reports a descriptor chain that breaks the rules of virtio
// 1.2 §2.7.5.3 (a descriptor index outside its table, a loop or a chain
// longer than allowed, a malformed or nested indirect table, a
// device-readable buffer after a device-writable one) or whose descriptor
// table could not be read through the device's address space. A device
// that meets one sets DEVICE_NEEDS_RESET.
type ChainError struct {
	Queue  int    // queue index
	Head   uint16 // head of the chain
	Reason string
	Err    error // the translation or memory error, if any
}

// Error describes the failure, naming the offending address or value.
func (e *ChainError) Error() string {
	s := fmt.Sprintf("virtio: queue %d: descriptor chain %d: %s", e.Queue, e.Head, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying translation or memory error.
func (e *ChainError) Unwrap() error { return e.Err }

// Chain is one descriptor chain taken from a queue's available ring
// (virtio 1.2 §2.7.5, §2.7.13.2): the head index to give back on the used
// ring and the buffers in chain order, device-readable ones first. An
// indirect descriptor (§2.7.5.3) is replaced by the entries of its table,
// so Descs only ever holds buffers.
//
// The descriptors are copied out of guest memory once, when the chain is
// popped: later guest changes of the table do not affect the request.
// Buffer addresses are IOVAs; ReadAt, WriteAt and the Slices methods
// translate them through the queue's address space at the time of the
// access.
//
// The zero Chain is empty; reuse one Chain across Pop calls to avoid
// allocating.
type Chain struct {
	Head  uint16
	Descs []Descriptor

	nRead             int    // Descs[:nRead] are device-readable
	readLen, writeLen uint64 // byte totals of the two parts
	g                 guest
}

func (c *Chain) reset(g guest, head uint16) {
	c.Head, c.Descs, c.nRead, c.readLen, c.writeLen, c.g = head, c.Descs[:0], 0, 0, 0, g
}

// Readable returns the device-readable buffers (driver to device).
func (c *Chain) Readable() []Descriptor { return c.Descs[:c.nRead] }

// Writable returns the device-writable buffers (device to driver).
func (c *Chain) Writable() []Descriptor { return c.Descs[c.nRead:] }

// ReadableLen returns the total length in bytes of the readable buffers.
func (c *Chain) ReadableLen() uint64 { return c.readLen }

// WritableLen returns the total length in bytes of the writable buffers.
func (c *Chain) WritableLen() uint64 { return c.writeLen }

// ReadAt copies len(p) bytes from offset off of the readable part of the
// chain (the readable buffers taken as one byte stream) into p. It fails
// with ErrOutOfRange if the range reaches past ReadableLen, or with the
// address space's error (a *dma.Fault) or a *memory.AccessError; p may
// then be partly filled.
func (c *Chain) ReadAt(p []byte, off uint64) error {
	return c.access(c.Readable(), c.readLen, off, uint64(len(p)), func(iova uint64, lo, hi uint64) error {
		return c.g.read(p[lo:hi], iova)
	})
}

// WriteAt copies p to offset off of the writable part of the chain. Its
// errors are those of ReadAt; a prefix of p may have been written.
func (c *Chain) WriteAt(p []byte, off uint64) error {
	return c.access(c.Writable(), c.writeLen, off, uint64(len(p)), func(iova uint64, lo, hi uint64) error {
		return c.g.write(p[lo:hi], iova)
	})
}

// ReadableSlices appends to dst the guest-RAM slices backing bytes
// [off, off+n) of the readable part, one per contiguous translation, for
// I/O straight from guest memory (pwritev). The slices alias guest RAM.
// Errors are those of ReadAt.
func (c *Chain) ReadableSlices(dst [][]byte, off, n uint64) ([][]byte, error) {
	err := c.access(c.Readable(), c.readLen, off, n, func(iova uint64, lo, hi uint64) (err error) {
		dst, err = dma.Slices(dst, c.g.as, c.g.mem, iova, hi-lo, dma.Read)
		return err
	})
	return dst, err
}

// WritableSlices appends to dst the guest-RAM slices backing bytes
// [off, off+n) of the writable part, for I/O straight into guest memory
// (preadv). Errors are those of ReadAt.
func (c *Chain) WritableSlices(dst [][]byte, off, n uint64) ([][]byte, error) {
	err := c.access(c.Writable(), c.writeLen, off, n, func(iova uint64, lo, hi uint64) (err error) {
		dst, err = dma.Slices(dst, c.g.as, c.g.mem, iova, hi-lo, dma.Write)
		return err
	})
	return dst, err
}

// access calls fn for every piece of [off, off+n) of the byte stream made
// of descs (total bytes), with the piece's IOVA and its range [lo, hi)
// relative to off.
func (c *Chain) access(descs []Descriptor, total, off, n uint64, fn func(iova, lo, hi uint64) error) error {
	if off > total || n > total-off {
		return fmt.Errorf("%w: [%#x, +%#x) of %#x bytes (chain %d)", ErrOutOfRange, off, n, total, c.Head)
	}
	var done uint64
	for _, d := range descs {
		if done == n {
			break
		}
		l := uint64(d.Len)
		if off >= l {
			off -= l
			continue
		}
		k := min(l-off, n-done)
		if err := fn(d.Addr+off, done, done+k); err != nil {
			return err
		}
		done += k
		off = 0
	}
	return nil
}

// String summarises the chain for messages: head and buffers.
func (c *Chain) String() string {
	return fmt.Sprintf("chain %d: %d readable (%d bytes), %d writable (%d bytes)", c.Head, c.nRead, c.readLen, len(c.Descs)-c.nRead, c.writeLen)
}

// walkChain fills c with the chain starting at head of the descriptor
// table at desc (size entries). indirect says whether INDIRECT_DESC was
// negotiated. It reads every descriptor through g exactly once.
func walkChain(c *Chain, g guest, queue int, desc uint64, size uint16, head uint16, indirect bool) error {
	c.reset(g, head)
	fail := func(err error, format string, args ...any) error {
		return &ChainError{Queue: queue, Head: head, Reason: fmt.Sprintf(format, args...), Err: err}
	}
	table, tsize, idx := desc, uint32(size), uint32(head)
	limit, count, inIndirect := uint32(size), uint32(0), false
	var raw [DescriptorSize]byte
	for {
		if idx >= tsize {
			return fail(nil, "descriptor index %d is outside its table of %d", idx, tsize)
		}
		if count++; count > limit {
			return fail(nil, "chain is longer than %d descriptors (a loop?)", limit)
		}
		addr := table + uint64(idx)*DescriptorSize
		if err := g.read(raw[:], addr); err != nil {
			return fail(err, "reading descriptor %d at IOVA %#x", idx, addr)
		}
		d := DecodeDescriptor(raw[:])
		if d.Flags&DescFIndirect != 0 {
			switch {
			case !indirect:
				return fail(nil, "descriptor %d is indirect but VIRTIO_F_INDIRECT_DESC was not negotiated", idx)
			case inIndirect:
				return fail(nil, "indirect descriptor %d inside an indirect table", idx)
			case d.Flags&DescFNext != 0:
				return fail(nil, "descriptor %d has both INDIRECT and NEXT", idx)
			case d.Len == 0 || d.Len%DescriptorSize != 0:
				return fail(nil, "indirect table [%#x, +%#x) is not a whole number of descriptors", d.Addr, d.Len)
			case d.Len/DescriptorSize > MaxIndirectDescriptors:
				return fail(nil, "indirect table [%#x, +%#x) has more than %d descriptors", d.Addr, d.Len, MaxIndirectDescriptors)
			}
			table, tsize, idx = d.Addr, d.Len/DescriptorSize, 0
			limit, count, inIndirect = tsize, 0, true
			continue
		}
		if d.Writable() {
			c.writeLen += uint64(d.Len)
		} else {
			if c.nRead != len(c.Descs) {
				return fail(nil, "device-readable descriptor %d follows a device-writable one", idx)
			}
			c.readLen += uint64(d.Len)
			c.nRead++
		}
		c.Descs = append(c.Descs, d)
		if d.Flags&DescFNext == 0 {
			return nil
		}
		idx = uint32(d.Next)
	}
}
