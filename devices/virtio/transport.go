package virtio

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/govmm/govmm/devices/irq"
	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/memory"
)

// Config is how the VMM wires a Transport.
type Config struct {
	// Memory is guest RAM. Required.
	Memory *memory.Memory
	// DMA is the device's IOMMU address space (for VT-d, the one of the
	// function's requester ID). nil means the device is not behind an
	// IOMMU: addresses are guest-physical (dma.Identity). With a non-nil
	// DMA the transport offers VIRTIO_F_ACCESS_PLATFORM and refuses
	// FEATURES_OK unless the driver accepts it, so the device can never
	// bypass the IOMMU.
	DMA dma.AddressSpace
	// AccessPlatform offers VIRTIO_F_ACCESS_PLATFORM even when DMA is
	// nil (the driver may then decline it).
	AccessPlatform bool
	// MSI sends MSI-X messages that do not go through an irqfd (all of
	// them when Routes is nil). Required.
	MSI irq.MSISender
	// IOEvents, if not nil, receives one ioeventfd per queue at the
	// queue's notify address whenever the BAR is mapped.
	IOEvents irq.IOEvents
	// Routes, if not nil, binds one eventfd per MSI-X vector to a KVM MSI
	// route that follows the guest's MSI-X table.
	Routes irq.MSIRoutes
	// Class is the PCI class code; 0 picks the usual one for the device
	// type (mass storage for block, network for net, ...).
	Class uint32
	// DisableFeatures removes transport features from the offer
	// (FeatureEventIdx, FeatureIndirectDesc); VERSION_1 cannot be removed.
	DisableFeatures uint64
	// OnError, if not nil, is told every error the guest cannot see
	// directly: why DEVICE_NEEDS_RESET was set or FEATURES_OK refused, and
	// ioeventfd or irqfd registration failures. It may be called from
	// any goroutine and must not call back into the Transport.
	OnError func(error)
}

// Transport is the virtio over PCI transport of one device (virtio 1.2
// §4.1): a PCI function (it implements pci.Device and pci.BARObserver)
// with one 64-bit memory BAR holding the common, notify, ISR and device
// configuration structures and the MSI-X table, described by virtio
// vendor capabilities, plus the VIRTIO_PCI_CAP_PCI_CFG window.
//
// It negotiates features, tracks device_status, builds the device's
// Queues on DRIVER_OK, runs one goroutine per enabled queue that calls
// Device.Process after each notification, and raises the queue's MSI-X
// vector when the driver wants a used-buffer notification. Writing 0 to
// device_status resets everything and stops the goroutines before it
// returns.
//
// A Transport is safe for concurrent use by vCPU threads and device
// goroutines.
type Transport struct {
	dev      Device
	cs       *pci.ConfigSpace
	bar      barHandler
	mem      *memory.Memory
	dma      dma.AddressSpace // the IOMMU's, or dma.Identity
	behind   bool             // the device is behind an IOMMU
	offered  uint64
	vectors  *vectors
	bells    []*doorbell
	inline   []bool // per queue: served on the notifying thread (NotifyServer)
	ioevents irq.IOEvents
	onErr    func(error)

	mu         sync.Mutex // the common configuration and (de)activation
	common     commonCfg
	run        *run // queue goroutines of the current activation
	activeQs   []*Queue
	negotiated uint64

	status       atomic.Uint32
	generation   atomic.Uint32
	configVector atomic.Uint32
	queueVector  []atomic.Uint32
	isr          isr

	bellMu       sync.RWMutex // held for reading while ringing, for writing by Close
	ioMu         sync.Mutex   // ioeventfd registrations
	ioRegistered []uint64     // notify address registered per queue, 0 if none
	ioClosed     bool         // guarded by ioMu
	bellsClosed  bool         // guarded by bellMu
}

