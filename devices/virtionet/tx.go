package virtionet

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/govmm/govmm/devices/virtio"
	"golang.org/x/sys/unix"
)

// maxIovecs bounds the iovecs of one frame (IOV_MAX is 1024).
const maxIovecs = 1024

// transmitter serves transmitq: each chain is a virtio_net_hdr and a
// frame in device-readable buffers (§5.1.6.2), written to the back end
// with one writev straight from guest memory. Only the queue's goroutine
// calls process; a frame the back end has no room for is handed to a
// waiter goroutine, and process does nothing until it has been sent, so
// frames leave in order.
type transmitter struct {
	n        *Net
	q        *virtio.Queue
	features uint64

	chain virtio.Chain
	hdr   [HeaderSize]byte
	bufs  [][]byte
	iov   []unix.Iovec

	blocked atomic.Bool    // a waiter owns a frame
	wg      sync.WaitGroup // the waiter
}

func newTransmitter(n *Net, q *virtio.Queue, features uint64) *transmitter {
	return &transmitter{n: n, q: q, features: features}
}

// process sends every available frame and returns the first error that
// stops the queue.
func (t *transmitter) process() error {
	if t.blocked.Load() {
		return nil // the waiter wakes the queue when the frame is out
	}
	for {
		ok, err := t.q.Pop(&t.chain)
		if err != nil || !ok {
			return err
		}
		if err := t.send(); err == errWouldBlock {
			t.n.stats.txStl.Add(1)
			t.blocked.Store(true)
			t.wg.Add(1)
			go t.wait(t.chain.Head, append([]unix.Iovec(nil), t.iov...), t.hdr)
			return nil
		}
		if err := t.q.Push(t.chain.Head, 0); err != nil {
			return err
		}
	}
}

// send writes the frame of t.chain without waiting. It returns
// errWouldBlock (t.iov then describes the frame) or nil: the frame was
// sent or dropped.
func (t *transmitter) send() error {
	c := &t.chain
	st := &t.n.stats
	frameLen := c.ReadableLen() - min(c.ReadableLen(), HeaderSize)
	if c.ReadableLen() < HeaderSize || frameLen > MaxFrameSize {
		st.txDropped.Add(1)
		return nil
	}
	if err := c.ReadAt(t.hdr[:], 0); err != nil {
		st.txDropped.Add(1)
		return nil
	}
	h, _ := DecodeHeader(t.hdr[:])
	if h.CheckTransmit(t.features, int(frameLen)) != nil {
		st.txDropped.Add(1)
		return nil
	}
	// The header goes from the device's copy, so the driver cannot change
	// it after the check; num_buffers is not used on transmit.
	h.NumBuffers = 0
	h.Encode(t.hdr[:])
	var err error
	if t.bufs, err = c.ReadableSlices(t.bufs[:0], HeaderSize, frameLen); err != nil || len(t.bufs)+1 > maxIovecs {
		st.txDropped.Add(1)
		return nil
	}
	t.iov = iovec(t.iov[:0], t.hdr[:])
	for _, b := range t.bufs {
		t.iov = iovec(t.iov, b)
	}
	if _, err := t.n.be.writev(t.iov, false); err != nil {
		if err == errWouldBlock {
			return err
		}
		st.txDropped.Add(1) // the back end refused the frame (tap down, bad GSO)
		return nil
	}
	st.txFrames.Add(1)
	st.txBytes.Add(frameLen)
	return nil
}

// wait is the waiter: it writes the held frame once the back end has
// room (or gives up when the device stops), returns the chain and wakes
// the queue so process continues.
func (t *transmitter) wait(head uint16, iov []unix.Iovec, hdr [HeaderSize]byte) {
	defer t.wg.Done()
	iov[0].Base = &hdr[0] // the header copy travels with the frame
	n, err := t.n.be.writev(iov, true)
	switch {
	case err == nil:
		t.n.stats.txFrames.Add(1)
		t.n.stats.txBytes.Add(uint64(n - HeaderSize))
	case isStopped(err):
		return // reset or closed: the chain is forgotten with the queue
	default:
		t.n.stats.txDropped.Add(1)
	}
	if err := t.q.Push(head, 0); err != nil {
		t.n.fail(err)
		return
	}
	t.blocked.Store(false)
	t.q.Wake()
}

// stop waits for the waiter; the back end's I/O has been stopped.
func (t *transmitter) stop() { t.wg.Wait() }

// isStopped reports an I/O error caused by stopIO or Close.
func isStopped(err error) bool {
	return errors.Is(err, errDeadline) || errors.Is(err, errClosed)
}
