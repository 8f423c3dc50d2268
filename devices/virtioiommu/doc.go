// Package virtioiommu is the virtio-iommu device (virtio 1.3 §5.13, device
// type 23, PCI ID 1af4:1057): a paravirtual IOMMU through which the guest
// gives each endpoint behind it (a PCI function, named by its requester
// ID) its own I/O virtual address space.
//
// # What the guest sees
//
// Two virtqueues: the request queue (0) and the event queue (1). The
// device offers VIRTIO_IOMMU_F_INPUT_RANGE, DOMAIN_RANGE, MAP_UNMAP, PROBE,
// MMIO and BYPASS_CONFIG (the transport adds VERSION_1), never the legacy
// BYPASS. Its configuration (ConfigSize bytes, §5.13.4) is:
//
//   - page_size_mask: Config.PageSizeMask, by default 4 KiB | 2 MiB |
//     1 GiB; the lowest bit is the granule every MAP is aligned to;
//   - input_range: [0, 2^aw-1] from Config.AWBits;
//   - domain_range: Config.DomainRange;
//   - probe_size: ProbePropertiesSize (512);
//   - bypass: 1 after a system reset when Config.BypassDefault is set (the
//     default), so that firmware and a kernel without the driver can do
//     DMA. The value read is always the one that decides how unattached
//     endpoints behave. The driver may write 0 or 1 once it has
//     negotiated BYPASS_CONFIG (other values are ignored); a device
//     reset keeps it, SystemReset restores it.
//
// Requests (§5.13.6) are served in the order the driver queues them; each
// chain's readable bytes hold the request and its writable bytes the tail,
// whatever the descriptor layout. Every rule of the specification is
// applied: ATTACH (reserved and unknown flags INVAL, unknown endpoint
// NOENT, bypass-flag mismatch INVAL, implicit detach on re-attach, several
// endpoints per domain), DETACH (a domain with no endpoint left ceases to
// exist), MAP (granule alignment and input range RANGE, overlap with a
// mapping or a reserved region INVAL, permissions stored and enforced),
// UNMAP (a split is RANGE and removes nothing, holes are fine), PROBE (the
// x86 MSI window 0xfee00000-0xfeefffff as a RESV_MEM property of subtype
// MSI, plus Config.Reserved; a short buffer is INVAL). The used length is
// always exactly the number of bytes written, which Linux relies on; an
// unknown request type, or a chain too short to hold a head and a tail,
// is returned unwritten with used length 0. The doc comments of the
// request handlers list each check in order.
//
// # Endpoints and translation
//
// The endpoints are fixed when the device is built (Config.Endpoints).
// Device.AddressSpace returns each one's *AddressSpace, a dma.AddressSpace:
// a device model behind the IOMMU translates every DMA address through it.
// An endpoint attached to a domain reaches exactly the domain's mappings
// with their permissions (a write through a READ-only mapping faults); an
// endpoint in bypass mode (unattached with bypass = 1, or attached to a
// domain created with ATTACH_F_BYPASS) reaches guest memory untranslated;
// any other endpoint reaches nothing. A refused access returns a
// *dma.Fault to the device model and a fault record (reason DOMAIN or
// MAPPING, READ/WRITE flags, the endpoint, the address) to the driver on
// the event queue.
//
// Translate takes only the read lock of its endpoint and allocates
// nothing; requests take the endpoint's write lock around the changes
// that affect it, so an UNMAP, DETACH or ATTACH is complete only when no
// translation can see the old state any more.
//
// # Event queue
//
// Fault records (struct virtio_iommu_fault, FaultRecordSize bytes) go one
// per buffer, never split. While the driver has no buffer available they
// wait in a FIFO of EventBacklog records; faults past it, and faults while
// the event queue is not running, are dropped and counted
// (Stats.FaultsDropped). A buffer too small for a record is returned with
// used length 0 and the record waits for the next one.
//
// # Notifiers
//
// Each AddressSpace has a notifier.Hub for the host consumers that must
// follow the endpoint's translations (VFIO, vhost, the event log): see
// AddressSpace.Register. Registering for Map replays what the endpoint
// can reach now; MAP on its domain is a Map event, fanned out to every
// attached endpoint, and if a consumer refuses it every consumer that took
// it unmaps it again and the request fails with DEVERR, the domain
// unchanged; UNMAP is an Unmap per run of adjacent removed mappings; an
// ATTACH, DETACH, bypass change or reset is an Unmap of what the endpoint
// could reach, then a Map of what it can reach (an ATTACH whose Map is
// refused is undone and fails with DEVERR). MMIO mappings are translated
// but not reported. Errors the guest cannot see in a status go to the hook
// set with SetErrorHook.
//
// # Locking
//
// Device.mu serialises requests, configuration writes, activation, reset
// and notifier registration; it is the "owner's lock" of every hub
// (notifier package documentation), so the order is device lock, then hub
// lock. Each AddressSpace has a read/write lock that Translate takes for
// reading. A domain's mappings change only with the device lock and the
// write lock of each attached endpoint held; notifiers are called with the
// device lock only, so they may Translate.
//
// # Wiring it into a VM
//
//	cfg, err := virtioiommu.ParseConfig("aw-bits=48,granule=4k")
//	cfg.Endpoints = []uint32{pci.BDF{Device: 3}.RequesterID(), ...}
//	iommu, err := virtioiommu.New(cfg, mem)
//	tr, err := virtio.New(iommu, virtio.Config{Memory: mem, MSI: msi}) // no DMA: the IOMMU is not behind itself
//	err = segment.Add(pci.BDF{Device: 2}, tr)
//	as, err := iommu.AddressSpace(pci.BDF{Device: 3}.RequesterID())
//	blkTr, err := virtio.New(blk, virtio.Config{Memory: mem, MSI: msi, DMA: as})
//
// Every endpoint transport then has a DMA address space, so it offers
// VIRTIO_F_ACCESS_PLATFORM and refuses a driver that declines it. The
// topology goes to the guest in a VIOT table: the IOMMU's own segment and
// BDF, and one PCI range per endpoint whose endpoint ID is the requester
// ID (EndpointStart = BDFStart = BDFEnd = the endpoint), so that the IDs
// Linux computes are exactly Config.Endpoints and it never probes a
// function the device does not know. On a guest reboot the VMM calls
// SystemReset, which also restores the bypass field.
package virtioiommu
