package virtio

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/govmm/govmm/devices/irq"
	"github.com/govmm/govmm/devices/pci"
	"golang.org/x/sys/unix"
)

// vectors raises the transport's MSI-X vectors (one per queue plus one
// for configuration changes). With irq.MSIRoutes each vector has an
// eventfd bound to a KVM MSI route (irqfd), kept in step with the MSI-X
// table through the capability's VectorHook; a vector fires through its
// eventfd only while it is unmasked and its route is current. Otherwise —
// no MSIRoutes, a masked vector, a route KVM refused — it goes through
// pci.MSIX.Trigger, which sets the pending bit of a masked vector and
// delivers it on unmask through the irq.MSISender.
type vectors struct {
	msix   *pci.MSIX
	cs     *pci.ConfigSpace
	routes irq.MSIRoutes // nil: Trigger only
	onErr  func(error)

	mu sync.Mutex // serialises the VectorHook and close
	v  []vectorRoute
}

type vectorRoute struct {
	efd   int // eventfd bound to the route; -1 without MSIRoutes
	route uint32
	added bool
	msg   irq.MSI
	live  atomic.Bool // the irqfd path may be used: route current, vector unmasked
}

func newVectors(cs *pci.ConfigSpace, msix *pci.MSIX, n int, routes irq.MSIRoutes, onErr func(error)) (*vectors, error) {
	vs := &vectors{msix: msix, cs: cs, routes: routes, onErr: onErr, v: make([]vectorRoute, n)}
	for i := range vs.v {
		vs.v[i].efd = -1
		if routes == nil {
			continue
		}
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			vs.close()
			return nil, fmt.Errorf("virtio: eventfd for MSI-X vector %d: %w", i, err)
		}
		vs.v[i].efd = fd
	}
	if routes != nil {
		msix.SetVectorHook(vs.hook)
	}
	return vs, nil
}

func (vs *vectors) count() int { return len(vs.v) }

// hook follows the guest's MSI-X table: it runs with the capability's
// lock held, so it never calls back into it.
func (vs *vectors) hook(v int, msg irq.MSI, masked bool) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if v < 0 || v >= len(vs.v) || vs.v[v].efd < 0 {
		return
	}
	r := &vs.v[v]
	if masked {
		r.live.Store(false)
		return
	}
	switch {
	case !r.added:
		route, err := vs.routes.AddMSIRoute(r.efd, msg)
		if err != nil {
			r.live.Store(false)
			vs.report(fmt.Errorf("virtio: MSI-X vector %d: adding irqfd route: %w", v, err))
			return
		}
		r.added, r.route = true, route
	case r.msg != msg:
		if err := vs.routes.UpdateMSIRoute(r.route, msg); err != nil {
			r.live.Store(false)
			vs.report(fmt.Errorf("virtio: MSI-X vector %d: updating irqfd route: %w", v, err))
			return
		}
	}
	r.msg = msg
	r.live.Store(true)
}

func (vs *vectors) report(err error) {
	if vs.onErr != nil {
		vs.onErr(err)
	}
}

// fire raises vector v. It returns pci.ErrDisabled when MSI-X is off.
func (vs *vectors) fire(v int) error {
	if v >= 0 && v < len(vs.v) && vs.v[v].live.Load() && vs.cs.Command()&pci.CmdBusMaster != 0 {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		if _, err := unix.Write(vs.v[v].efd, one[:]); err == nil || err == unix.EAGAIN {
			return nil // EAGAIN: the counter is saturated, an interrupt is pending anyway
		}
	}
	return vs.msix.Trigger(v)
}

// enabled reports whether the guest enabled MSI-X.
func (vs *vectors) enabled() bool {
	return vs.cs.Uint16(vs.msix.Offset()+pci.MSIXControl)&pci.MSIXEnable != 0
}

// close removes the routes and closes the eventfds.
func (vs *vectors) close() {
	if vs.routes != nil && vs.msix != nil {
		vs.msix.SetVectorHook(nil)
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	for i := range vs.v {
		r := &vs.v[i]
		r.live.Store(false)
		if r.added {
			if err := vs.routes.RemoveMSIRoute(r.efd, r.route); err != nil {
				vs.report(fmt.Errorf("virtio: MSI-X vector %d: removing irqfd route: %w", i, err))
			}
			r.added = false
		}
		if r.efd >= 0 {
			unix.Close(r.efd)
			r.efd = -1
		}
	}
}
