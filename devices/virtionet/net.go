package virtionet

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/govmm/govmm/devices/virtio"
)

// DefaultQueueSize is the maximum size of both queues unless
// Options.QueueSize says otherwise.
const DefaultQueueSize = 256

// Options configures a network device.
type Options struct {
	// MAC is the address the driver reads from the configuration
	// (VIRTIO_NET_F_MAC): 6 bytes, unicast. nil means DefaultMAC of the
	// tap's name.
	MAC net.HardwareAddr
	// QueueSize is the maximum size of each queue, a power of 2 from 2
	// to 32768; 0 means DefaultQueueSize.
	QueueSize uint16
	// NoOffloads withholds VIRTIO_NET_F_CSUM, GUEST_CSUM, HOST_TSO4/6
	// and GUEST_TSO4/6: every frame then carries a complete checksum and
	// at most one MTU of payload.
	NoOffloads bool
	// NoMergeRxBuffers withholds VIRTIO_NET_F_MRG_RXBUF: every received
	// frame must then fit in one receive chain.
	NoMergeRxBuffers bool
}

// Net is a virtio network device (virtio 1.2 §5.1) on a host back end
// (a tap device). It implements virtio.Device. Create it with Open or
// New; Close it after its transport.
type Net struct {
	be       *backend
	mac      net.HardwareAddr
	features uint64
	qsize    uint16
	link     atomic.Bool

	mu   sync.Mutex // guards the fields below
	tr   *virtio.Transport
	rx   *receiver
	tx   *transmitter
	shut bool

	stats counters
}

// Open attaches a device to the tap interface name, creating it if it
// does not exist (that needs CAP_NET_ADMIN; attaching to an existing
// persistent tap needs its owner or CAP_NET_ADMIN). The tap is opened
// with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR and a 12-byte vnet header.
func Open(tapName string, opts Options) (*Net, error) {
	be, err := openTap(tapName)
	if err != nil {
		return nil, err
	}
	n, err := newNet(be, opts)
	if err != nil {
		be.close()
		return nil, err
	}
	return n, nil
}

// New returns a device on an already-open back end and takes ownership
// of f (it is closed now; the device keeps a duplicate until Close). f is
// either a tap opened with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR (the header
// size is set to 12 and offloads follow the negotiation), or any pollable
// descriptor that carries one frame per read and write, each a 12-byte
// virtio_net_hdr followed by the Ethernet frame: a SOCK_SEQPACKET or
// SOCK_DGRAM socket, say one end of a socketpair. It fails on a tap
// without IFF_VNET_HDR or IFF_NO_PI, on a descriptor the poller cannot
// wait on (a regular file), or on bad options.
func New(f *os.File, opts Options) (*Net, error) {
	be, err := fromFile(f)
	if err != nil {
		return nil, err
	}
	n, err := newNet(be, opts)
	if err != nil {
		be.close()
		return nil, err
	}
	return n, nil
}

func newNet(be *backend, opts Options) (*Net, error) {
	n := &Net{be: be, qsize: opts.QueueSize}
	if n.qsize == 0 {
		n.qsize = DefaultQueueSize
	}
	if n.qsize < 2 || n.qsize&(n.qsize-1) != 0 || n.qsize > virtio.MaxQueueSize {
		return nil, fmt.Errorf("virtionet: queue size %d is not a power of 2 in [2, %d]", opts.QueueSize, virtio.MaxQueueSize)
	}
	switch mac := opts.MAC; {
	case mac == nil:
		n.mac = DefaultMAC(be.name)
	case len(mac) != 6:
		return nil, fmt.Errorf("virtionet: MAC address %v is not 6 bytes", mac)
	case mac[0]&1 != 0:
		return nil, fmt.Errorf("virtionet: MAC address %v is a multicast address", mac)
	case string(mac) == "\x00\x00\x00\x00\x00\x00":
		return nil, fmt.Errorf("virtionet: MAC address %v is zero", mac)
	default:
		n.mac = append(net.HardwareAddr(nil), mac...)
	}
	n.features = FeatureMAC | FeatureStatus
	if !opts.NoMergeRxBuffers {
		n.features |= FeatureMrgRxBuf
	}
	if !opts.NoOffloads {
		n.features |= offloads
	}
	n.link.Store(true)
	return n, nil
}

// DefaultMAC returns the locally administered unicast MAC address the
// device uses for a back end named name when Options.MAC is nil:
// 02:xx:xx:xx:xx:xx with the last five bytes taken from the FNV-1a hash
// of the name, so a VM keeps its address across restarts.
func DefaultMAC(name string) net.HardwareAddr {
	h := fnv.New64a()
	h.Write([]byte(name))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], h.Sum64())
	return net.HardwareAddr{0x02, b[3], b[4], b[5], b[6], b[7]}
}

