package virtio_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/govmm/govmm/devices/irq"
	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"golang.org/x/sys/unix"
)

// fakeKVM records ioeventfd and irqfd registrations as KVM would hold
// them.
type fakeKVM struct {
	mu       sync.Mutex
	ioevents map[uint64]int // addr -> fd
	routes   map[uint32]route
	next     uint32
	failAdd  bool
	log      []string
}

type route struct {
	fd  int
	msg irq.MSI
}

func newFakeKVM() *fakeKVM {
	return &fakeKVM{ioevents: map[uint64]int{}, routes: map[uint32]route{}, next: 100}
}

func (k *fakeKVM) RegisterIOEvent(fd int, addr uint64, size uint32, match *uint64) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if size != 2 || match != nil {
		return fmt.Errorf("unexpected ioeventfd size %d match %v", size, match)
	}
	if _, ok := k.ioevents[addr]; ok {
		return fmt.Errorf("ioeventfd at %#x exists", addr)
	}
	k.ioevents[addr] = fd
	k.log = append(k.log, fmt.Sprintf("+io %#x", addr))
	return nil
}

func (k *fakeKVM) UnregisterIOEvent(fd int, addr uint64, size uint32, match *uint64) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ioevents[addr] != fd {
		return fmt.Errorf("no ioeventfd %d at %#x", fd, addr)
	}
	delete(k.ioevents, addr)
	k.log = append(k.log, fmt.Sprintf("-io %#x", addr))
	return nil
}

func (k *fakeKVM) AddMSIRoute(fd int, m irq.MSI) (uint32, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.failAdd {
		return 0, errors.New("no GSI left")
	}
	k.next++
	k.routes[k.next] = route{fd, m}
	return k.next, nil
}

func (k *fakeKVM) UpdateMSIRoute(r uint32, m irq.MSI) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	old, ok := k.routes[r]
	if !ok {
		return fmt.Errorf("no route %d", r)
	}
	k.routes[r] = route{old.fd, m}
	return nil
}

func (k *fakeKVM) RemoveMSIRoute(fd int, r uint32) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.routes[r].fd != fd {
		return fmt.Errorf("route %d is not bound to %d", r, fd)
	}
	delete(k.routes, r)
	return nil
}

// routeFor returns the eventfd routed to the message with data.
func (k *fakeKVM) routeFor(data uint32) (int, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, r := range k.routes {
		if r.msg.Data == data {
			return r.fd, true
		}
	}
	return 0, false
}

// drain reads and returns an eventfd's counter (0 if not signalled).
func drain(fd int) uint64 {
	var b [8]byte
	if n, err := unix.Read(fd, b[:]); err != nil || n != 8 {
		return 0
	}
	return binary.NativeEndian.Uint64(b[:])
}

// TestIOEventFD: an ioeventfd per queue follows the BAR, and signalling
// it (what KVM does on a guest write) kicks the queue.
func TestIOEventFD(t *testing.T) {
	k := newFakeKVM()
	r := newRig(t, newEcho(16, 16), virtio.Config{IOEvents: k}, nil, 0)
	bar := r.drv.Bar
	want := map[uint64]bool{bar + virtio.NotifyOffset: true, bar + virtio.NotifyOffset + virtio.NotifyOffMultiplier: true}
	k.mu.Lock()
	got := len(k.ioevents)
	for a := range k.ioevents {
		if !want[a] {
			t.Errorf("ioeventfd at %#x", a)
		}
	}
	k.mu.Unlock()
	if got != 2 {
		t.Fatalf("%d ioeventfds", got)
	}
	qs := r.start(t, allFeatures)
	// Kick queue 1 through its eventfd, as KVM would.
	bufs := []virtiotest.Buf{{Data: []byte("xyz")}, {Write: true, Len: 3}}
	if _, err := qs[1].Add(bufs, false); err != nil {
		t.Fatal(err)
	}
	k.mu.Lock()
	fd := k.ioevents[bar+virtio.NotifyOffset+virtio.NotifyOffMultiplier]
	k.mu.Unlock()
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	if _, err := unix.Write(fd, one[:]); err != nil {
		t.Fatal(err)
	}
	if _, n, err := qs[1].Wait(); err != nil || n != 3 {
		t.Fatalf("used %d, %v", n, err)
	}
	// Relocate the BAR: the guest turns decode off, moves it, turns it on.
	d := r.drv
	d.SetCfg(pci.RegCommand, 2, pci.CmdBusMaster)
	newBar := bar + 0x100000
	d.SetCfg(pci.RegBAR0, 4, uint32(newBar)|0x4)
	d.SetCfg(pci.RegBAR0+4, 4, uint32(newBar>>32))
	d.SetCfg(pci.RegCommand, 2, pci.CmdMemorySpace|pci.CmdBusMaster)
	k.mu.Lock()
	_, atNew := k.ioevents[newBar+virtio.NotifyOffset]
	_, atOld := k.ioevents[bar+virtio.NotifyOffset]
	n := len(k.ioevents)
	k.mu.Unlock()
	if !atNew || atOld || n != 2 {
		t.Fatalf("after relocation: new %v old %v count %d; log %v", atNew, atOld, n, k.log)
	}
	r.t.Close()
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.ioevents) != 0 {
		t.Fatalf("ioeventfds left after Close: %v", k.ioevents)
	}
}

