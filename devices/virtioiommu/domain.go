package virtioiommu

import (
	"slices"

	"github.com/govmm/govmm/iovatree"
)

// domain is one virtio-iommu domain (virtio 1.3 §5.13.6.3): an I/O
// virtual address space that the endpoints attached to it share. It is
// created by the first ATTACH that names its ID and ceases to exist when
// its last endpoint is detached, taking its mappings with it.
//
// Locking: every field is guarded by Device.mu. The tree is also read by
// Translate under the read lock of an attached endpoint (AddressSpace.mu),
// so it is changed only with Device.mu and the write lock of every
// endpoint in eps held (lockEndpoints).
type domain struct {
	id     uint32
	bypass bool // created with VIRTIO_IOMMU_ATTACH_F_BYPASS
	// tree holds the mappings, one entry per MAP request (§5.13.6.5),
	// with their permissions.
	tree iovatree.Tree
	// mmio holds the first IOVA of every mapping made with
	// VIRTIO_IOMMU_MAP_F_MMIO: device memory that is translated like RAM
	// but never reported to notifiers. Allocated on first use.
	mmio map[uint64]struct{}
	// eps are the attached endpoints in ascending ID order.
	eps []*AddressSpace
}

func newDomain(id uint32, bypass bool) *domain {
	return &domain{id: id, bypass: bypass}
}

// add attaches ep to the domain's endpoint list.
func (dom *domain) add(ep *AddressSpace) {
	i, found := slices.BinarySearchFunc(dom.eps, ep.id, cmpEndpoint)
	if !found {
		dom.eps = slices.Insert(dom.eps, i, ep)
	}
}

// remove drops ep from the domain's endpoint list.
func (dom *domain) remove(ep *AddressSpace) {
	if i, found := slices.BinarySearchFunc(dom.eps, ep.id, cmpEndpoint); found {
		dom.eps = slices.Delete(dom.eps, i, i+1)
	}
}

func cmpEndpoint(ep *AddressSpace, id uint32) int {
	switch {
	case ep.id < id:
		return -1
	case ep.id > id:
		return 1
	}
	return 0
}

// lockEndpoints takes the write lock of every attached endpoint, in
// ascending ID order, so that the tree can change with no Translate
// reading it.
func (dom *domain) lockEndpoints() {
	for _, ep := range dom.eps {
		ep.mu.Lock()
	}
}

// unlockEndpoints releases what lockEndpoints took.
func (dom *domain) unlockEndpoints() {
	for _, ep := range dom.eps {
		ep.mu.Unlock()
	}
}

// isMMIO reports whether the mapping starting at iova was made with
// VIRTIO_IOMMU_MAP_F_MMIO.
func (dom *domain) isMMIO(iova uint64) bool {
	_, ok := dom.mmio[iova]
	return ok
}

// notified reports whether an attached endpoint has a notifier.
func (dom *domain) notified() bool {
	for _, ep := range dom.eps {
		if ep.hub.Kinds() != 0 {
			return true
		}
	}
	return false
}
