package virtioconsole_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/devices/virtioconsole"
	"github.com/govmm/govmm/dma"
)

const iovaBase = 0x40_0000_0000

var conBDF = pci.BDF{Device: 7}

// sink is a concurrency-safe io.Writer that lets a test wait for output.
type sink struct {
	mu   sync.Mutex
	cond *sync.Cond
	buf  bytes.Buffer
	err  error // returned by every Write when set
}

func newSink() *sink {
	s := &sink{}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	s.buf.Write(p)
	s.cond.Broadcast()
	return len(p), nil
}

func (s *sink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

type rig struct {
	con *virtioconsole.Console
	tr  *virtio.Transport
	m   *virtiotest.Machine
	drv *virtiotest.Driver
	rx  *virtiotest.Queue
	tx  *virtiotest.Queue
}

// newRig brings a console up behind devAS (nil: no IOMMU) with a driver
// that uses drvAS from iova, and sets up receiveq and transmitq as
// Linux's virtio_console does (both queues, then DRIVER_OK).
func newRig(t testing.TB, con *virtioconsole.Console, devAS, drvAS dma.AddressSpace, iova uint64) *rig {
	t.Helper()
	r := &rig{con: con}
	var err error
	if r.m, err = virtiotest.NewMachine(32 << 20); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.m.Close() })
	if r.tr, err = virtio.New(con, virtio.Config{Memory: r.m.Mem, MSI: r.m.MSI, DMA: devAS}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.tr.Close(); con.Close() })
	if err := r.m.Seg.Add(conBDF, r.tr); err != nil {
		t.Fatal(err)
	}
	if drvAS == nil {
		drvAS, iova = dma.Identity{}, 16<<20
	}
	if r.drv, err = r.m.Probe(conBDF, drvAS, iova, 16<<20); err != nil {
		t.Fatal(err)
	}
	r.start(t)
	return r
}

// start (re)initialises the device and its two queues.
func (r *rig) start(t testing.TB) {
	t.Helper()
	if _, err := r.drv.Init(^uint64(0)); err != nil {
		t.Fatal(err)
	}
	var err error
	if r.rx, err = r.drv.SetupQueue(virtioconsole.ReceiveQueue, 0); err != nil {
		t.Fatal(err)
	}
	if r.tx, err = r.drv.SetupQueue(virtioconsole.TransmitQueue, 0); err != nil {
		t.Fatal(err)
	}
	r.drv.DriverOK()
}

// post adds one receive buffer of n bytes to receiveq, records it in
// bufs by head, and kicks.
func (r *rig) post(t testing.TB, bufs map[uint16]virtiotest.Buf, n uint32) {
	t.Helper()
	b := []virtiotest.Buf{{Write: true, Len: n}}
	head, err := r.rx.Add(b, false)
	if err != nil {
		t.Fatal(err)
	}
	bufs[head] = b[0]
	r.rx.Kick()
}

// receive waits for the next used receive buffer and returns its bytes.
func (r *rig) receive(t testing.TB, bufs map[uint16]virtiotest.Buf) []byte {
	t.Helper()
	head, n, err := r.rx.Wait()
	if err != nil {
		t.Fatal(err)
	}
	b, ok := bufs[head]
	if !ok {
		t.Fatalf("used head %d was never posted", head)
	}
	delete(bufs, head)
	p, err := r.rx.Contents(b)
	if err != nil {
		t.Fatal(err)
	}
	if n > b.Len {
		t.Fatalf("used length %d > buffer %d", n, b.Len)
	}
	return p[:n]
}