// MAC returns the device's MAC address.
func (n *Net) MAC() net.HardwareAddr { return append(net.HardwareAddr(nil), n.mac...) }

// Name returns the back end's name: the tap interface, or the name of the
// file given to New.
func (n *Net) Name() string { return n.be.name }

// SetLink sets the link status the driver reads (VIRTIO_NET_S_LINK_UP)
// and, if it changed while the device is active, sends a configuration
// change interrupt (§5.1.4.2). The link is up initially. Frames still
// flow while it is down; Linux stops transmitting.
func (n *Net) SetLink(up bool) {
	if n.link.Swap(up) == up {
		return
	}
	n.mu.Lock()
	tr := n.tr
	n.mu.Unlock()
	if tr != nil {
		tr.ConfigChanged()
	}
}

// Close stops the device's goroutines and closes the back end. Close the
// transport first (it resets the device); Close is safe to call twice.
func (n *Net) Close() error {
	n.Reset()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.shut {
		return nil
	}
	n.shut = true
	return n.be.close()
}

// Type implements virtio.Device: virtio.TypeNet.
func (n *Net) Type() virtio.Type { return virtio.TypeNet }

// Features implements virtio.Device: MAC, STATUS, MRG_RXBUF and the
// offloads, as Options allow.
func (n *Net) Features() uint64 { return n.features }

// QueueSizes implements virtio.Device: receiveq1 and transmitq1.
func (n *Net) QueueSizes() []uint16 { return []uint16{n.qsize, n.qsize} }

// ConfigSize implements virtio.Device: ConfigSize bytes.
func (n *Net) ConfigSize() int { return ConfigSize }

// ReadConfig implements virtio.Device: struct virtio_net_config with mac,
// status and max_virtqueue_pairs (1).
func (n *Net) ReadConfig(off int, data []byte) {
	var cfg [ConfigSize]byte
	copy(cfg[ConfigMAC:], n.mac)
	if n.link.Load() {
		binary.LittleEndian.PutUint16(cfg[ConfigStatus:], StatusLinkUp)
	}
	binary.LittleEndian.PutUint16(cfg[ConfigMaxVirtqueuePairs:], 1)
	copy(data, cfg[off:])
}

// WriteConfig implements virtio.Device. Every field is read-only for a
// VIRTIO_F_VERSION_1 driver (§5.1.4.2: the MAC changes through the
// control queue, which is not offered).
func (n *Net) WriteConfig(int, []byte) {}

// Activate implements virtio.Device: it sets the tap's offloads to the
// negotiated GUEST_* features and starts the receive goroutine.
func (n *Net) Activate(a *virtio.Activation) error {
	n.Reset()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.shut {
		return fmt.Errorf("virtionet: %s: device is closed", n.be.name)
	}
	if err := n.be.setOffload(a.Features); err != nil {
		return err
	}
	n.be.resumeIO()
	n.tr = a.Transport
	if len(a.Queues) > TransmitQueue && a.Queues[TransmitQueue] != nil {
		n.tx = newTransmitter(n, a.Queues[TransmitQueue], a.Features)
	}
	if len(a.Queues) > ReceiveQueue && a.Queues[ReceiveQueue] != nil {
		n.rx = newReceiver(n, a.Queues[ReceiveQueue], a.Features, a.Transport)
		go n.rx.run()
	}
	return nil
}

// Reset implements virtio.Device: it stops the receive goroutine and a
// transmit waiting for room, forgets the buffers they held and turns the
// tap's offloads off.
func (n *Net) Reset() {
	n.mu.Lock()
	rx, tx := n.rx, n.tx
	n.rx, n.tx, n.tr = nil, nil, nil
	shut := n.shut
	n.mu.Unlock()
	if rx == nil && tx == nil {
		return
	}
	if !shut {
		n.be.stopIO()
	}
	if rx != nil {
		rx.stop()
	}
	if tx != nil {
		tx.stop()
	}
	if !shut {
		n.be.setOffload(0)
	}
}

// Process implements virtio.Device. On transmitq it sends every queued
// frame; on receiveq (a kick: the driver posted buffers) it wakes the
// receive goroutine if it waits for buffers.
func (n *Net) Process(q *virtio.Queue) error {
	n.mu.Lock()
	rx, tx := n.rx, n.tx
	n.mu.Unlock()
	switch {
	case q.Index() == ReceiveQueue && rx != nil && rx.q == q:
		rx.kick()
		return nil
	case q.Index() == TransmitQueue && tx != nil && tx.q == q:
		return tx.process()
	}
	return nil
}

// fail reports an error of the device's own goroutines that stops a
// queue: the transport sets DEVICE_NEEDS_RESET.
func (n *Net) fail(err error) {
	n.mu.Lock()
	tr := n.tr
	n.mu.Unlock()
	if tr != nil {
		tr.Fail(err)
	}
}
