package virtionet

import (
	"errors"
	"sync"

	"github.com/govmm/govmm/devices/virtio"
	"golang.org/x/sys/unix"
)

// Receive sizing.
const (
	// smallFrame is the largest frame without GSO: an Ethernet frame of a
	// 1500-byte MTU with a VLAN tag (Linux's GOOD_PACKET_LEN).
	smallFrame = 1514 + 4
	// irqBatch is how many frames the receiver delivers before it sends
	// a used-buffer notification even though more frames are waiting.
	irqBatch = 64
)

// errNoBuffer is returned by build when no held chain can take a frame.
var errNoBuffer = errors.New("virtionet: no usable receive buffer")

// receiver serves receiveq1 (§5.1.6.3, §5.1.6.4) from its own goroutine:
// it takes receive chains from the available ring, reads each frame from
// the back end with one readv straight into them (the header into the
// device's copy first, so it can be fixed up), and returns them on the
// used ring. Chains it popped but did not fill are held for the next
// frame. With VIRTIO_NET_F_MRG_RXBUF a frame may fill several chains
// (num_buffers says how many); bytes that did not fit the chains held at
// the time of the read land in a bounce buffer and are copied into the
// next chains the driver posts. When the driver has posted nothing the
// receiver stops reading the back end and waits for a kick on receiveq:
// nothing is dropped and at most one frame is held (the host's queue in
// front of the tap absorbs the rest, or drops, as it would for a slow
// NIC).
type receiver struct {
	n        *Net
	q        *virtio.Queue
	tr       *virtio.Transport
	features uint64
	mrg      bool
	target   uint64 // with MRG_RXBUF, the buffer space to gather before a read

	kickc    chan struct{}
	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	held    []*virtio.Chain // popped, not yet used, in ring order
	heldCap uint64          // their writable bytes
	spare   []*virtio.Chain
	hdr     [HeaderSize]byte
	tail    []byte // bounce buffer for what does not fit the held chains
	bufs    [][]byte
	iov     []unix.Iovec

	covered  int    // held chains the last iov covers
	guestCap uint64 // bytes (header included) the last iov puts in guest memory

	irqPending bool
	sinceIrq   int

	lens      []uint32 // used lengths of the frame being delivered
	buildFn   func() ([]unix.Iovec, error)
	flushFn   func()
	moreFrame func() bool
}

func newReceiver(n *Net, q *virtio.Queue, features uint64, tr *virtio.Transport) *receiver {
	r := &receiver{
		n: n, q: q, tr: tr, features: features, mrg: features&FeatureMrgRxBuf != 0,
		kickc: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		tail: make([]byte, HeaderSize+MaxFrameSize+1),
	}
	r.buildFn, r.flushFn = r.build, r.flushIrq
	r.moreFrame = func() bool { return len(r.held) == 0 || r.mrg && r.heldCap < r.target }
	r.target = HeaderSize + smallFrame
	if features&(FeatureGuestTSO4|FeatureGuestTSO6) != 0 {
		r.target = HeaderSize + MaxFrameSize
	}
	return r
}

// kick is the driver's notification on receiveq: buffers were posted.
func (r *receiver) kick() {
	select {
	case r.kickc <- struct{}{}:
	default:
	}
}

// stop ends the goroutine and waits for it; the back end's I/O has been
// stopped, so a read in progress returns.
func (r *receiver) stop() {
	r.stopOnce.Do(func() { close(r.quit) })
	<-r.done
}

// run is the receive goroutine.
func (r *receiver) run() {
	defer close(r.done)
	for {
		if !r.gather() {
			return
		}
		n, err := r.n.be.readFrame(r.buildFn, r.flushFn)
		switch {
		case errors.Is(err, errNoBuffer):
			continue
		case err != nil || n == 0:
			// Stopped, the back end closed (a zero-length read is the
			// end of a socket), or a hard error: receive ends until the
			// driver reactivates the device.
			r.flushIrq()
			return
		}
		if !r.deliver(n) {
			return
		}
	}
}

