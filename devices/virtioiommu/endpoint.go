package virtioiommu

import (
	"errors"
	"fmt"
	"sync"

	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/notifier"
)

// mode is how an endpoint's DMA is translated (virtio 1.3 §5.13.6).
type mode uint8

const (
	// modeBlocked: not attached and not in bypass mode; every access
	// faults with reason DOMAIN.
	modeBlocked mode = iota
	// modeBypass: unattached with the bypass field at 1, or attached to a
	// bypass domain; every access is translated with the identity.
	modeBypass
	// modeTranslate: attached to a domain; accesses go through its
	// mappings.
	modeTranslate
)

func (m mode) String() string {
	switch m {
	case modeBypass:
		return "bypass"
	case modeTranslate:
		return "translated"
	}
	return "blocked"
}

// ErrNoEndpoint is returned (wrapped with the endpoint ID) by
// Device.AddressSpace for an endpoint that is not in Config.Endpoints: the
// host-side counterpart of VIRTIO_IOMMU_S_NOENT.
var ErrNoEndpoint = errors.New("virtioiommu: no such endpoint")

// ErrAccess is returned by Translate for an access that is neither
// dma.Read, dma.Write nor dma.ReadWrite.
var ErrAccess = errors.New("virtioiommu: invalid DMA access kind")

// ErrNoDeviceIOTLB is returned by Register for notifier.DevIOTLBUnmap: the
// virtio-iommu has no device-IOTLB (ATS) invalidation to deliver.
var ErrNoDeviceIOTLB = errors.New("virtioiommu: no device-IOTLB invalidations (DEVIOTLB_UNMAP) on a virtio-iommu")

// AddressSpace is the DMA address space of one endpoint behind the device
// (an endpoint ID, virtio 1.3 §5.13.6.3; for PCI the requester ID
// bus<<8 | devfn): the dma.AddressSpace the endpoint's device model
// translates its DMA through, and a notifier.Hub for host consumers (VFIO,
// vhost, an event log) that must follow the endpoint's mappings.
//
// Translation follows the endpoint's state (§5.13.6, "bypass mode"):
//
//   - attached to a domain: the IOVA must lie in a mapping of the domain
//     whose permission allows the access (MAP_F_READ for dma.Read,
//     MAP_F_WRITE for dma.Write); the guest-physical address is
//     phys_start + (IOVA - virt_start) and the length reaches at most the
//     end of that mapping;
//   - attached to a bypass domain, or unattached while the bypass
//     configuration field is 1: the identity;
//   - unattached with bypass 0: every access faults.
//
// A refused access returns a *dma.Fault and is reported to the driver as a
// fault record on the event queue (reason DOMAIN for an unattached
// endpoint, MAPPING otherwise), and to the hook set with
// Device.SetFaultHook.
//
// All methods are safe for concurrent use.
type AddressSpace struct {
	d   *Device
	id  uint32
	hub *notifier.Hub

	// mu guards mode and dom against Translate. Writers hold Device.mu
	// too, so code that holds Device.mu may read them without mu.
	mu   sync.RWMutex
	mode mode
	dom  *domain // the attached domain, nil when unattached
}

func newAddressSpace(d *Device, id uint32, m mode) *AddressSpace {
	as := &AddressSpace{d: d, id: id, mode: m}
	as.hub = notifier.NewHub(id, as.replay)
	return as
}

// Endpoint returns the endpoint ID.
func (as *AddressSpace) Endpoint() uint32 { return as.id }

// String returns "virtio-iommu endpoint 0x18".
func (as *AddressSpace) String() string { return fmt.Sprintf("virtio-iommu endpoint %#x", as.id) }

