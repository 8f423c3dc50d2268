package virtionet

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tun offload flags for TUNSETOFFLOAD (linux/if_tun.h): what the reader
// of the tap (the device, on behalf of the driver) accepts.
const (
	tunFCsum = 0x01 // TUN_F_CSUM: partial checksums
	tunFTSO4 = 0x02 // TUN_F_TSO4
	tunFTSO6 = 0x04 // TUN_F_TSO6
)

// backend is the host side of the device: a non-blocking, pollable file
// descriptor on which every frame is a HeaderSize-byte virtio_net_hdr
// followed by the Ethernet frame, one frame per read or write (a tap
// with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR and a 12-byte vnet header, or a
// datagram or SOCK_SEQPACKET socket).
type backend struct {
	f    *os.File
	rc   syscall.RawConn
	tap  bool   // a tap: TUNSETOFFLOAD applies
	name string // interface name, or the file's name
	rd   readOp
	wr   writeOp
}

// openTap attaches to (or creates) the tap interface name.
func openTap(name string) (*backend, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("virtionet: opening /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("virtionet: tap name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("virtionet: TUNSETIFF %q (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR): %w", name, err)
	}
	b, err := newBackend(fd, "tap "+ifr.Name(), true)
	if err != nil {
		return nil, err
	}
	b.name = ifr.Name()
	return b, nil
}

// fromFile takes over f: it duplicates the descriptor, makes the copy
// non-blocking and closes f. A tap must have IFF_VNET_HDR.
func fromFile(f *os.File) (*backend, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("virtionet: %s: %w", f.Name(), err)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, fmt.Errorf("virtionet: %s: %w", f.Name(), err)
	}
	if derr != nil {
		return nil, fmt.Errorf("virtionet: duplicating %s: %w", f.Name(), derr)
	}
	name := f.Name()
	f.Close()
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("virtionet: %s: %w", name, err)
	}
	tap := false
	var ifr unix.Ifreq
	if err := unix.IoctlIfreq(fd, unix.TUNGETIFF, &ifr); err == nil {
		flags := ifr.Uint16()
		if flags&unix.IFF_TAP == 0 || flags&unix.IFF_VNET_HDR == 0 || flags&unix.IFF_NO_PI == 0 {
			unix.Close(fd)
			return nil, fmt.Errorf("virtionet: %s (%s) is not a tap with IFF_NO_PI and IFF_VNET_HDR (flags %#x)", name, ifr.Name(), flags)
		}
		tap, name = true, ifr.Name()
	}
	b, err := newBackend(fd, name, tap)
	if err != nil {
		return nil, err
	}
	b.name = name
	return b, nil
}

// newBackend wraps the non-blocking fd; on failure it closes fd.
func newBackend(fd int, name string, tap bool) (*backend, error) {
	if tap {
		if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, HeaderSize); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("virtionet: TUNSETVNETHDRSZ %d on %s: %w", HeaderSize, name, err)
		}
		if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, 0); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("virtionet: TUNSETOFFLOAD on %s: %w", name, err)
		}
	}
	f := os.NewFile(uintptr(fd), name)
	if err := f.SetDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, fmt.Errorf("virtionet: %s cannot be polled (a tap, socket or pipe is needed): %w", name, err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("virtionet: %s: %w", name, err)
	}
	b := &backend{f: f, rc: rc, tap: tap, name: name}
	b.rd.fn, b.wr.fn = b.rd.do, b.wr.do
	return b, nil
}

// setOffload tells a tap which offloads the driver accepts on receive
// (TUNSETOFFLOAD), from the negotiated features.
func (b *backend) setOffload(features uint64) error {
	if !b.tap {
		return nil
	}
	var fl int
	if features&FeatureGuestCsum != 0 {
		fl |= tunFCsum
		if features&FeatureGuestTSO4 != 0 {
			fl |= tunFTSO4
		}
		if features&FeatureGuestTSO6 != 0 {
			fl |= tunFTSO6
		}
	}
	var err error
	if cerr := b.rc.Control(func(fd uintptr) { err = unix.IoctlSetInt(int(fd), unix.TUNSETOFFLOAD, fl) }); cerr != nil {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("virtionet: TUNSETOFFLOAD %#x on %s: %w", fl, b.name, err)
	}
	return nil
}

