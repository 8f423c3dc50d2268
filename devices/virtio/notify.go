package virtio

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// doorbell wakes the goroutine that serves one queue. With irq.IOEvents it
// is an eventfd that KVM signals on a guest write of the queue's notify
// address (ioeventfd), read through the Go poller; without, a one-slot
// channel. A notify write that reaches the BAR handler (no ioeventfd, or a
// write width KVM did not match) rings it the same way. Rings coalesce.
type doorbell struct {
	efd  int      // -1 for a channel doorbell
	file *os.File // efd, pollable
	ch   chan struct{}
}

func newDoorbell(eventfd bool) (*doorbell, error) {
	if !eventfd {
		return &doorbell{efd: -1, ch: make(chan struct{}, 1)}, nil
	}
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("virtio: queue eventfd: %w", err)
	}
	return &doorbell{efd: fd, file: os.NewFile(uintptr(fd), "virtio-queue-eventfd")}, nil
}

// ring signals the doorbell; it never blocks.
func (d *doorbell) ring() {
	if d.file == nil {
		select {
		case d.ch <- struct{}{}:
		default:
		}
		return
	}
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(d.efd, one[:]) // EAGAIN: already rung
}

// wait blocks until the doorbell rings; false once it is closed.
func (d *doorbell) wait() bool {
	if d.file == nil {
		<-d.ch
		return true
	}
	var buf [8]byte
	_, err := d.file.Read(buf[:])
	return err == nil
}

// close releases the eventfd. The caller makes sure nobody rings the
// doorbell afterwards (Transport.bellMu). A channel doorbell needs no
// closing: its goroutine leaves through the run's stop flag.
func (d *doorbell) close() {
	if d.file != nil {
		d.file.Close()
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
