package virtioiommu

import "fmt"

// attach serves an ATTACH request (virtio 1.3 §5.13.6.3). In order:
//
//   - reserved not zero: INVAL (MUST);
//   - a flag other than ATTACH_F_BYPASS, or ATTACH_F_BYPASS without
//     BYPASS_CONFIG negotiated: INVAL (MUST);
//   - unknown endpoint: NOENT (MUST);
//   - domain ID outside domain_range: RANGE;
//   - an existing domain whose bypass flag differs: INVAL (SHOULD);
//   - already attached to that domain: OK, nothing changes;
//   - otherwise the domain is created if needed, the endpoint is detached
//     from its previous domain (which ceases to exist if it was the last
//     endpoint) and attached: OK. Several endpoints may share a domain.
//
// If a notifier of the endpoint refuses the new domain's mappings, the
// endpoint goes back to where it was and the status is DEVERR.
//
// Device.mu held.
func (d *Device) attach(r request) Status {
	if r.reserved != 0 {
		return StatusInval
	}
	if r.flags&^AttachFBypass != 0 || r.flags&AttachFBypass != 0 && d.features&FeatureBypassConfig == 0 {
		return StatusInval
	}
	ep := d.eps[r.endpoint]
	if ep == nil {
		return StatusNoEnt
	}
	if r.domain < d.cfg.DomainRange[0] || r.domain > d.cfg.DomainRange[1] {
		return StatusRange
	}
	bypass := r.flags&AttachFBypass != 0
	dom, exists := d.domains[r.domain]
	if exists && dom.bypass != bypass {
		return StatusInval
	}
	if exists && ep.dom == dom {
		return StatusOK
	}
	if !exists {
		dom = newDomain(r.domain, bypass)
		d.domains[r.domain] = dom
	}
	from, old := ep.viewLocked(), ep.dom
	d.setAttachmentLocked(ep, dom)
	if err := d.moveView(ep, from, ep.viewLocked()); err != nil {
		d.setAttachmentLocked(ep, old)
		if !exists {
			delete(d.domains, r.domain)
		}
		if rerr := d.mapView(ep, from); rerr != nil {
			d.report(fmt.Errorf("virtioiommu: %v: restoring endpoint %#x's %v: %w", r, ep.id, from, rerr))
		}
		d.report(fmt.Errorf("virtioiommu: %v: %w", r, err))
		return StatusDevErr
	}
	if old != nil && len(old.eps) == 0 {
		d.destroyLocked(old)
	}
	return StatusOK
}

// detach serves a DETACH request (virtio 1.3 §5.13.6.4): the reserved
// field is ignored (MUST); an unknown endpoint is NOENT (MUST); a domain
// that does not exist or that the endpoint is not attached to is INVAL
// (MAY). Otherwise the endpoint is detached, falling into bypass mode if
// the bypass field is 1, and a domain left without endpoints ceases to
// exist: OK. When the request completes, no translation of the endpoint
// reaches the domain's mappings any more. Device.mu held.
func (d *Device) detach(r request) Status {
	ep := d.eps[r.endpoint]
	if ep == nil {
		return StatusNoEnt
	}
	dom := d.domains[r.domain]
	if dom == nil || ep.dom != dom {
		return StatusInval
	}
	d.detachLocked(ep)
	return StatusOK
}

// detachLocked detaches ep from its domain, tells its notifiers, and
// destroys the domain if it has no endpoint left. Notifier failures are
// reported, not returned: the detach stands. Device.mu held.
func (d *Device) detachLocked(ep *AddressSpace) {
	from, dom := ep.viewLocked(), ep.dom
	d.setAttachmentLocked(ep, nil)
	if err := d.moveView(ep, from, ep.viewLocked()); err != nil {
		d.report(err)
	}
	if len(dom.eps) == 0 {
		d.destroyLocked(dom)
	}
}

// setAttachmentLocked moves ep to dom (nil: unattached) and sets its mode.
// Once it returns, no Translate of ep sees the previous state. Device.mu
// held.
func (d *Device) setAttachmentLocked(ep *AddressSpace, dom *domain) {
	if ep.dom != nil {
		ep.dom.remove(ep)
	}
	m := d.unattachedMode()
	if dom != nil {
		dom.add(ep)
		m = modeTranslate
		if dom.bypass {
			m = modeBypass
		}
	}
	ep.mu.Lock()
	ep.dom, ep.mode = dom, m
	ep.mu.Unlock()
}

// destroyLocked removes a domain that has no endpoint left, with its
// mappings (§5.13.6.4: it ceases to exist and its ID can be reused).
// Device.mu held.
func (d *Device) destroyLocked(dom *domain) {
	d.nMappings -= dom.tree.Len()
	delete(d.domains, dom.id)
	dom.tree.Clear()
	dom.mmio = nil
}
