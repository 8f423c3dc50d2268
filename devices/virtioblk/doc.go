// Package virtioblk is the virtio block device (virtio 1.2 §5.2, device
// type 2, PCI device ID 0x1042) backed by a raw image file, a
// virtio.Device for the devices/virtio PCI transport.
//
// # What the driver sees
//
// Capacity is the image size in whole 512-byte sectors. The device offers
// VIRTIO_BLK_F_SIZE_MAX (SizeMax), VIRTIO_BLK_F_SEG_MAX (queue size − 2,
// so a request always fits a chain), VIRTIO_BLK_F_BLK_SIZE (512),
// VIRTIO_BLK_F_FLUSH, and either VIRTIO_BLK_F_RO (Options.ReadOnly) or
// VIRTIO_BLK_F_DISCARD and VIRTIO_BLK_F_WRITE_ZEROES (unless
// Options.NoDiscard), and VIRTIO_BLK_F_MQ with more than one queue. Its
// configuration is struct virtio_blk_config up to write_zeroes_may_unmap
// (ConfigSize bytes); every field is read-only.
//
// # Requests (§5.2.6)
//
// A request is a 16-byte header (type, reserved, sector) in
// device-readable buffers, data, and a status byte in the last
// device-writable byte. Header, data and segments may be split across
// descriptors anywhere (§2.6.4: no framing assumptions).
//
//   - VIRTIO_BLK_T_IN / OUT: the data (a whole number of sectors, inside
//     the capacity) moves with preadv/pwritev straight between the image
//     and guest memory: the buffers' guest-RAM slices are obtained through
//     the queue's address space (virtio.Chain.WritableSlices /
//     ReadableSlices), in batches of up to 1024 iovecs, without a copy.
//     Without VIRTIO_BLK_F_FLUSH negotiated every write is followed by
//     fdatasync (write-through).
//   - VIRTIO_BLK_T_FLUSH: fdatasync.
//   - VIRTIO_BLK_T_GET_ID: the serial (Options.Serial), 20 bytes
//     zero-padded, cut to the buffer.
//   - VIRTIO_BLK_T_DISCARD: FALLOC_FL_PUNCH_HOLE per segment (a file
//     system that cannot punch holes keeps the data: discard is a hint).
//   - VIRTIO_BLK_T_WRITE_ZEROES: FALLOC_FL_ZERO_RANGE, or a hole when the
//     segment's unmap flag is set, falling back to writing zeroes.
//
// Status values follow §5.2.6.2: VIRTIO_BLK_S_IOERR for a write to a
// read-only device, a range outside the capacity, a data length that is
// not a whole number of sectors, a malformed segment list, a host I/O
// error, or a buffer the IOMMU refuses (no I/O is done then: every
// buffer is translated before the system call); VIRTIO_BLK_S_UNSUPP for
// unknown types, for types whose feature was not negotiated, for unknown
// segment flags and for the unmap flag on a discard. The used length is
// the bytes written to the driver, status byte included: data + 1 for a
// successful read, 1 otherwise.
//
// A chain with no device-writable byte or fewer than 16 readable bytes
// cannot even be answered; it stops the queue (ErrMalformed) and the
// transport sets DEVICE_NEEDS_RESET, as does a status byte the IOMMU
// refuses.
//
// # Wiring
//
//	blk, err := virtioblk.Open("disk.img", virtioblk.Options{Serial: "disk0"})
//	tr, err := virtio.New(blk, virtio.Config{Memory: mem, MSI: msi, DMA: as})
//	err = segment.Add(pci.BDF{Device: 4}, tr)
//	...
//	tr.Close()
//	blk.Close()
//
// Each queue is served by its own goroutine; requests of different queues
// run concurrently against the same file descriptor.
package virtioblk
