package virtio_test

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/dma"
)

// TestNeedsReset: errors the driver caused set DEVICE_NEEDS_RESET, raise
// the configuration vector and are reported; a reset recovers.
func TestNeedsReset(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(r *rig, q *virtiotest.Queue, fa *virtiotest.Faulting)
		want    string
	}{
		{"descriptor loop", func(_ *rig, q *virtiotest.Queue, _ *virtiotest.Faulting) {
			q.PutDescriptor(0, virtio.Descriptor{Addr: 0x1000, Len: 4, Flags: virtio.DescFNext, Next: 1})
			q.PutDescriptor(1, virtio.Descriptor{Addr: 0x1000, Len: 4, Flags: virtio.DescFNext, Next: 0})
			q.Publish(0)
		}, "a loop"},
		{"ring behind a fault", func(_ *rig, q *virtiotest.Queue, fa *virtiotest.Faulting) {
			fa.SetFault(q.Avail, q.Avail+4096, dma.Read)
		}, "faulted"},
		{"buffer outside guest RAM", func(_ *rig, q *virtiotest.Queue, _ *virtiotest.Faulting) {
			// The echo device reads the buffer: outside RAM is a failed
			// request it cannot complete.
			q.PutDescriptor(5, virtio.Descriptor{Addr: 1 << 40, Len: 4})
			q.PutDescriptor(6, virtio.Descriptor{Addr: iovaBase, Len: 4, Flags: virtio.DescFWrite})
			q.PutDescriptor(5, virtio.Descriptor{Addr: 1 << 40, Len: 4, Flags: virtio.DescFNext, Next: 6})
			q.Publish(5)
		}, "outside"},
		{"idx jump", func(_ *rig, q *virtiotest.Queue, _ *virtiotest.Faulting) {
			q.SetAvailIdx(1000)
		}, "more than the queue size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fa := &virtiotest.Faulting{AS: virtiotest.Offset{}}
			r := newRig(t, newEcho(16), virtio.Config{DMA: fa}, nil, 0)
			qs := r.start(t, allFeatures)
			tc.corrupt(r, qs[0], fa)
			qs[0].Kick()
			s := waitStatus(r.drv, virtio.StatusDeviceNeedsReset)
			if s&virtio.StatusDriverOK == 0 {
				t.Fatalf("status %s", virtio.StatusString(s))
			}
			for r.m.MSI.Count(0) == 0 {
				yieldCPU()
			}
			if isr := r.drv.ReadISR(); isr&virtio.ISRConfig == 0 {
				t.Errorf("ISR %#x without the configuration bit", isr)
			}
			if errs := r.errors(); len(errs) == 0 || !strings.Contains(errs[0].Error(), tc.want) {
				t.Fatalf("reported %v, want %q", errs, tc.want)
			}
			// The driver cannot clear the bit ...
			r.drv.SetStatus(s &^ virtio.StatusDeviceNeedsReset)
			if r.drv.Status()&virtio.StatusDeviceNeedsReset == 0 {
				t.Fatal("driver cleared DEVICE_NEEDS_RESET")
			}
			// ... but a reset does, and the device works again.
			fa.SetFault(0, 0, 0)
			qs = r.start(t, allFeatures)
			if _, err := qs[0].Submit([]virtiotest.Buf{{Data: []byte("ok")}, {Write: true, Len: 2}}, false); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestActivateFailure: a device that refuses DRIVER_OK needs a reset.
func TestActivateFailure(t *testing.T) {
	dev := newEcho()
	dev.failNext.Store(true)
	r := newRig(t, dev, virtio.Config{}, nil, 0)
	if _, err := r.drv.Init(allFeatures); err != nil {
		t.Fatal(err)
	}
	if _, err := r.drv.SetupQueue(0, 0); err != nil {
		t.Fatal(err)
	}
	r.drv.DriverOK()
	if s := r.drv.Status(); s&virtio.StatusDeviceNeedsReset == 0 {
		t.Fatalf("status %s", virtio.StatusString(s))
	}
	if errs := r.errors(); len(errs) != 1 || !strings.Contains(errs[0].Error(), "activation refused") {
		t.Fatalf("reported %v", errs)
	}
}

// TestBadQueueSetup: a queue the driver set up wrong fails DRIVER_OK.
func TestBadQueueSetup(t *testing.T) {
	tests := []struct {
		name string
		off  uint64
		n    int
		v    uint64
	}{
		{"size not a power of 2", virtio.CommonQueueSize, 2, 100},
		{"size above the maximum", virtio.CommonQueueSize, 2, 512},
		{"misaligned descriptors", virtio.CommonQueueDesc, 4, 0x1008},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, newEcho(256), virtio.Config{}, nil, 0)
			d := r.drv
			if _, err := d.Init(allFeatures); err != nil {
				t.Fatal(err)
			}
			d.Write(d.Common+virtio.CommonQueueSelect, 2, 0)
			d.Write(d.Common+tc.off, tc.n, tc.v)
			d.Write(d.Common+virtio.CommonQueueEnable, 2, 1)
			d.DriverOK()
			if s := d.Status(); s&virtio.StatusDeviceNeedsReset == 0 {
				t.Fatalf("status %s", virtio.StatusString(s))
			}
			if r.dev.activated.Load() != 0 {
				t.Fatal("device activated with a bad queue")
			}
		})
	}
}

