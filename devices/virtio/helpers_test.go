package virtio_test

import (
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/dma"
)

// echo is a test device: every request's readable bytes are copied, in
// reverse order, into its writable buffers, and the used length is the
// number of bytes copied. Its 8-byte configuration holds a counter the
// driver may write.
type echo struct {
	queues    []uint16
	activated atomic.Int32
	resets    atomic.Int32
	processed atomic.Int64
	failNext  atomic.Bool // Activate fails once
	inline    []bool      // queues served on notify (virtio.NotifyServer)

	mu  sync.Mutex
	cfg [8]byte
	act *virtio.Activation
}

func newEcho(queues ...uint16) *echo {
	if len(queues) == 0 {
		queues = []uint16{256}
	}
	e := &echo{queues: queues}
	binary.LittleEndian.PutUint64(e.cfg[:], 0x1122334455667788)
	return e
}

func (e *echo) ServeOnNotify(i int) bool { return i < len(e.inline) && e.inline[i] }
func (e *echo) Type() virtio.Type        { return virtio.TypeConsole }
func (e *echo) Features() uint64         { return 1<<0 | virtio.FeatureRingPacked } // transport bits are ignored
func (e *echo) QueueSizes() []uint16     { return e.queues }
func (e *echo) ConfigSize() int          { return len(e.cfg) }
func (e *echo) ReadConfig(off int, p []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	copy(p, e.cfg[off:])
}
func (e *echo) WriteConfig(off int, p []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	copy(e.cfg[off:], p)
}

func (e *echo) Activate(a *virtio.Activation) error {
	if e.failNext.CompareAndSwap(true, false) {
		return errActivate
	}
	e.mu.Lock()
	e.act = a
	e.mu.Unlock()
	e.activated.Add(1)
	return nil
}

var errActivate = &activateError{}

type activateError struct{}

func (*activateError) Error() string { return "echo: activation refused" }

func (e *echo) Process(q *virtio.Queue) error {
	var c virtio.Chain
	for {
		ok, err := q.Pop(&c)
		if err != nil || !ok {
			return err
		}
		e.processed.Add(1)
		n := min(c.ReadableLen(), c.WritableLen())
		buf := make([]byte, n)
		if err := c.ReadAt(buf, 0); err != nil {
			return err
		}
		for i, j := 0, len(buf)-1; i < j; i, j = i+1, j-1 {
			buf[i], buf[j] = buf[j], buf[i]
		}
		if err := c.WriteAt(buf, 0); err != nil {
			return err
		}
		if err := q.Push(c.Head, uint32(n)); err != nil {
			return err
		}
	}
}

func (e *echo) Reset() {
	e.resets.Add(1)
	e.mu.Lock()
	e.act = nil
	e.mu.Unlock()
}

// rig is a machine with one echo device at 00:04.0.
type rig struct {
	m    *virtiotest.Machine
	t    *virtio.Transport
	dev  *echo
	drv  *virtiotest.Driver
	mu   sync.Mutex
	errs []error
}

var echoBDF = pci.BDF{Device: 4}

// iovaBase is where test drivers allocate IOVAs when the device is behind
// a translating address space: far above guest RAM, so a device that used
// an IOVA as a guest-physical address would fault.
const iovaBase = 0x40_0000_0000

// newRig builds the machine and the transport. as is the device's
// address space (nil: no IOMMU); the driver uses drvAS (Identity if nil).
func newRig(t testing.TB, dev *echo, cfg virtio.Config, drvAS dma.AddressSpace, iova uint64) *rig {
	t.Helper()
	m, err := virtiotest.NewMachine(32 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	r := &rig{m: m, dev: dev}
	cfg.Memory, cfg.MSI = m.Mem, m.MSI
	cfg.OnError = func(err error) {
		r.mu.Lock()
		r.errs = append(r.errs, err)
		r.mu.Unlock()
	}
	r.t, err = virtio.New(dev, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.t.Close() })
	if err := m.Seg.Add(echoBDF, r.t); err != nil {
		t.Fatal(err)
	}
	if drvAS == nil {
		drvAS = dma.Identity{}
	}
	if iova == 0 {
		iova = 16 << 20 // upper half of RAM
	}
	r.drv, err = m.Probe(echoBDF, drvAS, iova, 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// start negotiates want, sets up every queue and sets DRIVER_OK.
func (r *rig) start(t testing.TB, want uint64) []*virtiotest.Queue {
	t.Helper()
	if _, err := r.drv.Init(want); err != nil {
		t.Fatal(err)
	}
	var qs []*virtiotest.Queue
	for i := range r.dev.queues {
		q, err := r.drv.SetupQueue(i, 0)
		if err != nil {
			t.Fatal(err)
		}
		qs = append(qs, q)
	}
	r.drv.DriverOK()
	if s := r.drv.Status(); s&virtio.StatusDriverOK == 0 || s&virtio.StatusDeviceNeedsReset != 0 {
		t.Fatalf("status after DRIVER_OK = %s", virtio.StatusString(s))
	}
	return qs
}

// allFeatures is what a Linux driver accepts from a device that offers
// everything this package implements.
const allFeatures = ^uint64(0)

// waitStatus spins until device_status has bit set.
func waitStatus(drv *virtiotest.Driver, bit uint8) uint8 {
	for {
		if s := drv.Status(); s&bit != 0 {
			return s
		}
		runtime.Gosched()
	}
}

func yieldCPU() { runtime.Gosched() }