// gather makes sure at least one chain is held (with MRG_RXBUF, as many
// as target asks for, if the driver posted them), waiting for kicks when
// the ring is empty. It returns false when the receiver must stop.
func (r *receiver) gather() bool {
	for {
		if !r.pop(r.moreFrame) {
			return false
		}
		if len(r.held) > 0 {
			return true
		}
		if !r.waitKick() {
			return false
		}
	}
}

// pop takes chains from the available ring while more() and the ring
// has some. Chains too small for a header go back unused.
func (r *receiver) pop(more func() bool) bool {
	for more() {
		var c *virtio.Chain
		if k := len(r.spare); k > 0 {
			c, r.spare = r.spare[k-1], r.spare[:k-1]
		} else {
			c = new(virtio.Chain)
		}
		ok, err := r.q.Pop(c)
		if err != nil {
			r.n.fail(err)
			return false
		}
		if !ok {
			r.spare = append(r.spare, c)
			return true
		}
		if c.WritableLen() < HeaderSize {
			if !r.giveBack(c) {
				return false
			}
			continue
		}
		r.held = append(r.held, c)
		r.heldCap += c.WritableLen()
	}
	return true
}

// giveBack returns a chain the device cannot use with used length 0
// (§2.7.8: the driver sees it as an empty buffer).
func (r *receiver) giveBack(c *virtio.Chain) bool {
	r.n.stats.rxBad.Add(1)
	if err := r.q.Push(c.Head, 0); err != nil {
		r.n.fail(err)
		return false
	}
	r.irqPending = true
	r.spare = append(r.spare, c)
	return true
}

// waitKick notifies the driver of what was delivered and sleeps until
// the next kick on receiveq. It returns false when the receiver stops.
func (r *receiver) waitKick() bool {
	r.flushIrq()
	select {
	case <-r.kickc:
		return true
	case <-r.quit:
		return false
	}
}

// flushIrq sends the used-buffer notification for the frames delivered
// since the last one (Queue.Interrupt applies EVENT_IDX suppression).
func (r *receiver) flushIrq() {
	if !r.irqPending {
		return
	}
	r.irqPending, r.sinceIrq = false, 0
	if err := r.q.Interrupt(); err != nil && r.q.Err() != nil {
		r.n.fail(err)
	}
}

// build translates the held chains into the iovecs of the next read,
// just before it: the header into r.hdr, then the chains' writable bytes
// (only the first chain without MRG_RXBUF), then the bounce buffer for
// whatever exceeds them, up to HeaderSize+MaxFrameSize+1 bytes in all. A
// chain the IOMMU refuses is given back unused.
func (r *receiver) build() ([]unix.Iovec, error) {
	const limit = HeaderSize + MaxFrameSize
	for {
		r.iov = iovec(r.iov[:0], r.hdr[:])
		r.covered, r.guestCap = 0, HeaderSize
		bad := -1
		for i, c := range r.held {
			if (!r.mrg && i > 0) || r.guestCap >= limit {
				break
			}
			off := uint64(0)
			if i == 0 {
				off = HeaderSize
			}
			want := min(c.WritableLen()-off, limit-r.guestCap)
			var err error
			if r.bufs, err = c.WritableSlices(r.bufs[:0], off, want); err != nil {
				bad = i
				break
			}
			if len(r.iov)+len(r.bufs)+1 > maxIovecs {
				if i == 0 {
					bad = 0
				}
				break
			}
			for _, b := range r.bufs {
				r.iov = iovec(r.iov, b)
			}
			r.guestCap += want
			r.covered = i + 1
		}
		if bad >= 0 {
			c := r.held[bad]
			r.held = append(r.held[:bad], r.held[bad+1:]...)
			r.heldCap -= c.WritableLen()
			if !r.giveBack(c) {
				return nil, errStop
			}
			if len(r.held) == 0 {
				return nil, errNoBuffer
			}
			continue
		}
		// One byte more than the largest frame, so that a back end that
		// cuts a longer frame short (a socket) is caught as well as one
		// that reports its full length (a tap).
		r.iov = iovec(r.iov, r.tail[:limit+1-r.guestCap])
		return r.iov, nil
	}
}