// TestConfigChange: ConfigChanged moves config_generation and fires the
// configuration vector once the driver is up.
func TestConfigChange(t *testing.T) {
	r := newRig(t, newEcho(), virtio.Config{}, nil, 0)
	g0 := r.drv.ConfigGeneration()
	r.t.ConfigChanged() // before DRIVER_OK: no interrupt
	if r.drv.ConfigGeneration() == g0 {
		t.Fatal("generation did not move")
	}
	r.start(t, allFeatures)
	r.t.ConfigChanged()
	if got := r.m.MSI.Count(0); got != 1 {
		t.Fatalf("configuration vector fired %d times", got)
	}
	if got := r.drv.ReadDeviceConfig(0, 8); got != 0x1122334455667788 {
		t.Fatalf("device config %#x", got)
	}
	r.drv.Write(r.drv.DeviceCfg+2, 2, 0xabcd)
	if got := r.drv.ReadDeviceConfig(0, 8); got != 0x11223344abcd7788 {
		t.Fatalf("device config after write %#x", got)
	}
}

// TestPCICfgWindow reads and writes the common configuration through
// the VIRTIO_PCI_CAP_PCI_CFG window in configuration space.
func TestPCICfgWindow(t *testing.T) {
	r := newRig(t, newEcho(), virtio.Config{}, nil, 0)
	d := r.drv
	if d.PCICfgCap == 0 {
		t.Fatal("no VIRTIO_PCI_CAP_PCI_CFG capability")
	}
	c := d.PCICfgCap
	window := func(off, n uint32) {
		d.SetCfg(c+4, 1, virtio.BARIndex)
		d.SetCfg(c+8, 4, off)
		d.SetCfg(c+12, 4, n)
	}
	d.Write(d.Common+virtio.CommonDeviceFeatureSelect, 4, 1)
	window(virtio.CommonDeviceFeature, 4)
	if got, want := uint64(d.Cfg(c+16, 4)), r.t.Offered()>>32; got != want {
		t.Fatalf("device_feature[1] through the window = %#x, want %#x", got, want)
	}
	window(virtio.CommonDeviceStatus, 1)
	d.SetCfg(c+16, 4, uint32(virtio.StatusAcknowledge))
	if s := d.Status(); s != virtio.StatusAcknowledge {
		t.Fatalf("status %s after a write through the window", virtio.StatusString(s))
	}
	// A window of a bad length or another BAR reads 0 and writes nothing.
	window(virtio.CommonDeviceStatus, 3)
	d.SetCfg(c+16, 4, 0)
	if got := d.Cfg(c+16, 4); got != 0 || d.Status() != virtio.StatusAcknowledge {
		t.Fatalf("bad window: read %#x, status %s", got, virtio.StatusString(d.Status()))
	}
	// The capability fields the driver must not change stay put.
	if typ := d.Cfg(c+3, 1); typ != virtio.PCICapPCICfg {
		t.Fatalf("cfg_type %d", typ)
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], 0)
	r.m.MMIO.Write(virtiotest.ECAMBase+pci.ECAMOffset(echoBDF, c+3), b[:1])
	if typ := d.Cfg(c+3, 1); typ != virtio.PCICapPCICfg {
		t.Fatalf("cfg_type writable: %d", typ)
	}
}

// TestIdentity checks the PCI identity of a modern virtio function.
func TestIdentity(t *testing.T) {
	r := newRig(t, newEcho(), virtio.Config{}, nil, 0)
	d := r.drv
	checks := []struct {
		name string
		off  int
		n    int
		want uint32
	}{
		{"vendor", pci.RegVendorID, 2, virtio.PCIVendorID},
		{"device", pci.RegDeviceID, 2, 0x1043},
		{"revision", pci.RegRevisionID, 1, 1},
		{"subsystem vendor", pci.RegSubsystemVendorID, 2, virtio.PCIVendorID},
		{"class", pci.RegClassCode + 1, 2, pci.ClassCommOther >> 8},
	}
	for _, c := range checks {
		if got := d.Cfg(c.off, c.n); got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, got, c.want)
		}
	}
	if d.Vectors != 2 {
		t.Errorf("%d MSI-X vectors, want 2", d.Vectors)
	}
	if d.NotifyMul != virtio.NotifyOffMultiplier || d.DeviceCfgLen != 8 {
		t.Errorf("notify multiplier %d, device config %d bytes", d.NotifyMul, d.DeviceCfgLen)
	}
}

func TestNewErrors(t *testing.T) {
	m, err := virtiotest.NewMachine(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tests := []struct {
		name string
		dev  virtio.Device
		cfg  virtio.Config
	}{
		{"nil device", nil, virtio.Config{Memory: m.Mem, MSI: m.MSI}},
		{"no memory", newEcho(), virtio.Config{MSI: m.MSI}},
		{"no MSI sender", newEcho(), virtio.Config{Memory: m.Mem}},
		{"no queue", &echo{}, virtio.Config{Memory: m.Mem, MSI: m.MSI}},
		{"queue size 3", newEcho(3), virtio.Config{Memory: m.Mem, MSI: m.MSI}},
		{"too many queues", newEcho(make([]uint16, 257)...), virtio.Config{Memory: m.Mem, MSI: m.MSI}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := virtio.New(tc.dev, tc.cfg); err == nil {
				t.Fatal("New succeeded")
			}
		})
	}
}
