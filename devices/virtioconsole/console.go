package virtioconsole

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/govmm/govmm/devices/virtio"
)

// Queue indices of port 0 (virtio 1.2 §5.3.2).
const (
	ReceiveQueue  = 0 // receiveq: host input to the driver
	TransmitQueue = 1 // transmitq: driver output to the host
)

// QueueSize is the maximum size of both queues.
const QueueSize = 128

// Feature bits (virtio 1.2 §5.3.3).
const (
	FeatureSize       uint64 = 1 << 0 // VIRTIO_CONSOLE_F_SIZE: cols and rows are valid (not offered)
	FeatureMultiport  uint64 = 1 << 1 // VIRTIO_CONSOLE_F_MULTIPORT: several ports and a control queue (not offered)
	FeatureEmergWrite uint64 = 1 << 2 // VIRTIO_CONSOLE_F_EMERG_WRITE: emerg_wr outputs one character (offered)
)

// Offsets of the fields of struct virtio_console_config (virtio 1.2
// §5.3.4) and its size in bytes.
const (
	ConfigCols       = 0  // le16 cols
	ConfigRows       = 2  // le16 rows
	ConfigMaxNrPorts = 4  // le32 max_nr_ports
	ConfigEmergWr    = 8  // le32 emerg_wr (write-only)
	ConfigSize       = 12 // bytes
)

// InputChunk is the most bytes the input goroutine reads from the
// io.Reader at once, and so the most input the device holds while it
// waits for receive buffers.
const InputChunk = 4096

// Console is a single-port virtio console (virtio 1.2 §5.3). It
// implements virtio.Device. Create it with New.
type Console struct {
	out    io.Writer
	outMu  sync.Mutex // serialises writes to out; guards outErr
	outErr error

	mu      sync.Mutex // guards the fields below
	cond    *sync.Cond // signalled when pending empties or the console closes
	rxq     *virtio.Queue
	pending []byte // input read but not yet delivered (aliases the pump's buffer)
	inErr   error  // why the input goroutine stopped
	closed  bool

	rx, tx virtio.Chain // scratch: used only on the queues' goroutines
	iov    [][]byte
}

// New returns a console whose output goes to out and whose input comes
// from in (nil: no input); a nil out discards output. A goroutine starts
// reading in at once; it stops when in returns an error (io.EOF) or,
// after Close, when its current Read returns. The Console does not close
// out or in.
func New(out io.Writer, in io.Reader) *Console {
	if out == nil {
		out = io.Discard
	}
	c := &Console{out: out}
	c.cond = sync.NewCond(&c.mu)
	if in != nil {
		go c.pump(in)
	}
	return c
}

// Close stops delivering input and lets the input goroutine end after its
// current Read returns (close the reader to make that happen). Reset the
// device (close its transport) first. It always returns nil.
func (c *Console) Close() error {
	c.mu.Lock()
	c.closed, c.rxq, c.pending = true, nil, nil
	c.cond.Broadcast()
	c.mu.Unlock()
	return nil
}

// OutputErr returns the first error the output io.Writer returned, or
// nil. Output after an error is still attempted.
func (c *Console) OutputErr() error {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	return c.outErr
}

// InputErr returns why the input goroutine stopped reading (io.EOF when
// the reader ended), or nil while it still reads.
func (c *Console) InputErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inErr
}

// Type implements virtio.Device: virtio.TypeConsole.
func (c *Console) Type() virtio.Type { return virtio.TypeConsole }

// Features implements virtio.Device: VIRTIO_CONSOLE_F_EMERG_WRITE.
func (c *Console) Features() uint64 { return FeatureEmergWrite }

// QueueSizes implements virtio.Device: receiveq and transmitq of port 0.
func (c *Console) QueueSizes() []uint16 { return []uint16{QueueSize, QueueSize} }

// ConfigSize implements virtio.Device: ConfigSize bytes.
func (c *Console) ConfigSize() int { return ConfigSize }

