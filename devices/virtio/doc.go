// Package virtio implements the device side of virtio 1.2 (OASIS) over
// PCI: the modern virtio-pci transport (§4.1) and split virtqueues
// (§2.7), for device back ends such as devices/virtioblk and
// devices/virtiorng, and later virtio-net, virtio-console and
// virtio-iommu.
//
// # Every address is an IOVA
//
// A device never sees guest-physical addresses. Every ring, descriptor
// table and buffer address the driver programs is an I/O virtual address
// that goes through the device's dma.AddressSpace at the moment of the
// access: dma.Identity when the device is not behind an IOMMU, the VT-d
// unit's per-requester-ID address space or a virtio-iommu endpoint's
// otherwise. Nothing is translated once and cached, so an IOMMU
// invalidation takes effect on the next access. A translation fault or an
// address outside guest RAM is an error value, never a panic and never an
// access outside guest RAM.
//
// A device behind an IOMMU (Config.DMA non-nil) offers
// VIRTIO_F_ACCESS_PLATFORM and refuses FEATURES_OK unless the driver
// accepts it, so the driver cannot make the device bypass the IOMMU by
// declining the feature (§6.1: the device MAY fail to operate further
// without it).
//
// # Pieces
//
//   - Device: the interface a back end implements (type, features, queue
//     sizes, device-specific configuration, Activate, Process, Reset).
//   - Transport: the PCI function of one Device (it implements pci.Device
//     and pci.BARObserver). One 64-bit memory BAR (BARIndex, BARSize bytes)
//     holds the common configuration (CommonCfgOffset), the ISR status
//     (ISROffset), the device configuration (DeviceCfgOffset), the notify
//     addresses (NotifyOffset, NotifyOffMultiplier bytes apart) and the
//     MSI-X table and PBA; vendor capabilities of cfg_type 1–5 (PCICap*)
//     describe them, including the VIRTIO_PCI_CAP_PCI_CFG access window.
//   - Queue: one split virtqueue: Pop takes a descriptor Chain from the
//     available ring, Push returns it on the used ring, Interrupt notifies
//     the driver when VIRTIO_F_EVENT_IDX or VIRTQ_AVAIL_F_NO_INTERRUPT
//     say it wants to be. NewQueue builds one without a transport.
//   - Chain: the buffers of one request, indirect tables already expanded,
//     with ReadAt/WriteAt and ReadableSlices/WritableSlices (guest-RAM
//     slices for preadv/pwritev without a copy).
//   - Package virtiotest: a Go model of Linux's virtio_pci_modern driver,
//     translating and faulting address spaces, and fuzzing helpers.
//
// # Wiring a device (what the VMM does)
//
//	blk, err := virtioblk.Open("disk.img", virtioblk.Options{Serial: "disk0"})
//	bdf := pci.BDF{Device: 4}
//	as := vtdUnit.AddressSpace(bdf.RequesterID()) // nil without an IOMMU
//	tr, err := virtio.New(blk, virtio.Config{
//		Memory:   mem,       // guest RAM
//		DMA:      as,        // the device's IOMMU address space, or nil
//		MSI:      vm,        // irq.MSISender (KVM_SIGNAL_MSI)
//		IOEvents: vm,        // irq.IOEvents (KVM ioeventfd), or nil
//		Routes:   vm,        // irq.MSIRoutes (KVM irqfd + GSI routes), or nil
//		OnError:  logf,
//	})
//	err = seg.Add(bdf, tr) // assigns the BAR; the guest enables it
//	...
//	seg.Remove(bdf); tr.Close(); blk.Close()
//
// The address space is fixed at creation: the VMM knows the BDF it will
// add the device at, so it asks the IOMMU for that requester ID's address
// space first.
//
// # What the driver sees
//
// PCI vendor 0x1af4, device 0x1040+type, revision 1, subsystem
// 0x1af4:0x1100; one MSI-X vector per queue plus one (any can be the
// configuration vector). The transport offers VIRTIO_F_VERSION_1,
// VIRTIO_F_RING_EVENT_IDX, VIRTIO_F_INDIRECT_DESC and, behind an IOMMU or
// with Config.AccessPlatform, VIRTIO_F_ACCESS_PLATFORM, plus the device's
// own bits; never packed rings, IN_ORDER, NOTIFICATION_DATA or RING_RESET.
// Feature negotiation, status handling and queue setup follow §3.1.1 and
// §4.1.5: features freeze at FEATURES_OK, which does not stick if the
// driver accepted bits that were not offered or left out VERSION_1;
// queue registers freeze once the queue is enabled or DRIVER_OK is set;
// an MSI-X vector number beyond the table reads back as NoVector.
//
// Writing 0 to device_status resets the device (§2.4): the queue
// goroutines are stopped and waited for, Device.Reset runs, and every
// register returns to its initial value, all before the write completes,
// so the driver reads 0 back at once.
//
// # Queues, goroutines, notifications, interrupts
//
// On DRIVER_OK the transport builds a Queue for every enabled queue, calls
// Device.Activate, and starts one goroutine per queue. The goroutine calls
// Device.Process, then Queue.Interrupt, then sleeps until the next
// notification. Notifications arrive through a KVM ioeventfd per queue
// (registered at the queue's notify address while the BAR is mapped, and
// moved with it: Transport.BARMapped) or, without irq.IOEvents, through the
// BAR handler. Queue.Wake wakes the goroutine from elsewhere.
//
// A queue interrupt sends the queue's MSI-X vector. With irq.MSIRoutes
// each vector has an eventfd bound to a KVM MSI route that follows the
// MSI-X table (pci.VectorHook); an unmasked vector fires through it. A
// masked vector (or one whose route KVM refused, or every vector without
// irq.MSIRoutes) goes through pci.MSIX.Trigger, which sets the PBA
// pending bit and delivers through the irq.MSISender on unmask. The only
// departure from hardware is a vector masked while an irqfd write is in
// flight, which KVM may still deliver. With MSI-X disabled the transport
// only sets the ISR bits (there is no INTx pin).
//
// # Errors
//
// A driver that breaks the rules — a descriptor loop or a chain longer
// than the queue, an index outside the table, a malformed or nested
// indirect table, a readable buffer after a writable one, an available
// idx more than a queue ahead, a ring the IOMMU refuses or outside guest
// RAM, a bad queue setup at DRIVER_OK — stops the queue: Pop, Push and
// Process return an error, the transport sets DEVICE_NEEDS_RESET
// (§2.1.2), sends the configuration-change interrupt and tells
// Config.OnError why. A request whose data buffers fault is the device's
// business: virtio-blk fails it with VIRTIO_BLK_S_IOERR.
//
// # Concurrency and ordering
//
// A Transport is safe for concurrent use by vCPU threads and device
// goroutines; a Queue serialises Pop, Push and Interrupt. Ring indices are
// read and published with 32-bit atomic accesses of the aligned word that
// holds them, so buffers are read after the idx that made them available
// and the used element is visible before the idx that publishes it; a full
// barrier separates publishing avail_event or used idx from reading the
// driver's event index (§2.7.10, §2.7.13).
package virtio
