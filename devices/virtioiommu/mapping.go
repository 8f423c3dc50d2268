package virtioiommu

import (
	"errors"
	"fmt"
	"math"

	"github.com/govmm/govmm/iovatree"
	"github.com/govmm/govmm/notifier"
)

// doMap serves a MAP request (virtio 1.3 §5.13.6.5). In order:
//
//   - MAP_UNMAP not negotiated: UNSUPP;
//   - a flag other than READ, WRITE and (with VIRTIO_IOMMU_F_MMIO
//     negotiated) MMIO: INVAL (MUST);
//   - no such domain: NOENT (SHOULD); a bypass domain: INVAL (SHOULD);
//   - virt_end < virt_start: INVAL;
//   - virt_start, phys_start or virt_end+1 not aligned to the granule:
//     RANGE (SHOULD);
//   - [virt_start, virt_end] outside input_range, or a physical range that
//     runs past 2^64: RANGE;
//   - neither READ nor WRITE: INVAL (a mapping that permits nothing; the
//     device need not support every flag combination);
//   - overlapping a RESV_MEM region (the MSI window, Config.Reserved):
//     INVAL (SHOULD);
//   - overlapping an existing mapping: INVAL (SHOULD);
//   - Config.MaxMappings reached: NOMEM;
//   - a notifier of an attached endpoint refuses the mapping: DEVERR,
//     with every notifier that took it told to unmap it again and the
//     domain unchanged.
//
// Otherwise the mapping is added with its permission: OK. Device.mu held.
func (d *Device) doMap(r request) Status {
	if d.features&FeatureMapUnmap == 0 {
		return StatusUnsupp
	}
	known := MapFRead | MapFWrite
	if d.features&FeatureMMIO != 0 {
		known |= MapFMMIO
	}
	if r.flags&^known != 0 {
		return StatusInval
	}
	dom := d.domains[r.domain]
	switch {
	case dom == nil:
		return StatusNoEnt
	case dom.bypass, r.virtEnd < r.virtStart:
		return StatusInval
	}
	g := d.granule - 1
	span := r.virtEnd - r.virtStart // size - 1
	switch {
	case r.virtStart&g != 0, r.physStart&g != 0, (r.virtEnd+1)&g != 0:
		return StatusRange
	case r.virtStart < d.input.First || r.virtEnd > d.input.Last:
		return StatusRange
	case r.physStart > math.MaxUint64-span:
		return StatusRange
	case r.flags&(MapFRead|MapFWrite) == 0:
		return StatusInval
	}
	if _, ok := reservedOverlap(d.resv, r.virtStart, r.virtEnd); ok {
		return StatusInval
	}
	if _, ok := dom.tree.OverlapSpan(r.virtStart, r.virtEnd); ok {
		return StatusInval
	}
	if span == math.MaxUint64 {
		// [0, 2^64-1] always overlaps the MSI window, so this is not
		// reached; a size of 2^64 cannot be stored.
		return StatusRange
	}
	if d.nMappings >= d.maxMaps {
		return StatusNoMem
	}
	m := iovatree.Mapping{IOVA: r.virtStart, Size: span + 1, Addr: r.physStart, Perm: iovatree.Perm(r.flags & (MapFRead | MapFWrite))}
	mmio := r.flags&MapFMMIO != 0
	if !mmio {
		if err := d.notifyMap(dom, m); err != nil {
			d.report(fmt.Errorf("virtioiommu: %v: %w", r, err))
			return StatusDevErr
		}
	}
	dom.lockEndpoints()
	err := dom.tree.Insert(m)
	if err == nil && mmio {
		if dom.mmio == nil {
			dom.mmio = map[uint64]struct{}{}
		}
		dom.mmio[m.IOVA] = struct{}{}
	}
	dom.unlockEndpoints()
	if err != nil {
		// The checks above make this unreachable; undo the notifications.
		if !mmio {
			d.notifyUnmap(dom, m.IOVA, m.Last())
		}
		d.report(fmt.Errorf("virtioiommu: %v: %w", r, err))
		return StatusDevErr
	}
	d.nMappings++
	return StatusOK
}

