package virtioiommu

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/iovatree"
	"github.com/govmm/govmm/memory"
)

// Feature bits of the virtio-iommu (virtio 1.3 §5.13.3).
const (
	FeatureInputRange   uint64 = 1 << 0 // VIRTIO_IOMMU_F_INPUT_RANGE: input_range is valid
	FeatureDomainRange  uint64 = 1 << 1 // VIRTIO_IOMMU_F_DOMAIN_RANGE: domain_range is valid
	FeatureMapUnmap     uint64 = 1 << 2 // VIRTIO_IOMMU_F_MAP_UNMAP: MAP and UNMAP requests
	FeatureBypass       uint64 = 1 << 3 // VIRTIO_IOMMU_F_BYPASS: legacy bypass; never offered
	FeatureProbe        uint64 = 1 << 4 // VIRTIO_IOMMU_F_PROBE: PROBE requests, probe_size is valid
	FeatureMMIO         uint64 = 1 << 5 // VIRTIO_IOMMU_F_MMIO: the MAP flag MMIO
	FeatureBypassConfig uint64 = 1 << 6 // VIRTIO_IOMMU_F_BYPASS_CONFIG: bypass field, ATTACH_F_BYPASS

	// Features is what the device offers: everything but the legacy
	// BYPASS, which new devices should not offer together with
	// BYPASS_CONFIG (§5.13.3.2). The transport adds VERSION_1.
	Features = FeatureInputRange | FeatureDomainRange | FeatureMapUnmap | FeatureProbe | FeatureMMIO | FeatureBypassConfig
)

// Queue indices and sizes (virtio 1.3 §5.13.2).
const (
	RequestQueue = 0 // requestq
	EventQueue   = 1 // eventq

	RequestQueueSize = 256
	EventQueueSize   = 64
)

// ConfigSize is the size of struct virtio_iommu_config (virtio 1.3
// §5.13.4). Its layout, all little-endian:
//
//	0  le64 page_size_mask
//	8  le64 input_range.start
//	16 le64 input_range.end
//	24 le32 domain_range.start
//	28 le32 domain_range.end
//	32 le32 probe_size
//	36 u8   bypass
//	37 u8   reserved[3]
const ConfigSize = 40

// ConfigBypassOffset is the offset of the bypass field, the only one the
// driver may write.
const ConfigBypassOffset = 36

// Device is the virtio-iommu device (virtio 1.3 §5.13, device type 23): a
// virtio.Device back end to wrap in a virtio.Transport, plus one
// AddressSpace per endpoint for the devices behind it.
//
// All methods are safe for concurrent use.
type Device struct {
	cfg       Config
	mem       *memory.Memory
	granule   uint64
	input     Region
	resv      []resvRegion
	eps       map[uint32]*AddressSpace // fixed at New
	epList    []*AddressSpace          // ascending ID
	maxMaps   int
	bypass    atomic.Uint32 // the bypass configuration field, 0 or 1; written with mu held
	events    eventQueue
	errHook   atomic.Pointer[func(error)]
	faultHook atomic.Pointer[func(Fault)]

	mu        sync.Mutex
	active    bool   // between Activate and Reset
	features  uint64 // negotiated, valid while active
	domains   map[uint32]*domain
	nMappings int
	requests  [TypeProbe + 1]atomic.Uint64
	failed    atomic.Uint64

	// Scratch of the request queue's goroutine.
	chain   virtio.Chain
	removed []iovatree.Mapping
	props   [ProbePropertiesSize]byte
}

// New returns a virtio-iommu device for cfg (see Config.Validate for the
// errors). mem is guest RAM: endpoints in bypass mode report the identity
// over its regions to their Map notifiers; with nil they report nothing
// and leaving bypass mode unmaps the whole address space. Endpoints start
// unattached, in bypass mode when cfg.BypassDefault is set.
func New(cfg Config, mem *memory.Memory) (*Device, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Endpoints = slices.Clone(cfg.Endpoints)
	cfg.Reserved = slices.Clone(cfg.Reserved)
	d := &Device{
		cfg: cfg, mem: mem, granule: cfg.Granule(), input: cfg.InputRange(),
		resv: reservedRegions(cfg), eps: make(map[uint32]*AddressSpace, len(cfg.Endpoints)),
		maxMaps: cfg.maxMappings(), domains: map[uint32]*domain{},
	}
	if cfg.BypassDefault {
		d.bypass.Store(1)
	}
	for _, id := range cfg.Endpoints {
		as := newAddressSpace(d, id, d.unattachedMode())
		d.eps[id] = as
		d.epList = append(d.epList, as)
	}
	slices.SortFunc(d.epList, func(a, b *AddressSpace) int { return cmpEndpoint(a, b.id) })
	return d, nil
}

