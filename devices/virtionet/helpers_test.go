package virtionet_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/devices/virtionet"
	"github.com/govmm/govmm/dma"
	"golang.org/x/sys/unix"
)

const iovaBase = 0x40_0000_0000

var netBDF = pci.BDF{Device: 3}

// etherType marks the test's frames (IEEE 802 local experimental).
const etherType = 0x88b5

// frame returns an Ethernet frame of n bytes (n >= 14) to dst with a
// payload derived from seed.
func frame(n int, seed byte) []byte {
	f := make([]byte, n)
	copy(f, []byte{0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2})
	binary.BigEndian.PutUint16(f[12:], etherType)
	for i := 14; i < n; i++ {
		f[i] = seed + byte(i*7)
	}
	return f
}

// hdrBytes encodes h.
func hdrBytes(h virtionet.Header) []byte {
	b := make([]byte, virtionet.HeaderSize)
	h.Encode(b)
	return b
}

// socketPair returns the device's end (for virtionet.New) and the test's
// end (a blocking SOCK_SEQPACKET descriptor, closed at cleanup).
func socketPair(t testing.TB) (*os.File, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[1]) })
	return os.NewFile(uintptr(fds[0]), "socketpair"), fds[1]
}

// peer is the host side of a socketpair back end.
type peer struct {
	fd  int
	buf []byte
}

// send writes one header+frame datagram.
func (p *peer) send(t testing.TB, h virtionet.Header, f []byte) {
	t.Helper()
	if _, err := unix.Write(p.fd, append(hdrBytes(h), f...)); err != nil {
		t.Fatal(err)
	}
}

