// Package virtioconsole is the virtio console device (virtio 1.2 §5.3,
// device type 3, PCI device ID 0x1043) with a single port, a
// virtio.Device for the devices/virtio PCI transport. Linux binds it with
// virtio_console and exposes port 0 as /dev/hvc0; the kernel command line
// console=hvc0 makes it the kernel console.
//
// # What the driver sees
//
// Two queues: receiveq (queue 0, ReceiveQueue) carries input to the
// driver, transmitq (queue 1, TransmitQueue) output from it (§5.3.2). The
// device offers VIRTIO_CONSOLE_F_EMERG_WRITE only: no
// VIRTIO_CONSOLE_F_SIZE (cols and rows read 0 and the driver keeps its
// default geometry) and no VIRTIO_CONSOLE_F_MULTIPORT (so there is no
// control queue and max_nr_ports is 1). The configuration is struct
// virtio_console_config, ConfigSize bytes: cols, rows, max_nr_ports and
// the write-only emerg_wr.
//
// # Data flow
//
//   - Output: every chain on transmitq is written, device-readable
//     buffers in order, straight from guest memory (the buffers'
//     guest-RAM slices are obtained through the queue's address space) to
//     the io.Writer given to New; the used length is 0 (§5.3.6.1: the
//     device writes nothing back). A write to emerg_wr outputs its low
//     byte the same way (§5.3.4). Writes to the io.Writer are serialised.
//   - Input: a goroutine reads the io.Reader given to New, at most
//     InputChunk bytes at a time, and hands each chunk to receiveq. While
//     the driver has no receive buffer posted (or the device is not
//     active) the chunk waits, and the goroutine does not read more: input
//     is never dropped and never buffered beyond one chunk; the reader
//     sees back-pressure instead. The driver's next kick on receiveq
//     delivers it. Chunks survive a device reset (they are the host's
//     input, not device state).
//
// # Errors
//
// A chain whose buffers the IOMMU refuses (or that lie outside guest
// RAM) is returned with used length 0 and its data is skipped; a
// malformed chain or ring stops the queue and the transport sets
// DEVICE_NEEDS_RESET. Errors of the io.Writer do not reach the guest
// (output is discarded, as on a disconnected serial line); the first one
// is kept for OutputErr.
//
// # Wiring
//
//	con := virtioconsole.New(os.Stdout, os.Stdin)
//	tr, err := virtio.New(con, virtio.Config{Memory: mem, MSI: msi, DMA: as})
//	err = segment.Add(pci.BDF{Device: 7}, tr)
//	...
//	tr.Close()
//	con.Close()
package virtioconsole