// Config returns the device's configuration (a copy).
func (d *Device) Config() Config {
	c := d.cfg
	c.Endpoints = slices.Clone(c.Endpoints)
	c.Reserved = slices.Clone(c.Reserved)
	return c
}

// AddressSpace returns the address space of endpoint, the one to give the
// endpoint's device model (virtio.Config.DMA for a virtio device). It
// fails with ErrNoEndpoint for an ID that is not in Config.Endpoints.
func (d *Device) AddressSpace(endpoint uint32) (*AddressSpace, error) {
	as, ok := d.eps[endpoint]
	if !ok {
		return nil, fmt.Errorf("%w: %#x", ErrNoEndpoint, endpoint)
	}
	return as, nil
}

// SetFaultHook sets a function called with every fault an endpoint's
// translation raises, on the goroutine that translated, whether or not the
// driver gets the record; nil removes it. It must not block or call into
// the device.
func (d *Device) SetFaultHook(fn func(Fault)) {
	if fn == nil {
		d.faultHook.Store(nil)
		return
	}
	d.faultHook.Store(&fn)
}

// SetErrorHook sets a function called with errors the guest does not see
// in a request status: notifier failures while an endpoint's state
// changes (DETACH, a bypass change, a reset), failures of unmap
// notifications and of rollbacks. nil removes it.
func (d *Device) SetErrorHook(fn func(error)) {
	if fn == nil {
		d.errHook.Store(nil)
		return
	}
	d.errHook.Store(&fn)
}

func (d *Device) report(err error) {
	if h := d.errHook.Load(); h != nil {
		(*h)(err)
	}
}

// Stats is a snapshot of the device's counters.
type Stats struct {
	// Requests counts the requests served, by type (index RequestType).
	// Index 0 counts the chains whose type is unknown or that have no
	// readable head or no room for a tail, all answered with used length
	// 0.
	Requests [TypeProbe + 1]uint64
	// Failed counts requests answered with a status other than OK, or
	// with used length 0.
	Failed uint64
	// Domains and Mappings are the current numbers of domains and of
	// mappings over all domains.
	Domains, Mappings int
	// FaultsReported counts fault records written to the event queue,
	// FaultsPending those waiting for a buffer, FaultsDropped those lost
	// (backlog full, or no event queue).
	FaultsReported, FaultsDropped uint64
	FaultsPending                 int
}

// Stats returns the device's counters.
func (d *Device) Stats() Stats {
	var s Stats
	for i := range d.requests {
		s.Requests[i] = d.requests[i].Load()
	}
	s.Failed = d.failed.Load()
	d.mu.Lock()
	s.Domains, s.Mappings = len(d.domains), d.nMappings
	d.mu.Unlock()
	s.FaultsReported, s.FaultsDropped = d.events.reported.Load(), d.events.dropped.Load()
	s.FaultsPending = d.events.pending()
	return s
}

// Type implements virtio.Device: virtio.TypeIOMMU (23).
func (d *Device) Type() virtio.Type { return virtio.TypeIOMMU }

// Features implements virtio.Device: Features.
func (d *Device) Features() uint64 { return Features }

// QueueSizes implements virtio.Device: the request queue and the event
// queue.
func (d *Device) QueueSizes() []uint16 { return []uint16{RequestQueueSize, EventQueueSize} }

// ConfigSize implements virtio.Device: ConfigSize.
func (d *Device) ConfigSize() int { return ConfigSize }

// ReadConfig implements virtio.Device: the bytes of struct
// virtio_iommu_config at off. bypass reads as the value that decides the
// behaviour of unattached endpoints.
func (d *Device) ReadConfig(off int, data []byte) {
	var b [ConfigSize]byte
	le := binary.LittleEndian
	le.PutUint64(b[0:], d.cfg.PageSizeMask)
	le.PutUint64(b[8:], d.input.First)
	le.PutUint64(b[16:], d.input.Last)
	le.PutUint32(b[24:], d.cfg.DomainRange[0])
	le.PutUint32(b[28:], d.cfg.DomainRange[1])
	le.PutUint32(b[32:], ProbePropertiesSize)
	b[ConfigBypassOffset] = byte(d.bypass.Load())
	if off >= 0 && off < len(b) {
		copy(data, b[off:])
	}
}

