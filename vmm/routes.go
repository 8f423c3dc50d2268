package vmm

import (
	"fmt"
	"sync"

	"github.com/govmm/govmm/devices/irq"
)

// ioapicPins is the number of pins of KVM's in-kernel IOAPIC.
const ioapicPins = 24

// gsiRouter owns the VM's KVM GSI routing table: the fixed IRQCHIP routes of
// the legacy interrupts plus one MSI route per irqfd-bound device vector.
// KVM_SET_GSI_ROUTING replaces the whole table, so every change rewrites it.
type gsiRouter struct {
	mu     sync.Mutex
	vmFd   uintptr
	msi    map[uint32]irq.MSI // GSI -> message
	free   []uint32
	nextID uint32
}

func newGSIRouter(vmFd uintptr) (*gsiRouter, error) {
	r := &gsiRouter{vmFd: vmFd, msi: map[uint32]irq.MSI{}, nextID: ioapicPins}
	return r, r.commit()
}

// legacyRoutes is the PC wiring: ISA IRQs 0-15 to both 8259s and the
// IOAPIC pin of the same number, PCI GSIs 16-23 to the IOAPIC only, except
// that the PIT's IRQ 0 reaches IOAPIC pin 2, as the MADT interrupt source
// override says.
func legacyRoutes() []gsiRoute {
	var rs []gsiRoute
	for gsi := uint32(0); gsi < ioapicPins; gsi++ {
		switch {
		case gsi < 8:
			rs = append(rs, irqchipRoute(gsi, irqchipPICMaster, gsi))
		case gsi < 16:
			rs = append(rs, irqchipRoute(gsi, irqchipPICSlave, gsi-8))
		}
		pin := gsi
		if gsi == 0 {
			pin = 2
		}
		if gsi != 2 {
			rs = append(rs, irqchipRoute(gsi, irqchipIOAPIC, pin))
		}
	}
	return rs
}

func (r *gsiRouter) commit() error {
	rs := legacyRoutes()
	for gsi, m := range r.msi {
		rs = append(rs, msiRoute(gsi, m.Addr, m.Data))
	}
	return setGSIRouting(r.vmFd, rs)
}

// AddMSIRoute allocates a GSI routed to m and binds eventfd fd to it.
func (r *gsiRouter) AddMSIRoute(fd int, m irq.MSI) (uint32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gsi uint32
	if n := len(r.free); n > 0 {
		gsi, r.free = r.free[n-1], r.free[:n-1]
	} else {
		gsi = r.nextID
		r.nextID++
	}
	r.msi[gsi] = m
	if err := r.commit(); err != nil {
		delete(r.msi, gsi)
		r.free = append(r.free, gsi)
		return 0, err
	}
	if err := setIRQFD(r.vmFd, fd, gsi, false); err != nil {
		delete(r.msi, gsi)
		r.free = append(r.free, gsi)
		_ = r.commit()
		return 0, err
	}
	return gsi, nil
}

// UpdateMSIRoute retargets route to m.
func (r *gsiRouter) UpdateMSIRoute(route uint32, m irq.MSI) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, ok := r.msi[route]
	if !ok {
		return fmt.Errorf("no MSI route %d", route)
	}
	if old == m {
		return nil
	}
	r.msi[route] = m
	return r.commit()
}

// RemoveMSIRoute unbinds fd from route and frees it.
func (r *gsiRouter) RemoveMSIRoute(fd int, route uint32) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.msi[route]; !ok {
		return fmt.Errorf("no MSI route %d", route)
	}
	err := setIRQFD(r.vmFd, fd, route, true)
	delete(r.msi, route)
	r.free = append(r.free, route)
	if cerr := r.commit(); err == nil {
		err = cerr
	}
	return err
}

// ioEvents registers KVM ioeventfds on guest MMIO addresses.
type ioEvents struct{ vmFd uintptr }

// RegisterIOEvent makes guest writes at addr signal fd.
func (e ioEvents) RegisterIOEvent(fd int, addr uint64, size uint32, match *uint64) error {
	return setIOEventFD(e.vmFd, fd, addr, size, false, match, false)
}

// UnregisterIOEvent undoes RegisterIOEvent.
func (e ioEvents) UnregisterIOEvent(fd int, addr uint64, size uint32, match *uint64) error {
	return setIOEventFD(e.vmFd, fd, addr, size, false, match, true)
}

var (
	_ irq.MSIRoutes = (*gsiRouter)(nil)
	_ irq.IOEvents  = ioEvents{}
)

func msiFor(addr uint64, data uint32) irq.MSI { return irq.MSI{Addr: addr, Data: data} }