// notifyMap tells the Map notifiers of every endpoint attached to dom about
// m. If one refuses, the hub has rolled its own registrations back, the
// endpoints before it are told to unmap m, and the refusal is returned.
// Device.mu held.
func (d *Device) notifyMap(dom *domain, m iovatree.Mapping) error {
	ev := notifier.Event{Kind: notifier.Map, IOVA: m.IOVA, Size: m.Size, Addr: m.Addr, Perm: notifier.Perm(m.Perm)}
	for i, ep := range dom.eps {
		err := ep.hub.Notify(ev)
		if err == nil {
			continue
		}
		for j := i - 1; j >= 0; j-- {
			if uerr := dom.eps[j].hub.Notify(notifier.Event{Kind: notifier.Unmap, IOVA: m.IOVA, Size: m.Size}); uerr != nil {
				err = fmt.Errorf("%w; rollback on endpoint %#x: %w", err, dom.eps[j].id, uerr)
			}
		}
		return fmt.Errorf("endpoint %#x: %w", ep.id, err)
	}
	return nil
}

// notifyUnmap tells the Unmap notifiers of every endpoint attached to dom
// that [first, last] is gone, and returns their failures. Device.mu held.
func (d *Device) notifyUnmap(dom *domain, first, last uint64) error {
	var errs []error
	for _, ep := range dom.eps {
		if err := ep.hub.NotifyRange(notifier.Unmap, first, last); err != nil {
			errs = append(errs, fmt.Errorf("endpoint %#x: %w", ep.id, err))
		}
	}
	return errors.Join(errs...)
}

// maxKeptRemoved bounds the scratch slice UNMAP keeps between requests.
const maxKeptRemoved = 4096

// doUnmap serves an UNMAP request (virtio 1.3 §5.13.6.6). In order:
//
//   - MAP_UNMAP not negotiated: UNSUPP;
//   - reserved not zero: INVAL, nothing removed (MAY);
//   - no such domain: NOENT (SHOULD); a bypass domain: INVAL (SHOULD);
//   - virt_end < virt_start: INVAL;
//   - a mapping that straddles virt_start or virt_end (the UNMAP would
//     split it): RANGE, nothing removed (SHOULD);
//   - otherwise every mapping inside [virt_start, virt_end] is removed and
//     the holes between them are ignored: OK.
//
// Translations stop reaching the removed mappings before the request
// completes. The attached endpoints' notifiers get one Unmap per run of
// adjacent removed mappings; an unmap cannot be taken back, so if a
// notifier fails the mappings are gone all the same (the guest and the
// device agree), the failure goes to the error hook and the status is
// DEVERR. Device.mu held.
func (d *Device) doUnmap(r request) Status {
	if d.features&FeatureMapUnmap == 0 {
		return StatusUnsupp
	}
	if r.reserved != 0 {
		return StatusInval
	}
	dom := d.domains[r.domain]
	switch {
	case dom == nil:
		return StatusNoEnt
	case dom.bypass, r.virtEnd < r.virtStart:
		return StatusInval
	}
	first, last := r.virtStart, r.virtEnd
	if m, ok := dom.tree.OverlapSpan(first, last); !ok {
		return StatusOK // nothing mapped in the range
	} else if m.IOVA < first {
		return StatusRange
	}
	if m, ok := dom.tree.Find(last); ok && m.Last() > last {
		return StatusRange
	}
	dom.lockEndpoints()
	d.removed = dom.tree.RemoveSpan(first, last, d.removed[:0])
	dom.unlockEndpoints()
	d.nMappings -= len(d.removed)
	err := d.notifyRemoved(dom, d.removed)
	if cap(d.removed) > maxKeptRemoved {
		d.removed = nil
	}
	if err != nil {
		d.report(fmt.Errorf("virtioiommu: %v: %w", r, err))
		return StatusDevErr
	}
	return StatusOK
}

// notifyRemoved forgets the MMIO marks of removed mappings (ascending) and
// tells the notifiers about the others, IOVA-adjacent ones merged into one
// Unmap. Device.mu held.
func (d *Device) notifyRemoved(dom *domain, removed []iovatree.Mapping) error {
	notify := dom.notified()
	if !notify && len(dom.mmio) == 0 {
		return nil
	}
	var errs []error
	var first, last uint64
	open := false
	for _, m := range removed {
		if dom.isMMIO(m.IOVA) {
			delete(dom.mmio, m.IOVA)
			continue
		}
		if !notify {
			continue
		}
		if open && last != math.MaxUint64 && last+1 == m.IOVA {
			last = m.Last()
			continue
		}
		if open {
			if err := d.notifyUnmap(dom, first, last); err != nil {
				errs = append(errs, err)
			}
		}
		first, last, open = m.IOVA, m.Last(), true
	}
	if open {
		if err := d.notifyUnmap(dom, first, last); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