// WriteConfig implements virtio.Device. Only the bypass field is
// writable, only once the driver has negotiated
// VIRTIO_IOMMU_F_BYPASS_CONFIG (the device learns the negotiated features
// at DRIVER_OK, so earlier writes are ignored) and only with 0 or 1
// (virtio 1.3 §5.13.4.1); anything else is ignored. A change moves every
// unattached endpoint into or out of bypass mode at once.
func (d *Device) WriteConfig(off int, data []byte) {
	if off > ConfigBypassOffset || off+len(data) <= ConfigBypassOffset {
		return
	}
	v := data[ConfigBypassOffset-off]
	if v > 1 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.active || d.features&FeatureBypassConfig == 0 {
		return
	}
	d.setBypassLocked(v)
}

// setBypassLocked sets the bypass field and moves the unattached endpoints
// accordingly. mu held.
func (d *Device) setBypassLocked(v uint8) {
	if uint32(v) == d.bypass.Load() {
		return
	}
	d.bypass.Store(uint32(v))
	to := d.unattachedMode()
	for _, ep := range d.epList {
		if ep.dom != nil {
			continue
		}
		from := ep.viewLocked()
		ep.mu.Lock()
		ep.mode = to
		ep.mu.Unlock()
		if err := d.moveView(ep, from, ep.viewLocked()); err != nil {
			d.report(err)
		}
	}
}

// unattachedMode is the mode of an endpoint that is not attached: bypass
// when the bypass field is 1 (BYPASS_CONFIG is always offered, so the
// field applies whether or not the driver negotiated it, §5.13.6).
func (d *Device) unattachedMode() mode {
	if d.bypass.Load() == 1 {
		return modeBypass
	}
	return modeBlocked
}

// Activate implements virtio.Device: it records the negotiated features
// and starts fault reporting on the event queue.
func (d *Device) Activate(a *virtio.Activation) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.active, d.features = true, a.Features
	var evq *virtio.Queue
	if len(a.Queues) > EventQueue {
		evq = a.Queues[EventQueue]
	}
	d.events.activate(evq)
	return nil
}

// Process implements virtio.Device: it serves the requests on the request
// queue, or fills the event queue's buffers with pending fault records.
func (d *Device) Process(q *virtio.Queue) error {
	if q.Index() == EventQueue {
		return d.events.process(q)
	}
	for {
		ok, err := q.Pop(&d.chain)
		if err != nil || !ok {
			return err
		}
		used := d.serve(&d.chain)
		if err := q.Push(d.chain.Head, used); err != nil {
			return err
		}
	}
}

// Reset implements virtio.Device (a device reset, virtio 1.3 §5.13.5):
// every endpoint is detached and every domain destroyed, pending fault
// records are forgotten and the negotiated features cleared. The bypass
// field keeps its value (§5.13.4.2: it should not change on device reset).
func (d *Device) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.resetLocked()
}

// SystemReset is a reset of the whole machine: Reset, and the bypass field
// back to Config.BypassDefault (§5.13.4.2: restored on system reset). The
// VMM calls it when the guest reboots.
func (d *Device) SystemReset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.resetLocked()
	var v uint8
	if d.cfg.BypassDefault {
		v = 1
	}
	d.setBypassLocked(v)
}

func (d *Device) resetLocked() {
	d.events.reset()
	d.active, d.features = false, 0
	for _, ep := range d.epList {
		if ep.dom != nil {
			d.detachLocked(ep)
		}
	}
	clear(d.domains)
	d.nMappings = 0
	d.removed = nil
}

// ServeOnNotify implements virtio.NotifyServer: the request queue is served
// on the thread of the driver's notification. Linux waits for every
// request by polling the used ring with the request lock held and
// interrupts off (viommu_sync_req), so the reply is ready before its first
// look, and no other host thread has to run meanwhile. The event queue is
// filled from the translating devices' threads and keeps its goroutine.
func (d *Device) ServeOnNotify(i int) bool { return i == RequestQueue }
