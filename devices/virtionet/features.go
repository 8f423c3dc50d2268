package virtionet

// Feature bits of the network device (virtio 1.2 §5.1.3). The device
// offers FeatureMAC, FeatureStatus, FeatureMrgRxBuf (unless
// Options.NoMergeRxBuffers) and the checksum and TSO offloads (unless
// Options.NoOffloads).
const (
	FeatureCsum      uint64 = 1 << 0  // VIRTIO_NET_F_CSUM: the device handles partial checksums on transmit
	FeatureGuestCsum uint64 = 1 << 1  // VIRTIO_NET_F_GUEST_CSUM: the driver handles partial checksums on receive
	FeatureMAC       uint64 = 1 << 5  // VIRTIO_NET_F_MAC: the configuration holds the MAC address
	FeatureGuestTSO4 uint64 = 1 << 7  // VIRTIO_NET_F_GUEST_TSO4: the driver takes TCPv4 GSO frames
	FeatureGuestTSO6 uint64 = 1 << 8  // VIRTIO_NET_F_GUEST_TSO6: the driver takes TCPv6 GSO frames
	FeatureHostTSO4  uint64 = 1 << 11 // VIRTIO_NET_F_HOST_TSO4: the device takes TCPv4 GSO frames
	FeatureHostTSO6  uint64 = 1 << 12 // VIRTIO_NET_F_HOST_TSO6: the device takes TCPv6 GSO frames
	FeatureMrgRxBuf  uint64 = 1 << 15 // VIRTIO_NET_F_MRG_RXBUF: a received frame may span several buffers
	FeatureStatus    uint64 = 1 << 16 // VIRTIO_NET_F_STATUS: the configuration holds the link status

	// offloads are the checksum and segmentation features the device
	// offers unless Options.NoOffloads.
	offloads = FeatureCsum | FeatureGuestCsum | FeatureGuestTSO4 | FeatureGuestTSO6 | FeatureHostTSO4 | FeatureHostTSO6
)

// Offsets of the fields of struct virtio_net_config (virtio 1.2 §5.1.4)
// the device provides, and its size in bytes.
const (
	ConfigMAC               = 0  // u8 mac[6]
	ConfigStatus            = 6  // le16 status
	ConfigMaxVirtqueuePairs = 8  // le16 max_virtqueue_pairs (1: no VIRTIO_NET_F_MQ)
	ConfigSize              = 10 // bytes
)

// StatusLinkUp is VIRTIO_NET_S_LINK_UP, bit 0 of the status field.
const StatusLinkUp uint16 = 1

// Queue indices (§5.1.2): one receive/transmit pair, no control queue.
const (
	ReceiveQueue  = 0 // receiveq1
	TransmitQueue = 1 // transmitq1
)

// MaxFrameSize is the largest frame (header excluded) the device moves in
// either direction: a 64 KiB GSO frame plus an Ethernet and a VLAN
// header. Larger frames are dropped.
const MaxFrameSize = 65536 + 14 + 4
