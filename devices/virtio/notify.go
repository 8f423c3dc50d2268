package virtio

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// doorbell wakes the goroutine that serves one queue. With irq.IOEvents it
// is an eventfd that KVM signals on a guest write of the queue's notify
// address (ioeventfd); without, a one-slot channel. A notify write that
// reaches the BAR handler (no ioeventfd, or a write width KVM did not
// match) rings it the same way. Rings coalesce.
//
// The queue goroutine waits in a blocking read(2) of the eventfd, not in
// the Go poller: the kernel then wakes that very thread, where the poller
// would wake its own thread first and hand the goroutine on to another,
// one more context switch per notification.
type doorbell struct {
	efd int // -1 for a channel doorbell
	ch  chan struct{}
}

func newDoorbell(eventfd bool) (*doorbell, error) {
	if !eventfd {
		return &doorbell{efd: -1, ch: make(chan struct{}, 1)}, nil
	}
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("virtio: queue eventfd: %w", err)
	}
	return &doorbell{efd: fd}, nil
}

// ring signals the doorbell; it never blocks.
func (d *doorbell) ring() {
	if d.efd < 0 {
		select {
		case d.ch <- struct{}{}:
		default:
		}
		return
	}
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(d.efd, one[:]) // blocks only at a counter of 2^64-2
}

// wait blocks until the doorbell rings; false if the eventfd is gone. A
// run's goroutines leave after their run's stop flag is set and their
// doorbell rung, always before close.
func (d *doorbell) wait() bool {
	if d.efd < 0 {
		<-d.ch
		return true
	}
	var buf [8]byte
	for {
		_, err := unix.Read(d.efd, buf[:])
		if err != unix.EINTR {
			return err == nil
		}
	}
}

// close releases the eventfd. The caller makes sure nobody rings the
// doorbell afterwards (Transport.bellMu). A channel doorbell needs no
// closing: its goroutine leaves through the run's stop flag.
func (d *doorbell) close() {
	if d.efd >= 0 {
		unix.Close(d.efd)
	}
}

// notifyAddr returns the guest-physical address queue i is notified at
// when the BAR is at base.
func notifyAddr(base uint64, i int) uint64 {
	return base + NotifyOffset + uint64(i)*NotifyOffMultiplier
}

// notifyWidth is the width of a notification write (a 16-bit queue index,
// §4.1.5.2) and so of the ioeventfd registration.
const notifyWidth = 2

// BARMapped implements pci.BARObserver: when the guest maps the BAR it
// registers one ioeventfd per queue at the queue's notify address, and
// when it unmaps (or moves) the BAR it unregisters them. Without
// irq.IOEvents it does nothing. Registration errors go to Config.OnError;
// the queue is then notified through the BAR handler instead.
func (t *Transport) BARMapped(index int, base uint64, mapped bool) {
	if index != BARIndex || t.ioevents == nil {
		return
	}
	t.ioMu.Lock()
	defer t.ioMu.Unlock()
	if t.ioClosed {
		return
	}
	if !mapped {
		t.unregisterIOEvents()
		return
	}
	t.unregisterIOEvents()
	for i, d := range t.bells {
		if t.isInline(i) {
			continue // its notify write must reach the BAR handler
		}
		addr := notifyAddr(base, i)
		if err := t.ioevents.RegisterIOEvent(d.efd, addr, notifyWidth, nil); err != nil {
			t.report(fmt.Errorf("virtio: queue %d: ioeventfd at %#x: %w", i, addr, err))
			continue
		}
		t.ioRegistered[i] = addr
	}
}

// unregisterIOEvents removes every registered ioeventfd; t.ioMu held.
func (t *Transport) unregisterIOEvents() {
	for i, addr := range t.ioRegistered {
		if addr == 0 {
			continue
		}
		if err := t.ioevents.UnregisterIOEvent(t.bells[i].efd, addr, notifyWidth, nil); err != nil {
			t.report(fmt.Errorf("virtio: queue %d: removing ioeventfd at %#x: %w", i, addr, err))
		}
		t.ioRegistered[i] = 0
	}
}
