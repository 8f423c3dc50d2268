// Package virtiorng is the virtio entropy device (virtio 1.2 §5.4, device
// type 4, PCI device ID 0x1044): one request queue whose device-writable
// buffers the device fills with random bytes from the host's
// cryptographically secure generator (crypto/rand, i.e. getrandom(2)).
//
// The device has no feature bits and no configuration. Each request is
// filled completely, up to MaxRequest bytes, straight into guest memory
// (the buffers' slices are obtained through the queue's address space),
// and the used length is the number of bytes written; device-readable
// buffers in a request are ignored (§5.4.6.1: the driver places only
// device-writable buffers).
//
// Wiring it is the same as for every virtio device:
//
//	rng := virtiorng.New()
//	tr, err := virtio.New(rng, virtio.Config{Memory: mem, MSI: msi, DMA: as})
//	err = segment.Add(pci.BDF{Device: 6}, tr)
package virtiorng

import (
	"crypto/rand"
	"fmt"
	"io"

	"github.com/govmm/govmm/devices/virtio"
)

// QueueSize is the maximum size of the request queue.
const QueueSize = 64

// MaxRequest is the most bytes the device writes into one request (64
// KiB): larger buffers are filled up to this and the used length says so
// (§5.4.6.2: the device MAY use less than the whole buffer).
const MaxRequest = 64 << 10

// RNG is the entropy device. It implements virtio.Device. The zero value
// is not usable; call New.
type RNG struct {
	src   io.Reader
	chain virtio.Chain
	iov   [][]byte
}

// New returns an entropy device reading crypto/rand.
func New() *RNG { return NewFrom(rand.Reader) }

// NewFrom returns an entropy device reading src (for tests or a hardware
// source). src must fill whole buffers (io.ReadFull is used).
func NewFrom(src io.Reader) *RNG { return &RNG{src: src} }

// Type implements virtio.Device: virtio.TypeEntropy.
func (r *RNG) Type() virtio.Type { return virtio.TypeEntropy }

// Features implements virtio.Device: none.
func (r *RNG) Features() uint64 { return 0 }

// QueueSizes implements virtio.Device: one request queue.
func (r *RNG) QueueSizes() []uint16 { return []uint16{QueueSize} }

// ConfigSize implements virtio.Device: no configuration.
func (r *RNG) ConfigSize() int { return 0 }

// ReadConfig implements virtio.Device (never called: no configuration).
func (r *RNG) ReadConfig(_ int, data []byte) { clear(data) }

// WriteConfig implements virtio.Device (never called).
func (r *RNG) WriteConfig(int, []byte) {}

// Activate implements virtio.Device.
func (r *RNG) Activate(*virtio.Activation) error { return nil }

// Reset implements virtio.Device.
func (r *RNG) Reset() {}

// Process implements virtio.Device: it fills every available request.
// Only the queue's goroutine calls it, so the scratch state needs no
// lock. A buffer the address space refuses ends the request with what
// was written before it; an unreadable ring stops the queue.
func (r *RNG) Process(q *virtio.Queue) error {
	for {
		ok, err := q.Pop(&r.chain)
		if err != nil || !ok {
			return err
		}
		n, err := r.fill(&r.chain)
		if err != nil {
			return err
		}
		if err := q.Push(r.chain.Head, n); err != nil {
			return err
		}
	}
}

// fill writes random bytes into the writable part of c and returns how
// many. A translation fault stops at the faulting buffer.
func (r *RNG) fill(c *virtio.Chain) (uint32, error) {
	var done uint64
	want := min(c.WritableLen(), MaxRequest)
	for _, d := range c.Writable() {
		if done == want {
			break
		}
		n := min(uint64(d.Len), want-done)
		var err error
		r.iov, err = c.WritableSlices(r.iov[:0], done, n)
		if err != nil {
			break // the IOMMU refused this buffer: report what was written
		}
		for _, s := range r.iov {
			if _, err := io.ReadFull(r.src, s); err != nil {
				return 0, fmt.Errorf("virtiorng: entropy source: %w", err)
			}
		}
		done += n
	}
	return uint32(done), nil
}