// recv reads the next datagram and splits it into header and frame.
func (p *peer) recv(t testing.TB) (virtionet.Header, []byte) {
	t.Helper()
	if p.buf == nil {
		p.buf = make([]byte, 1<<17)
	}
	n, err := unix.Read(p.fd, p.buf)
	if err != nil {
		t.Fatal(err)
	}
	h, err := virtionet.DecodeHeader(p.buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	return h, append([]byte(nil), p.buf[virtionet.HeaderSize:n]...)
}

type rig struct {
	net  *virtionet.Net
	tr   *virtio.Transport
	m    *virtiotest.Machine
	drv  *virtiotest.Driver
	rx   *virtiotest.Queue
	tx   *virtiotest.Queue
	peer *peer

	posted map[uint16][]virtiotest.Buf // receive chains by head
	// lax skips the check that nothing was written past a used length:
	// the device MAY write more (§2.7.8.1), and does when it reuses a
	// chain that held a dropped frame.
	lax bool

	mu   sync.Mutex
	errs []error
}

type setup struct {
	opts     virtionet.Options
	want     uint64 // features the driver accepts
	dev, drv dma.AddressSpace
	iova     uint64
	sndbuf   int // SO_SNDBUF of the device's socket, 0: default
}

// newRig brings a device up on a socketpair and initialises it as
// Linux's virtio_net does: features, receiveq1 and transmitq1, DRIVER_OK.
func newRig(t testing.TB, s setup) *rig {
	t.Helper()
	f, fd := socketPair(t)
	if s.sndbuf != 0 {
		if err := unix.SetsockoptInt(int(f.Fd()), unix.SOL_SOCKET, unix.SO_SNDBUF, s.sndbuf); err != nil {
			t.Fatal(err)
		}
	}
	n, err := virtionet.New(f, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	r := attach(t, n, s)
	r.peer = &peer{fd: fd}
	return r
}

// attach puts n on a machine behind s.dev and brings it up with a driver.
func attach(t testing.TB, n *virtionet.Net, s setup) *rig {
	t.Helper()
	r := &rig{net: n, posted: map[uint16][]virtiotest.Buf{}}
	var err error
	if r.m, err = virtiotest.NewMachine(64 << 20); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.m.Close() })
	r.tr, err = virtio.New(n, virtio.Config{Memory: r.m.Mem, MSI: r.m.MSI, DMA: s.dev, OnError: func(err error) {
		r.mu.Lock()
		r.errs = append(r.errs, err)
		r.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.tr.Close(); n.Close() })
	if err := r.m.Seg.Add(netBDF, r.tr); err != nil {
		t.Fatal(err)
	}
	drvAS, iova := s.drv, s.iova
	if drvAS == nil {
		drvAS, iova = dma.Identity{}, 16<<20
	}
	if r.drv, err = r.m.Probe(netBDF, drvAS, iova, 32<<20); err != nil {
		t.Fatal(err)
	}
	want := s.want
	if want == 0 {
		want = ^uint64(0)
	}
	if s.dev != nil {
		want |= virtio.FeatureAccessPlatform // behind an IOMMU the driver must accept it
	}
	r.start(t, want)
	return r
}

func (r *rig) start(t testing.TB, want uint64) {
	t.Helper()
	if _, err := r.drv.Init(want); err != nil {
		t.Fatal(err)
	}
	var err error
	if r.rx, err = r.drv.SetupQueue(virtionet.ReceiveQueue, 0); err != nil {
		t.Fatal(err)
	}
	if r.tx, err = r.drv.SetupQueue(virtionet.TransmitQueue, 0); err != nil {
		t.Fatal(err)
	}
	r.drv.DriverOK()
	r.posted = map[uint16][]virtiotest.Buf{}
}

func (r *rig) errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// post adds one receive chain made of buffers of the given sizes (no
// kick).
func (r *rig) post(t testing.TB, sizes ...uint32) {
	t.Helper()
	var bufs []virtiotest.Buf
	for _, n := range sizes {
		bufs = append(bufs, virtiotest.Buf{Write: true, Len: n})
	}
	head, err := r.rx.Add(bufs, false)
	if err != nil {
		t.Fatal(err)
	}
	r.posted[head] = bufs
}

// postLinux posts count receive chains shaped as Linux's virtio_net
// does for the negotiated features (add_recvbuf_mergeable: one 1536-byte
// buffer; add_recvbuf_small: header and a 1518-byte frame in one buffer;
// add_recvbuf_big: the header, then pages) and kicks.
func (r *rig) postLinux(t testing.TB, count int) {
	t.Helper()
	f := r.drv.Features
	if f&virtionet.FeatureMrgRxBuf == 0 && f&(virtionet.FeatureGuestTSO4|virtionet.FeatureGuestTSO6) != 0 {
		count = min(count, int(r.rx.Size)/18) // 18 descriptors per chain
	}
	for range count {
		switch {
		case f&virtionet.FeatureMrgRxBuf != 0:
			r.post(t, 1536)
		case f&(virtionet.FeatureGuestTSO4|virtionet.FeatureGuestTSO6) != 0:
			sizes := []uint32{virtionet.HeaderSize, 4096 - virtionet.HeaderSize}
			for range 16 {
				sizes = append(sizes, 4096)
			}
			r.post(t, sizes...)
		default:
			r.post(t, virtionet.HeaderSize+1518)
		}
	}
	r.rx.Kick()
}

// received is one frame as the driver sees it.
type received struct {
	hdr   virtionet.Header
	frame []byte
	lens  []uint32 // used length of each buffer it spans
}

// receive waits for the next used receive chain(s) making one frame and
// reads it as Linux's receive_mergeable/receive_small do.
func (r *rig) receive(t testing.TB) received {
	t.Helper()
	var got received
	var data []byte
	want := 1
	for len(got.lens) < want {
		head, n, err := r.rx.Wait()
		if err != nil {
			t.Fatal(err)
		}
		bufs, ok := r.posted[head]
		if !ok {
			t.Fatalf("used head %d was never posted", head)
		}
		delete(r.posted, head)
		var all []byte
		for _, b := range bufs {
			p, err := r.rx.Contents(b)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, p...)
		}
		if uint64(n) > uint64(len(all)) {
			t.Fatalf("used length %d > chain %d", n, len(all))
		}
		if rest := all[n:]; !r.lax && !bytes.Equal(rest, bytes.Repeat([]byte{virtiotest.Poison}, len(rest))) {
			t.Fatalf("chain %d: bytes written past the used length %d", head, n)
		}
		data = append(data, all[:n]...)
		got.lens = append(got.lens, n)
		if len(got.lens) == 1 {
			if n == 0 {
				return got // an unusable buffer handed back
			}
			if got.hdr, err = virtionet.DecodeHeader(all[:n]); err != nil {
				t.Fatal(err)
			}
			if r.drv.Features&virtionet.FeatureMrgRxBuf != 0 {
				want = int(got.hdr.NumBuffers)
			}
		}
	}
	got.frame = data[virtionet.HeaderSize:]
	return got
}

// transmit queues hdr+frame on transmitq as the given buffers (sizes
// split the bytes; the rest goes last) and kicks; it does not wait.
func (r *rig) transmit(t testing.TB, h []byte, f []byte, split []int, indirect bool) uint16 {
	t.Helper()
	all := append(append([]byte(nil), h...), f...)
	var bufs []virtiotest.Buf
	for _, s := range split {
		if s > len(all) {
			break
		}
		bufs = append(bufs, virtiotest.Buf{Data: all[:s]})
		all = all[s:]
	}
	if len(all) > 0 || len(bufs) == 0 {
		bufs = append(bufs, virtiotest.Buf{Data: all})
	}
	head, err := r.tx.Add(bufs, indirect)
	if err != nil {
		t.Fatal(err)
	}
	r.tx.Kick()
	return head
}

func yield() { runtime.Gosched() }

func writeRaw(fd int, p []byte) (int, error) { return unix.Write(fd, p) }