// errStop ends a read because the queue failed.
var errStop = errors.New("virtionet: receive queue stopped")

// deliver completes a frame of n bytes (header included) that build's
// iovecs received: it drops frames that cannot be delivered, copies an
// overflow into further chains, fixes the header and returns the chains
// on the used ring. It returns false when the receiver must stop.
func (r *receiver) deliver(n int) bool {
	st := &r.n.stats
	frame := uint64(n)
	if frame < HeaderSize || frame > HeaderSize+MaxFrameSize {
		st.rxDropped.Add(1)
		return true
	}
	h, _ := DecodeHeader(r.hdr[:])
	if !h.FixReceive(r.features) {
		st.rxDropped.Add(1)
		return true
	}
	// Chains the frame fills, in order: what the read put in guest memory
	// first, then the overflow from the bounce buffer.
	lens := r.lens[:0]
	left := frame
	for i := 0; left > 0; i++ {
		if i >= r.covered {
			if !r.mrg {
				st.rxDropped.Add(1) // larger than the one chain (§5.1.6.3.1)
				return true
			}
			var ok bool
			if lens, ok = r.overflow(frame-left, left, lens); !ok {
				return false
			}
			break
		}
		l := min(left, r.held[i].WritableLen())
		lens = append(lens, uint32(l))
		left -= l
	}
	r.lens = lens
	h.NumBuffers = uint16(len(lens))
	h.Encode(r.hdr[:])
	if err := r.held[0].WriteAt(r.hdr[:], 0); err != nil {
		// The IOMMU took the first buffer away since the read.
		c := r.held[0]
		r.held = r.held[1:]
		r.heldCap -= c.WritableLen()
		st.rxDropped.Add(1)
		return r.giveBack(c)
	}
	st.rxFrames.Add(1) // counted before the driver can see it
	st.rxBytes.Add(frame - HeaderSize)
	for i, l := range lens {
		c := r.held[i]
		if err := r.q.Push(c.Head, l); err != nil {
			r.n.fail(err)
			return false
		}
		r.heldCap -= c.WritableLen()
		r.spare = append(r.spare, c)
	}
	r.held = append(r.held[:0], r.held[len(lens):]...)
	r.irqPending = true
	if r.sinceIrq++; r.sinceIrq >= irqBatch {
		r.flushIrq()
	}
	return true
}

// overflow copies the left bytes of the frame that start at stream offset
// from (they are in the bounce buffer, at from-guestCap) into held chains
// beyond the covered ones, popping and waiting for more as needed, and
// appends their lengths to lens. Chains the IOMMU refuses are given back.
func (r *receiver) overflow(from, left uint64, lens []uint32) ([]uint32, bool) {
	src := r.tail[from-r.guestCap : from-r.guestCap+left]
	i := len(lens)
	for len(src) > 0 {
		for i >= len(r.held) {
			want := len(r.held) + 1
			if !r.pop(func() bool { return len(r.held) < want }) {
				return lens, false
			}
			if len(r.held) < want && !r.waitKick() {
				return lens, false
			}
		}
		c := r.held[i]
		l := min(uint64(len(src)), c.WritableLen())
		if err := c.WriteAt(src[:l], 0); err != nil {
			r.held = append(r.held[:i], r.held[i+1:]...)
			r.heldCap -= c.WritableLen()
			if !r.giveBack(c) {
				return lens, false
			}
			continue
		}
		lens = append(lens, uint32(l))
		src = src[l:]
		i++
	}
	return lens, true
}