// ReadConfig implements virtio.Device: cols and rows 0 (no
// VIRTIO_CONSOLE_F_SIZE), max_nr_ports 1, emerg_wr reads 0.
func (c *Console) ReadConfig(off int, data []byte) {
	var cfg [ConfigSize]byte
	binary.LittleEndian.PutUint32(cfg[ConfigMaxNrPorts:], 1)
	copy(data, cfg[off:])
}

// WriteConfig implements virtio.Device: a write that covers the first
// byte of emerg_wr outputs that byte (virtio 1.2 §5.3.4); other fields
// are read-only.
func (c *Console) WriteConfig(off int, data []byte) {
	if off <= ConfigEmergWr && off+len(data) > ConfigEmergWr {
		c.write(data[ConfigEmergWr-off : ConfigEmergWr-off+1])
	}
}

// Activate implements virtio.Device: input starts flowing into receiveq
// (if the driver enabled it).
func (c *Console) Activate(a *virtio.Activation) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rxq = nil
	if len(a.Queues) > ReceiveQueue && !c.closed {
		c.rxq = a.Queues[ReceiveQueue]
	}
	return nil
}

// Reset implements virtio.Device: input waits for the next activation.
func (c *Console) Reset() {
	c.mu.Lock()
	c.rxq = nil
	c.mu.Unlock()
}

// Process implements virtio.Device: on receiveq it fills the posted
// buffers with pending input, on transmitq it writes every chain to the
// output. It returns the error that stops the queue (a malformed chain or
// ring).
func (c *Console) Process(q *virtio.Queue) error {
	switch q.Index() {
	case ReceiveQueue:
		return c.receive(q)
	case TransmitQueue:
		return c.transmit(q)
	}
	return fmt.Errorf("virtioconsole: no queue %d", q.Index())
}

// transmit writes every available chain of transmitq to the output.
func (c *Console) transmit(q *virtio.Queue) error {
	for {
		ok, err := q.Pop(&c.tx)
		if err != nil || !ok {
			return err
		}
		// A buffer the IOMMU refuses is skipped: the chain is returned
		// unwritten (§5.3.6.1: used length 0 either way).
		if c.iov, err = c.tx.ReadableSlices(c.iov[:0], 0, c.tx.ReadableLen()); err == nil {
			c.write(c.iov...)
		}
		if err := q.Push(c.tx.Head, 0); err != nil {
			return err
		}
	}
}

// write writes the slices to the output in order.
func (c *Console) write(p ...[]byte) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	for _, s := range p {
		if len(s) == 0 {
			continue
		}
		if _, err := c.out.Write(s); err != nil && c.outErr == nil {
			c.outErr = err
		}
	}
}

// receive copies pending input into the receive buffers the driver
// posted and wakes the input goroutine once the chunk is delivered.
func (c *Console) receive(q *virtio.Queue) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if q != c.rxq {
		return nil // a queue of an activation that ended
	}
	for len(c.pending) > 0 {
		ok, err := q.Pop(&c.rx)
		if err != nil || !ok {
			return err
		}
		n := min(uint64(len(c.pending)), c.rx.WritableLen())
		if err := c.rx.WriteAt(c.pending[:n], 0); err != nil {
			n = 0 // the IOMMU refused the buffer: give it back empty, keep the input
		}
		if err := q.Push(c.rx.Head, uint32(n)); err != nil {
			return err
		}
		c.pending = c.pending[n:]
	}
	c.cond.Broadcast()
	return nil
}

// pump is the input goroutine: it reads a chunk, offers it to receiveq
// and waits until it has been delivered before reading again.
func (c *Console) pump(in io.Reader) {
	buf := make([]byte, InputChunk)
	for {
		n, err := in.Read(buf)
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return
		}
		if n > 0 {
			c.pending = buf[:n]
			if c.rxq != nil {
				c.rxq.Wake()
			}
			for len(c.pending) > 0 && !c.closed {
				c.cond.Wait()
			}
		}
		if err != nil {
			c.inErr = err
		}
		stop := c.closed || err != nil
		c.mu.Unlock()
		if stop {
			return
		}
	}
}