// New builds the PCI function for dev. The function is not placed
// anywhere yet: hand the Transport to pci.Segment.Add. It fails if a
// required Config field is missing, dev declares no queue or more than
// MaxQueues, a queue size that is not a power of 2 up to MaxQueueSize, a
// configuration larger than 4 KiB, or if eventfds cannot be created.
func New(dev Device, cfg Config) (*Transport, error) {
	if dev == nil || cfg.Memory == nil || cfg.MSI == nil {
		return nil, fmt.Errorf("virtio: New needs a device, guest memory and an MSI sender")
	}
	sizes := dev.QueueSizes()
	if len(sizes) == 0 || len(sizes) > MaxQueues {
		return nil, fmt.Errorf("virtio: %v device declares %d queues, want 1–%d", dev.Type(), len(sizes), MaxQueues)
	}
	for i, s := range sizes {
		if s == 0 || s&(s-1) != 0 || s > MaxQueueSize {
			return nil, fmt.Errorf("virtio: %v device queue %d: maximum size %d is not a power of 2 up to %d", dev.Type(), i, s, MaxQueueSize)
		}
	}
	if n := dev.ConfigSize(); n < 0 || n > NotifyOffset-DeviceCfgOffset {
		return nil, fmt.Errorf("virtio: %v device configuration of %d bytes is larger than 4 KiB", dev.Type(), n)
	}
	t := &Transport{
		dev: dev, mem: cfg.Memory, dma: cfg.DMA, behind: cfg.DMA != nil,
		ioevents: cfg.IOEvents, onErr: cfg.OnError,
		queueVector:  make([]atomic.Uint32, len(sizes)),
		ioRegistered: make([]uint64, len(sizes)),
	}
	if t.dma == nil {
		t.dma = dma.Identity{}
	}
	t.bar = barHandler{t}
	t.offered = dev.Features()&^reservedFeatures | transportFeatures&^(cfg.DisableFeatures&^FeatureVersion1)
	if !t.behind && !cfg.AccessPlatform {
		t.offered &^= FeatureAccessPlatform
	}
	t.common.queues = make([]queueRegs, len(sizes))
	for i, s := range sizes {
		t.common.queues[i].maxSize = s
	}
	t.common.reset()
	t.resetVectors()

	class := cfg.Class
	if class == 0 {
		class = defaultClass(dev.Type())
	}
	cs, err := pci.NewConfigSpace(pci.Header{
		VendorID: PCIVendorID, DeviceID: dev.Type().PCIDeviceID(), RevisionID: 1, Class: class,
		SubsystemVendorID: PCIVendorID, SubsystemID: pciSubsystemID,
	})
	if err != nil {
		return nil, err
	}
	t.cs = cs
	if err := cs.AddBAR(BARIndex, pci.BAR{Type: pci.BARMem64, Size: BARSize, Handler: t.bar}); err != nil {
		return nil, err
	}
	msix, err := pci.AddMSIX(cs, pci.MSIXConfig{
		Vectors: len(sizes) + 1, TableBAR: BARIndex, TableOffset: MSIXTableOffset, PBABAR: BARIndex, PBAOffset: MSIXPBAOffset,
	}, cfg.MSI)
	if err != nil {
		return nil, err
	}
	if err := t.addCapabilities(cs); err != nil {
		return nil, err
	}
	t.inline = inlineQueues(dev, len(sizes))
	for range sizes {
		d, err := newDoorbell(cfg.IOEvents != nil)
		if err != nil {
			t.closeBells()
			return nil, err
		}
		t.bells = append(t.bells, d)
	}
	if t.vectors, err = newVectors(cs, msix, len(sizes)+1, cfg.Routes, t.report); err != nil {
		t.closeBells()
		return nil, err
	}
	return t, nil
}

// pciSubsystemID is the subsystem ID of every function (virtio 1.2
// §4.1.2.1: 0x40 or higher for a non-transitional device).
const pciSubsystemID = 0x1100

func defaultClass(t Type) uint32 {
	switch t {
	case TypeBlock:
		return pci.ClassStorageSCSI
	case TypeNet:
		return pci.ClassNetEthernet
	case TypeConsole:
		return pci.ClassCommOther
	case TypeIOMMU:
		return pci.ClassSystemOther
	}
	return pci.ClassOther
}

// Config returns the function's configuration space (pci.Device).
func (t *Transport) Config() *pci.ConfigSpace { return t.cs }

// Device returns the back end.
func (t *Transport) Device() Device { return t.dev }

// Offered returns the feature bits offered to the driver.
func (t *Transport) Offered() uint64 { return t.offered }

// Negotiated returns the features the driver accepted, valid once the
// device is active (0 before DRIVER_OK and after a reset).
func (t *Transport) Negotiated() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.negotiated
}

// Status returns device_status (Status* bits).
func (t *Transport) Status() uint8 { return uint8(t.status.Load()) }

func (t *Transport) report(err error) {
	if t.onErr != nil {
		t.onErr(err)
	}
}

// queueInterrupt raises queue i's used-buffer notification.
func (t *Transport) queueInterrupt(i int) error {
	t.isr.set(ISRQueue)
	v := t.queueVector[i].Load()
	if v == NoVector || !t.vectors.enabled() {
		return nil // no vector: the driver polls, or uses the ISR
	}
	return t.vectors.fire(int(v))
}

// kick rings queue i's doorbell.
func (t *Transport) kick(i int) {
	t.bellMu.RLock()
	defer t.bellMu.RUnlock()
	if !t.bellsClosed && i >= 0 && i < len(t.bells) {
		t.bells[i].ring()
	}
}

// Close resets the device, stops its goroutines, unregisters the
// ioeventfds and irqfd routes and closes the eventfds. Remove the
// Transport from its segment (or stop the VM) first: guest accesses after
// Close do no harm, but the device no longer works. It always returns nil.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.reset()
	t.mu.Unlock()
	t.ioMu.Lock()
	if t.ioevents != nil {
		t.unregisterIOEvents()
	}
	t.ioClosed = true
	t.ioMu.Unlock()
	t.closeBells()
	t.vectors.close()
	return nil
}

func (t *Transport) closeBells() {
	t.bellMu.Lock()
	defer t.bellMu.Unlock()
	t.bellsClosed = true
	for _, d := range t.bells {
		d.close()
	}
}
