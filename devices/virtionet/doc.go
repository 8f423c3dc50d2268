// Package virtionet is the virtio network device (virtio 1.2 §5.1, device
// type 1, PCI device ID 0x1041) on a host tap interface, a virtio.Device
// for the devices/virtio PCI transport.
//
// # What the driver sees
//
// One queue pair: receiveq1 (queue 0) and transmitq1 (queue 1); no
// control queue, no multiqueue. The device offers VIRTIO_NET_F_MAC (the
// address of Options.MAC, or DefaultMAC of the tap's name),
// VIRTIO_NET_F_STATUS (link up; SetLink changes it and sends a
// configuration change interrupt), VIRTIO_NET_F_MRG_RXBUF (unless
// Options.NoMergeRxBuffers) and, unless Options.NoOffloads, the checksum
// and TCP segmentation offloads VIRTIO_NET_F_CSUM, GUEST_CSUM, HOST_TSO4,
// HOST_TSO6, GUEST_TSO4 and GUEST_TSO6. The configuration is struct
// virtio_net_config up to max_virtqueue_pairs (ConfigSize bytes), all
// read-only. Every frame on either queue is preceded by the 12-byte
// virtio_net_hdr (Header) of VIRTIO_F_VERSION_1.
//
// # The back end
//
// Open attaches to a tap interface through /dev/net/tun with
// IFF_TAP|IFF_NO_PI|IFF_VNET_HDR and TUNSETVNETHDRSZ 12, so the tap speaks
// the same header: offloads pass through untouched in both directions.
// On DRIVER_OK the device sets TUNSETOFFLOAD to what the driver accepts
// on receive (TUN_F_CSUM with GUEST_CSUM, TUN_F_TSO4/6 with GUEST_TSO4/6),
// and back to none on reset, so the kernel only hands the device frames
// the driver can take; on transmit the tap accepts partial checksums and
// GSO frames whenever the vnet header is on. New takes an already-open
// descriptor instead: such a tap, or any pollable descriptor with one
// frame (header and Ethernet frame) per read and write, such as a
// SOCK_SEQPACKET socketpair. The header is little-endian, as the tap
// writes it on the little-endian hosts KVM on x86 runs on.
//
// # Transmit (§5.1.6.2)
//
// The transmitq goroutine pops each chain, copies the header (so the
// driver cannot change it after the check), validates it against the
// negotiated features (Header.CheckTransmit), and writes header and frame
// to the back end with one writev whose other iovecs are the chain's
// guest-RAM slices, obtained through the queue's address space. Chains
// are returned with used length 0. A chain that cannot be sent — shorter
// than a header, larger than MaxFrameSize, a bad header, a buffer the
// IOMMU refuses, a frame the tap rejects — is dropped and counted
// (Stats.TxDropped). When the back end has no room the frame is held by a
// goroutine that waits for room and the queue pauses, so nothing is lost
// and frames leave in order.
//
// # Receive (§5.1.6.3, §5.1.6.4)
//
// A goroutine per activation takes receive chains and reads each frame
// with one readv straight into them: the header into the device's copy,
// the frame into the chains' guest-RAM slices, translated just before the
// read. With MRG_RXBUF a frame fills as many chains as it needs and
// num_buffers says how many; the device gathers enough chains for a
// 1518-byte frame (or a 64 KiB one when GUEST_TSO is negotiated) before
// reading, and a larger frame's tail lands in a bounce buffer and is
// copied into the next chains. Without MRG_RXBUF num_buffers is 1 and a
// frame that does not fit its one chain is dropped. The header is fixed
// up for the negotiated features (Header.FixReceive): without GUEST_CSUM
// the flags are cleared; frames with offloads the driver did not accept
// are dropped. When no receive buffer is posted the goroutine stops
// reading the back end and waits for the driver's kick on receiveq: the
// frame waits, at most one is held, and the tap's own queue takes the
// rest. A chain too small for a header or refused by the IOMMU is
// returned with used length 0. Used-buffer notifications go out when the
// back end has nothing more to read, before waiting for buffers, and
// every 64 frames under load.
//
// # Errors
//
// Malformed rings or chains stop the queue and the transport sets
// DEVICE_NEEDS_RESET (also for errors met on the receive goroutine);
// everything about a single frame is counted in Stats and dropped, as a
// NIC does. A back end that ends (a socket whose peer closed) stops
// receive until the driver resets the device.
//
// # Wiring
//
//	nd, err := virtionet.Open("tap0", virtionet.Options{MAC: mac}) // mac nil: DefaultMAC("tap0")
//	tr, err := virtio.New(nd, virtio.Config{Memory: mem, MSI: msi, DMA: as})
//	err = segment.Add(pci.BDF{Device: 3}, tr)
//	...
//	tr.Close()
//	nd.Close()
package virtionet