// TestIRQFD: unmasked vectors fire through their irqfd; a masked vector
// becomes pending in the MSI-X PBA and is delivered through the MSI
// sender when unmasked; a route KVM refuses falls back to the sender.
func TestIRQFD(t *testing.T) {
	k := newFakeKVM()
	// Served on notify, the queue has interrupted when Kick returns (a
	// queue goroutine pushes the used buffer before it interrupts).
	dev := newEcho(16)
	dev.inline = []bool{true}
	r := newRig(t, dev, virtio.Config{Routes: k}, nil, 0)
	qs := r.start(t, allFeatures&^virtio.FeatureEventIdx) // every used buffer interrupts
	fd, ok := k.routeFor(0x4001)
	if !ok {
		t.Fatalf("no route for vector 1: %v", k.routes)
	}
	submit := func() {
		t.Helper()
		if _, err := qs[0].Add([]virtiotest.Buf{{Data: []byte("a")}, {Write: true, Len: 1}}, false); err != nil {
			t.Fatal(err)
		}
		qs[0].Kick()
		if _, _, err := qs[0].Poll(); err != nil {
			t.Fatal(err)
		}
	}
	submit()
	if got := drain(fd); got != 1 {
		t.Fatalf("irqfd counter %d, want 1", got)
	}
	if got := r.m.MSI.Count(1); got != 0 {
		t.Fatalf("%d MSIs through the sender, want 0", got)
	}

	// Masked: the interrupt is held pending, not fired through the irqfd.
	r.drv.MaskVector(1, true)
	submit()
	if got := drain(fd); got != 0 {
		t.Fatalf("masked vector fired its irqfd %d times", got)
	}
	pba := r.drv.Bar + virtio.MSIXPBAOffset
	if r.drv.Read(pba, 8)&(1<<1) == 0 {
		t.Fatal("pending bit of vector 1 not set")
	}
	r.drv.MaskVector(1, false)
	if got := r.m.MSI.Count(1); got != 1 {
		t.Fatalf("pending vector delivered %d times on unmask, want 1", got)
	}
	if r.drv.Read(pba, 8)&(1<<1) != 0 {
		t.Fatal("pending bit still set")
	}
	// Unmasked again: back on the irqfd.
	submit()
	if got := drain(fd); got != 1 {
		t.Fatalf("irqfd counter %d after unmask, want 1", got)
	}
	// A new message moves the route.
	table := r.drv.Bar + virtio.MSIXTableOffset
	r.drv.Write(table+1*pci.MSIXEntrySize+pci.MSIXEntryData, 4, 0x4077)
	if _, ok := k.routeFor(0x4077); !ok {
		t.Fatal("route not updated to the new message")
	}
	r.t.Close()
	if len(k.routes) != 0 {
		t.Fatalf("routes left after Close: %v", k.routes)
	}
}

func TestIRQFDRefused(t *testing.T) {
	k := newFakeKVM()
	k.failAdd = true
	r := newRig(t, newEcho(16), virtio.Config{Routes: k}, nil, 0)
	qs := r.start(t, allFeatures)
	if _, err := qs[0].Submit([]virtiotest.Buf{{Data: []byte("a")}, {Write: true, Len: 1}}, false); err != nil {
		t.Fatal(err)
	}
	if got := r.m.MSI.Count(1); got != 1 {
		t.Fatalf("%d interrupts delivered through the sender, want 1", got)
	}
	if len(r.errors()) == 0 {
		t.Fatal("refused route not reported")
	}
}
