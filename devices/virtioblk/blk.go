package virtioblk

import (
	"fmt"
	"os"
	"sync"

	"github.com/govmm/govmm/devices/virtio"
)

// Options configures a block device.
type Options struct {
	// ReadOnly offers VIRTIO_BLK_F_RO and opens the image read-only:
	// writes fail with VIRTIO_BLK_S_IOERR; DISCARD and WRITE_ZEROES are
	// not offered.
	ReadOnly bool
	// Serial is the identifier VIRTIO_BLK_T_GET_ID returns, at most 20
	// bytes (zero-padded on the wire).
	Serial string
	// Queues is the number of request queues, 1 (the default) to
	// virtio.MaxQueues; more than one offers VIRTIO_BLK_F_MQ.
	Queues int
	// QueueSize is every queue's maximum size, a power of 2 from 4 to
	// 32768; 0 means 256.
	QueueSize uint16
	// NoDiscard withholds VIRTIO_BLK_F_DISCARD and
	// VIRTIO_BLK_F_WRITE_ZEROES.
	NoDiscard bool
}

// SerialLen is the size of the GET_ID answer (VIRTIO_BLK_ID_BYTES).
const SerialLen = 20

// Block is a virtio block device (virtio 1.2 §5.2) backed by a raw image
// file. It implements virtio.Device. Its capacity is the file's size in
// whole 512-byte sectors, fixed at creation.
//
// Requests on different queues run concurrently on the queues'
// goroutines; the image is accessed with preadv/pwritev straight into
// and out of guest memory.
type Block struct {
	f        *os.File
	fd       int
	ro       bool
	serial   [SerialLen]byte
	capacity uint64 // sectors
	sizes    []uint16
	features uint64
	cfg      [ConfigSize]byte

	mu         sync.Mutex // negotiated and scratch
	negotiated uint64
	scratch    []*scratch // per queue, built on Activate
}

// Open opens the raw image at path (read-write unless opts.ReadOnly) and
// returns a device for it. The Block owns the file: Close closes it.
func Open(path string, opts Options) (*Block, error) {
	flag := os.O_RDWR
	if opts.ReadOnly {
		flag = os.O_RDONLY
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("virtioblk: %w", err)
	}
	b, err := New(f, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return b, nil
}

// New returns a device for the image f, which must be open for reading
// (and writing, unless opts.ReadOnly). The Block owns f. It fails if the
// options are out of range or f cannot be stat'ed; a file smaller than
// one sector gives a device of capacity 0.
func New(f *os.File, opts Options) (*Block, error) {
	if len(opts.Serial) > SerialLen {
		return nil, fmt.Errorf("virtioblk: serial %q is longer than %d bytes", opts.Serial, SerialLen)
	}
	nq := opts.Queues
	if nq == 0 {
		nq = 1
	}
	if nq < 1 || nq > virtio.MaxQueues {
		return nil, fmt.Errorf("virtioblk: %d queues is outside [1, %d]", nq, virtio.MaxQueues)
	}
	qs := opts.QueueSize
	if qs == 0 {
		qs = 256
	}
	if qs < 4 || qs&(qs-1) != 0 || qs > virtio.MaxQueueSize {
		return nil, fmt.Errorf("virtioblk: queue size %d is not a power of 2 in [4, %d]", qs, virtio.MaxQueueSize)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("virtioblk: %w", err)
	}
	b := &Block{f: f, fd: int(f.Fd()), ro: opts.ReadOnly, capacity: uint64(st.Size()) / SectorSize}
	copy(b.serial[:], opts.Serial)
	for range nq {
		b.sizes = append(b.sizes, qs)
	}
	b.features = FeatureSizeMax | FeatureSegMax | FeatureBlkSize | FeatureFlush
	switch {
	case opts.ReadOnly:
		b.features |= FeatureRO
	case !opts.NoDiscard:
		b.features |= FeatureDiscard | FeatureWriteZeroes
	}
	if nq > 1 {
		b.features |= FeatureMQ
	}
	b.renderConfig()
	return b, nil
}

// Capacity returns the capacity in 512-byte sectors.
func (b *Block) Capacity() uint64 { return b.capacity }

// Close closes the image. The device must be reset (its transport closed)
// first.
func (b *Block) Close() error { return b.f.Close() }

// Type implements virtio.Device: virtio.TypeBlock.
func (b *Block) Type() virtio.Type { return virtio.TypeBlock }

// Features implements virtio.Device: SIZE_MAX, SEG_MAX, BLK_SIZE, FLUSH,
// and RO or DISCARD and WRITE_ZEROES, and MQ with several queues.
func (b *Block) Features() uint64 { return b.features }

// QueueSizes implements virtio.Device.
func (b *Block) QueueSizes() []uint16 { return b.sizes }

// ConfigSize implements virtio.Device: ConfigSize bytes.
func (b *Block) ConfigSize() int { return ConfigSize }

// ReadConfig implements virtio.Device: struct virtio_blk_config.
func (b *Block) ReadConfig(off int, data []byte) { copy(data, b.cfg[off:]) }

// WriteConfig implements virtio.Device. Every field is read-only
// (writeback needs VIRTIO_BLK_F_CONFIG_WCE, which is not offered).
func (b *Block) WriteConfig(int, []byte) {}

// Activate implements virtio.Device: it records the negotiated features
// (without VIRTIO_BLK_F_FLUSH the device writes through, syncing after
// every write) and prepares per-queue buffers.
func (b *Block) Activate(a *virtio.Activation) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.negotiated = a.Features
	b.scratch = make([]*scratch, len(a.Queues))
	for i := range b.scratch {
		b.scratch[i] = &scratch{}
	}
	return nil
}

// Reset implements virtio.Device.
func (b *Block) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.negotiated, b.scratch = 0, nil
}

// Process implements virtio.Device: it serves every available request of
// q and returns the first error that stops the queue (a malformed chain,
// or a request whose status byte cannot be written).
func (b *Block) Process(q *virtio.Queue) error {
	b.mu.Lock()
	f := b.negotiated
	var s *scratch
	if i := q.Index(); i < len(b.scratch) {
		s = b.scratch[i]
	}
	b.mu.Unlock()
	if s == nil {
		return fmt.Errorf("virtioblk: queue %d processed before activation", q.Index())
	}
	for {
		ok, err := q.Pop(&s.chain)
		if err != nil || !ok {
			return err
		}
		n, err := b.serve(&s.chain, s, f)
		if err != nil {
			return err
		}
		if err := q.Push(s.chain.Head, n); err != nil {
			return err
		}
	}
}
