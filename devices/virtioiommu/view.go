package virtioiommu

import (
	"errors"
	"fmt"
	"math"

	"github.com/govmm/govmm/notifier"
)

// view is what one endpoint can reach, as its notifiers see it: nothing
// (blocked), the identity over guest RAM (bypass), or the mappings of a
// domain (translated).
type view struct {
	mode mode
	dom  *domain
}

// eachMapping yields the Map events that describe v: every non-MMIO
// mapping of a translated domain in ascending IOVA order, or one identity
// mapping per guest RAM region in bypass mode. Device.mu held.
func (d *Device) eachMapping(v view, yield func(notifier.Event) error) error {
	switch v.mode {
	case modeTranslate:
		for m := range v.dom.tree.All() {
			if v.dom.isMMIO(m.IOVA) {
				continue
			}
			if err := yield(notifier.Event{Kind: notifier.Map, IOVA: m.IOVA, Size: m.Size, Addr: m.Addr, Perm: notifier.Perm(m.Perm)}); err != nil {
				return err
			}
		}
	case modeBypass:
		if d.mem == nil {
			return nil
		}
		for _, r := range d.mem.Regions() {
			if err := yield(notifier.Event{Kind: notifier.Map, IOVA: r.GPA, Size: uint64(len(r.Data)), Addr: r.GPA, Perm: notifier.PermRW}); err != nil {
				return err
			}
		}
	}
	return nil
}

// unmapView tells ep's notifiers that everything in v is gone: one Unmap
// per run of IOVA-adjacent mappings (the hub's split of a run contains the
// blocks of each mapping in it whole, so no unmap bisects what was
// mapped). Leaving bypass mode without guest RAM to enumerate unmaps the
// whole address space. Unmaps cannot be refused; failures are returned.
// Device.mu held.
func (d *Device) unmapView(ep *AddressSpace, v view) error {
	if ep.hub.Kinds()&notifier.Unmap == 0 {
		return nil
	}
	if v.mode == modeBypass && d.mem == nil {
		return ep.hub.NotifyRange(notifier.Unmap, 0, math.MaxUint64)
	}
	var errs []error
	var run struct {
		first, last uint64
		open        bool
	}
	flush := func() {
		if run.open {
			if err := ep.hub.NotifyRange(notifier.Unmap, run.first, run.last); err != nil {
				errs = append(errs, err)
			}
			run.open = false
		}
	}
	_ = d.eachMapping(v, func(ev notifier.Event) error {
		if run.open && run.last != math.MaxUint64 && run.last+1 == ev.IOVA {
			run.last = ev.Last()
			return nil
		}
		flush()
		run.first, run.last, run.open = ev.IOVA, ev.Last(), true
		return nil
	})
	flush()
	return errors.Join(errs...)
}

// mapView tells ep's Map notifiers about every mapping of v. If one is
// refused, the hub has rolled that mapping back, mapView unmaps the ones
// before it, and the refusal is returned. Device.mu held.
func (d *Device) mapView(ep *AddressSpace, v view) error {
	if ep.hub.Kinds()&notifier.Map == 0 {
		return nil
	}
	done := 0
	err := d.eachMapping(v, func(ev notifier.Event) error {
		if err := ep.hub.Notify(ev); err != nil {
			return err
		}
		done++
		return nil
	})
	if err == nil {
		return nil
	}
	// Undo the mappings delivered before the refusal: the first done
	// ones of the view, which has not changed (Device.mu is held).
	var rb []error
	_ = d.eachMapping(v, func(ev notifier.Event) error {
		if done == 0 {
			return errStop
		}
		done--
		if uerr := ep.hub.Notify(notifier.Event{Kind: notifier.Unmap, IOVA: ev.IOVA, Size: ev.Size}); uerr != nil {
			rb = append(rb, uerr)
		}
		return nil
	})
	if len(rb) > 0 {
		err = fmt.Errorf("%w; rollback: %w", err, errors.Join(rb...))
	}
	return err
}

// errStop ends an iteration early.
var errStop = errors.New("stop")

// moveView tells ep's notifiers that it went from reaching from to
// reaching to: an Unmap of from, then a Map of to. The unmap always takes
// effect (its failures are reported to the error hook); a refused Map is
// returned after what was mapped of to has been unmapped again. Device.mu
// held.
func (d *Device) moveView(ep *AddressSpace, from, to view) error {
	if ep.hub.Kinds() == 0 {
		return nil
	}
	if err := d.unmapView(ep, from); err != nil {
		d.report(fmt.Errorf("virtioiommu: endpoint %#x leaving %v: %w", ep.id, from, err))
	}
	if err := d.mapView(ep, to); err != nil {
		return fmt.Errorf("virtioiommu: endpoint %#x entering %v: %w", ep.id, to, err)
	}
	return nil
}

// String describes the view for messages: "domain 3", "bypass", "blocked".
func (v view) String() string {
	if v.dom != nil {
		if v.dom.bypass {
			return fmt.Sprintf("bypass domain %d", v.dom.id)
		}
		return fmt.Sprintf("domain %d", v.dom.id)
	}
	return v.mode.String()
}
