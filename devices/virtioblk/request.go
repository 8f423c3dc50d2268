package virtioblk

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/govmm/govmm/devices/virtio"
	"golang.org/x/sys/unix"
	"unsafe"
)

// Request types (struct virtio_blk_req type, virtio 1.2 §5.2.6).
const (
	TypeIn          = 0  // VIRTIO_BLK_T_IN: read sectors
	TypeOut         = 1  // VIRTIO_BLK_T_OUT: write sectors
	TypeFlush       = 4  // VIRTIO_BLK_T_FLUSH
	TypeGetID       = 8  // VIRTIO_BLK_T_GET_ID: the serial number
	TypeGetLifetime = 10 // VIRTIO_BLK_T_GET_LIFETIME (unsupported)
	TypeDiscard     = 11 // VIRTIO_BLK_T_DISCARD
	TypeWriteZeroes = 13 // VIRTIO_BLK_T_WRITE_ZEROES
	TypeSecureErase = 14 // VIRTIO_BLK_T_SECURE_ERASE (unsupported)
)

// Request status values (the status byte, virtio 1.2 §5.2.6).
const (
	StatusOK     = 0 // VIRTIO_BLK_S_OK
	StatusIOErr  = 1 // VIRTIO_BLK_S_IOERR
	StatusUnsupp = 2 // VIRTIO_BLK_S_UNSUPP
)

// HeaderSize is the size of the device-readable request header: le32
// type, le32 reserved, le64 sector.
const HeaderSize = 16

// SegmentSize is the size of one struct virtio_blk_discard_write_zeroes:
// le64 sector, le32 num_sectors, le32 flags.
const SegmentSize = 16

// SegmentFlagUnmap is VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP.
const SegmentFlagUnmap = 1

// Header is the request header (the first 16 readable bytes).
type Header struct {
	Type   uint32
	Sector uint64
}

// ParseHeader decodes a request header from its 16 bytes.
func ParseHeader(b [HeaderSize]byte) Header {
	return Header{Type: binary.LittleEndian.Uint32(b[0:]), Sector: binary.LittleEndian.Uint64(b[8:])}
}

// Segment is one range of a DISCARD or WRITE_ZEROES request.
type Segment struct {
	Sector     uint64
	NumSectors uint32
	Flags      uint32
}

// ParseSegment decodes one struct virtio_blk_discard_write_zeroes.
func ParseSegment(b [SegmentSize]byte) Segment {
	le := binary.LittleEndian
	return Segment{Sector: le.Uint64(b[0:]), NumSectors: le.Uint32(b[8:]), Flags: le.Uint32(b[12:])}
}

// ErrMalformed is wrapped by the error of a request chain the device
// cannot even answer: no room for the status byte or no complete header
// (virtio 1.2 §5.2.6.1 makes both driver requirements). The queue stops
// and the device sets DEVICE_NEEDS_RESET.
var ErrMalformed = errors.New("virtioblk: malformed request")

// maxIovecs is IOV_MAX: the most buffers one preadv/pwritev takes.
const maxIovecs = 1024

// scratch is one queue's reusable request state.
type scratch struct {
	chain  virtio.Chain
	iov    [][]byte
	iovec  []unix.Iovec
	status [1]byte
}

// serve handles one request and returns the used length: the bytes
// written to the writable part, status byte included (§5.2.6). f is the
// negotiated feature set. An error means the status could not be
// reported; the queue must stop.
func (b *Block) serve(c *virtio.Chain, s *scratch, f uint64) (uint32, error) {
	wlen := c.WritableLen()
	if wlen == 0 {
		return 0, fmt.Errorf("%w: chain %d has no device-writable status byte", ErrMalformed, c.Head)
	}
	if c.ReadableLen() < HeaderSize {
		return 0, fmt.Errorf("%w: chain %d has %d readable bytes, fewer than the %d-byte header", ErrMalformed, c.Head, c.ReadableLen(), HeaderSize)
	}
	var raw [HeaderSize]byte
	status, written := uint8(StatusIOErr), uint64(0)
	if err := c.ReadAt(raw[:], 0); err == nil {
		status, written = b.execute(ParseHeader(raw), c, s, f, wlen-1)
	}
	s.status[0] = status
	if err := c.WriteAt(s.status[:], wlen-1); err != nil {
		return 0, fmt.Errorf("virtioblk: chain %d: writing the status byte: %w", c.Head, err)
	}
	return uint32(min(written+1, wlen)), nil
}

// execute runs request h; dlen is the writable bytes before the status
// byte. It returns the status and the data bytes written to the driver.
func (b *Block) execute(h Header, c *virtio.Chain, s *scratch, f uint64, dlen uint64) (uint8, uint64) {
	switch h.Type {
	case TypeIn:
		if err := b.rw(h.Sector, dlen, c, s, false); err != nil {
			return StatusIOErr, 0
		}
		return StatusOK, dlen
	case TypeOut:
		if b.ro {
			return StatusIOErr, 0 // §5.2.6.2: a write to a read-only device
		}
		if err := b.rw(h.Sector, c.ReadableLen()-HeaderSize, c, s, true); err != nil {
			return StatusIOErr, 0
		}
		if f&FeatureFlush == 0 {
			// Without FLUSH the driver expects write-through (§5.2.6.2).
			if unix.Fdatasync(b.fd) != nil {
				return StatusIOErr, 0
			}
		}
		return StatusOK, 0
	case TypeFlush:
		if f&FeatureFlush == 0 {
			return StatusUnsupp, 0
		}
		if unix.Fdatasync(b.fd) != nil {
			return StatusIOErr, 0
		}
		return StatusOK, 0
	case TypeGetID:
		n := min(dlen, SerialLen)
		if c.WriteAt(b.serial[:n], 0) != nil {
			return StatusIOErr, 0
		}
		return StatusOK, n
	case TypeDiscard, TypeWriteZeroes:
		return b.ranges(h.Type, c, f), 0
	}
	return StatusUnsupp, 0
}