// Translate implements dma.AddressSpace: it returns the guest-physical
// address of iova and how many bytes from there, at most n, are contiguous
// with the same permission (up to the end of the mapping that contains
// iova; n itself, capped at 2^64, in bypass mode). n == 0 returns
// dma.ErrZeroLength; an access other than dma.Read, dma.Write or
// dma.ReadWrite returns ErrAccess; a refused access returns a *dma.Fault
// naming the IOVA and the reason, and raises a fault event.
//
// It takes only the endpoint's read lock: concurrent translations of
// different endpoints never contend, and it allocates nothing unless it
// faults. A request that changes the endpoint's translations (UNMAP,
// DETACH, ATTACH, a bypass change, a reset) waits for the translations in
// progress and is complete only when no later translation can see the old
// state.
func (as *AddressSpace) Translate(iova, n uint64, acc dma.Access) (uint64, uint64, error) {
	if n == 0 {
		return 0, 0, dma.ErrZeroLength
	}
	if acc == 0 || acc&^dma.ReadWrite != 0 {
		return 0, 0, fmt.Errorf("%w: %v at IOVA %#x (endpoint %#x)", ErrAccess, acc, iova, as.id)
	}
	as.mu.RLock()
	switch as.mode {
	case modeTranslate:
		m, ok := as.dom.tree.Find(iova)
		as.mu.RUnlock()
		if !ok {
			return 0, 0, as.fault(iova, acc, FaultReasonMapping, "not mapped")
		}
		if acc&^dma.Access(m.Perm) != 0 {
			return 0, 0, as.fault(iova, acc, FaultReasonMapping, fmt.Sprintf("%v not permitted by mapping %v", acc, m))
		}
		return m.Translate(iova), min(m.Size-(iova-m.IOVA), n), nil
	case modeBypass:
		as.mu.RUnlock()
		if iova+n-1 < iova {
			n = -iova // up to 2^64-1 inclusive
		}
		return iova, n, nil
	}
	as.mu.RUnlock()
	return 0, 0, as.fault(iova, acc, FaultReasonDomain, "endpoint not attached to a domain and bypass is off")
}

// fault reports a refused access on the event queue and to the fault hook
// and returns the error Translate gives the device.
func (as *AddressSpace) fault(iova uint64, acc dma.Access, reason FaultReason, why string) error {
	f := Fault{Reason: reason, Endpoint: as.id, Address: iova, Flags: FaultFAddress}
	if acc&dma.Read != 0 {
		f.Flags |= FaultFRead
	}
	if acc&dma.Write != 0 {
		f.Flags |= FaultFWrite
	}
	as.d.events.post(f)
	if h := as.d.faultHook.Load(); h != nil {
		(*h)(f)
	}
	return &dma.Fault{IOVA: iova, Access: acc, Reason: fmt.Sprintf("virtio-iommu endpoint %#x: %s", as.id, why)}
}

// Register adds a consumer of this endpoint's translation changes to its
// notifier.Hub: kinds is notifier.Map, notifier.Unmap or both, and
// [first, last] (inclusive) the IOVA range n hears about. It returns the
// handle Unregister takes.
//
// A Map registration is first told the endpoint's current mappings (a
// replay to n alone, before Register returns): the domain's mappings when
// it is attached, the identity over every guest RAM region when it is in
// bypass mode, nothing when it is blocked. From then on:
//
//   - MAP on the endpoint's domain is a Map event; if a consumer refuses
//     it, it is rolled back everywhere and the request fails with
//     VIRTIO_IOMMU_S_DEVERR, the domain unchanged;
//   - UNMAP is one Unmap event per run of adjacent removed mappings;
//   - a change of state (ATTACH, DETACH, a bypass change, a reset) is an
//     Unmap of what the endpoint could reach before, then a Map of what
//     it can reach after.
//
// Mappings made with VIRTIO_IOMMU_MAP_F_MMIO (device memory) are never
// reported. Events are split into aligned power-of-two blocks by the hub,
// the same way for Map and Unmap (see notifier.Hub.Notify).
//
// Notifiers run synchronously on the goroutine that serves the request
// queue, with the device's lock held: they must not call Register,
// Unregister or any request-processing method of the device, though they
// may Translate. DevIOTLBUnmap is refused with ErrNoDeviceIOTLB; other
// errors are those of notifier.Hub.Register, wrapped.
func (as *AddressSpace) Register(n notifier.Notifier, kinds notifier.Kind, first, last uint64) (notifier.Handle, error) {
	if kinds&notifier.DevIOTLBUnmap != 0 {
		return 0, fmt.Errorf("%w (endpoint %#x)", ErrNoDeviceIOTLB, as.id)
	}
	as.d.mu.Lock()
	defer as.d.mu.Unlock()
	h, err := as.hub.Register(n, kinds, first, last)
	if err != nil {
		return 0, fmt.Errorf("virtioiommu: register notifier on endpoint %#x: %w", as.id, err)
	}
	return h, nil
}

// Unregister removes the registration h and reports whether it existed.
// Nothing is unmapped: the consumer tears its mappings down itself.
func (as *AddressSpace) Unregister(h notifier.Handle) bool {
	as.d.mu.Lock()
	defer as.d.mu.Unlock()
	return as.hub.Unregister(h)
}

// replay is the hub's Replayer: the endpoint's current view. The hub calls
// it from Register, which holds Device.mu.
func (as *AddressSpace) replay(yield func(notifier.Event) error) error {
	return as.d.eachMapping(as.viewLocked(), yield)
}

// viewLocked returns what the endpoint can reach now. Device.mu held.
func (as *AddressSpace) viewLocked() view { return view{mode: as.mode, dom: as.dom} }