// errWouldBlock reports a transfer that could not be done without
// waiting.
var errWouldBlock = errors.New("virtionet: back end would block")

// Errors of I/O stopped by stopIO or close.
var (
	errDeadline = os.ErrDeadlineExceeded
	errClosed   = os.ErrClosed
)

// writev writes one frame from iov; with wait false it returns
// errWouldBlock rather than wait for room. Only one goroutine at a time
// may call it (the transmitter, or its waiter).
func (b *backend) writev(iov []unix.Iovec, wait bool) (int, error) {
	op := &b.wr
	op.iov, op.wait, op.n, op.err = iov, wait, 0, nil
	if err := b.rc.Write(op.fn); err != nil {
		return 0, err
	}
	return op.n, op.err
}

// writeOp is the state of one writev, kept in the backend so that the
// poller's callback is allocated once.
type writeOp struct {
	iov  []unix.Iovec
	wait bool
	n    int
	err  error
	fn   func(uintptr) bool
}

func (op *writeOp) do(fd uintptr) bool {
	op.n, op.err = rawv(unix.SYS_WRITEV, fd, op.iov)
	if op.err == unix.EAGAIN {
		if !op.wait {
			op.err = errWouldBlock
			return true
		}
		return false
	}
	return true
}

// rawv is readv(2) or writev(2) on iovecs the caller built (no
// allocation, unlike unix.Readv).
func rawv(trap, fd uintptr, iov []unix.Iovec) (int, error) {
	var p unsafe.Pointer
	if len(iov) > 0 {
		p = unsafe.Pointer(&iov[0])
	}
	for {
		n, _, e := unix.Syscall(trap, fd, uintptr(p), uintptr(len(iov)))
		switch e {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		}
		return 0, e
	}
}

// iovec appends an iovec for p to iov (empty slices are skipped).
func iovec(iov []unix.Iovec, p []byte) []unix.Iovec {
	if len(p) == 0 {
		return iov
	}
	v := unix.Iovec{Base: &p[0]}
	v.SetLen(len(p))
	return append(iov, v)
}

// stopIO makes pending and future reads and writes return at once
// (deadline in the past); resumeIO undoes it.
func (b *backend) stopIO()   { b.f.SetDeadline(time.Unix(1, 0)) }
func (b *backend) resumeIO() { b.f.SetDeadline(time.Time{}) }

func (b *backend) close() error { return b.f.Close() }

// readFrame reads one frame into the iovecs build returns, calling build
// again before every attempt (so guest buffers are translated right
// before the system call) and idle once before the first wait for the
// back end. It returns the frame's full length, which exceeds the iovecs
// when the back end cut it, or build's error. Only the receiver calls
// it.
func (b *backend) readFrame(build func() ([]unix.Iovec, error), idle func()) (int, error) {
	op := &b.rd
	op.build, op.idle, op.n, op.err = build, idle, 0, nil
	if err := b.rc.Read(op.fn); err != nil {
		return 0, err
	}
	return op.n, op.err
}

// readOp is the state of one readFrame.
type readOp struct {
	build func() ([]unix.Iovec, error)
	idle  func()
	n     int
	err   error
	fn    func(uintptr) bool
}

func (op *readOp) do(fd uintptr) bool {
	iov, err := op.build()
	if err != nil {
		op.err = err
		return true
	}
	op.n, op.err = rawv(unix.SYS_READV, fd, iov)
	if op.err == unix.EAGAIN {
		if op.idle != nil {
			op.idle()
			op.idle = nil
		}
		return false
	}
	return true
}