// rw transfers n bytes between sectors from sector on and the chain's
// data buffers (writable for a read, readable after the header for a
// write). n must be a whole number of sectors inside the capacity.
func (b *Block) rw(sector, n uint64, c *virtio.Chain, s *scratch, write bool) error {
	if n%SectorSize != 0 {
		return fmt.Errorf("virtioblk: %d data bytes is not a whole number of sectors", n)
	}
	if sector > b.capacity || n/SectorSize > b.capacity-sector {
		return fmt.Errorf("virtioblk: sectors [%d, +%d) are beyond the capacity %d", sector, n/SectorSize, b.capacity)
	}
	var err error
	if write {
		s.iov, err = c.ReadableSlices(s.iov[:0], HeaderSize, n)
	} else {
		s.iov, err = c.WritableSlices(s.iov[:0], 0, n)
	}
	if err != nil {
		return err // a DMA fault: no I/O was done
	}
	off := int64(sector * SectorSize)
	iov := s.iov
	for len(iov) > 0 {
		k, err := s.transfer(b.fd, iov[:min(len(iov), maxIovecs)], off, write)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if k == 0 {
			return fmt.Errorf("virtioblk: image ended at byte %d", off)
		}
		off += int64(k)
		iov = advance(iov, k)
	}
	return nil
}

// transfer is one preadv or pwritev of bufs at off, through a reused
// iovec array so that the data path does not allocate.
func (s *scratch) transfer(fd int, bufs [][]byte, off int64, write bool) (int, error) {
	s.iovec = s.iovec[:0]
	for _, p := range bufs {
		v := unix.Iovec{Base: &p[0]}
		v.SetLen(len(p))
		s.iovec = append(s.iovec, v)
	}
	nr := uintptr(unix.SYS_PREADV)
	if write {
		nr = unix.SYS_PWRITEV
	}
	// The offset is passed as (low, high) halves; on 64-bit Linux the
	// low half is the whole offset.
	n, _, errno := unix.Syscall6(nr, uintptr(fd), uintptr(unsafe.Pointer(&s.iovec[0])), uintptr(len(s.iovec)), uintptr(off), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// advance drops the first k bytes of iov (a partial transfer).
func advance(iov [][]byte, k int) [][]byte {
	for k > 0 && len(iov) > 0 {
		if k < len(iov[0]) {
			iov[0] = iov[0][k:]
			return iov
		}
		k -= len(iov[0])
		iov = iov[1:]
	}
	for len(iov) > 0 && len(iov[0]) == 0 {
		iov = iov[1:]
	}
	return iov
}

// ranges serves DISCARD and WRITE_ZEROES: every segment is checked
// before any is executed (§5.2.6.2).
func (b *Block) ranges(typ uint32, c *virtio.Chain, f uint64) uint8 {
	feature, maxSeg, maxSectors := FeatureDiscard, MaxDiscardSeg, uint32(MaxDiscardSectors)
	if typ == TypeWriteZeroes {
		feature, maxSeg, maxSectors = FeatureWriteZeroes, MaxWriteZeroesSeg, MaxWriteZeroesSectors
	}
	if f&feature == 0 {
		return StatusUnsupp
	}
	if b.ro {
		return StatusIOErr
	}
	data := c.ReadableLen() - HeaderSize
	if data == 0 || data%SegmentSize != 0 || data/SegmentSize > uint64(maxSeg) {
		return StatusIOErr
	}
	var segs [MaxDiscardSeg]Segment
	n := int(data / SegmentSize)
	for i := range n {
		var raw [SegmentSize]byte
		if c.ReadAt(raw[:], HeaderSize+uint64(i)*SegmentSize) != nil {
			return StatusIOErr
		}
		sg := ParseSegment(raw)
		switch {
		case sg.Flags&^SegmentFlagUnmap != 0, typ == TypeDiscard && sg.Flags != 0:
			return StatusUnsupp // unknown flags, or unmap on a discard (§5.2.6.2)
		case sg.NumSectors > maxSectors,
			sg.Sector > b.capacity || uint64(sg.NumSectors) > b.capacity-sg.Sector:
			return StatusIOErr
		}
		segs[i] = sg
	}
	for _, sg := range segs[:n] {
		off, l := int64(sg.Sector*SectorSize), int64(sg.NumSectors)*SectorSize
		if l == 0 {
			continue
		}
		var err error
		switch {
		case typ == TypeDiscard:
			// A hint: a file system that cannot punch holes keeps the data.
			if err = punch(b.fd, off, l); err == unix.EOPNOTSUPP {
				err = nil
			}
		case sg.Flags&SegmentFlagUnmap != 0:
			if err = punch(b.fd, off, l); err == unix.EOPNOTSUPP {
				err = b.zero(off, l)
			}
		default:
			err = b.zero(off, l)
		}
		if err != nil {
			return StatusIOErr
		}
	}
	return StatusOK
}

func punch(fd int, off, l int64) error {
	return unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, l)
}

// zero makes [off, off+l) of the image read as zeroes, allocated.
func (b *Block) zero(off, l int64) error {
	err := unix.Fallocate(b.fd, unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, off, l)
	if err != unix.EOPNOTSUPP && err != unix.EINVAL {
		return err
	}
	for l > 0 {
		k := min(l, int64(len(zeroes)))
		n, err := unix.Pwrite(b.fd, zeroes[:k], off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		off, l = off+int64(n), l-int64(n)
	}
	return nil
}

var zeroes = make([]byte, 64<<10)
