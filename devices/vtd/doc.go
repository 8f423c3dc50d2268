// Package vtd emulates an Intel VT-d DMA-remapping hardware unit (Intel
// Virtualization Technology for Directed I/O, Architecture Specification,
// "the spec" below) in legacy (not scalable) mode: the guest-visible
// register window, translation of device DMA through the guest's root,
// context and second-level tables, the context cache and IOTLB,
// register-based and queued invalidation, primary fault logging, and
// caching-mode shadowing of the guest's mappings to notifiers (VFIO, vhost,
// an event log).
//
// # Placing the unit in a VM
//
// A Unit is built from a Config, the guest's RAM and an MSI sender:
//
//	cfg, err := vtd.ParseConfig("aw-bits=48,caching-mode=on") // the --iommu option string
//	unit, err := vtd.New(cfg, mem, msiSender)
//	mmioBus.Insert(vtd.RegisterBase, vtd.RegisterWindowSize, unit) // a bus.Handler
//	as := unit.AddressSpace(bdf) // one per PCI requester, given to the device
//
// The DMAR ACPI table (spec 8) describes it with one DRHD: register base
// RegisterBase, size 0 (one 4 KiB page, RegisterWindowSize), INCLUDE_PCI_ALL,
// and a header host address width of Config.HAW() (stored as HAW-1). With
// device-iotlb=on, add an ATSR so the guest enables ATS.
//
// # Configuration and capabilities
//
// ParseConfig accepts aw-bits=39|48 (default 48), caching-mode=on|off
// (default on), device-iotlb=on|off (default off) and pt=on|off (default
// on); anything else, or a width a Linux guest would reject, is an error.
// The capability registers (spec 10.4.2, 10.4.3) follow: Config.CAP and
// Config.ECAP give their values. Fixed: 16-bit domain IDs (ND=6), PSI with
// MAMV=18 (page-selective invalidation of up to 1 GiB), 2 MiB and 1 GiB
// second-level pages, queued invalidation, 8 fault-recording registers at
// offset 0x220, the IOTLB registers at 0xF0. Not offered: scalable mode,
// first-level tables, write-buffer flushing, protected memory regions,
// page requests, and for now interrupt remapping (ECAP.IR=0; IRTA and
// SIRTP are kept so that it can be added).
//
// # Registers
//
// Read and Write serve naturally aligned 4- and 8-byte accesses, as Linux
// makes them; other sizes and misaligned accesses read 0 and are ignored,
// as are offsets that hold no register. Reserved bits read 0 and ignore
// writes; RW1C fields (FSTS.PFO/IQE/ICE/ITE, FRCD.F, ICS.IWC) are cleared by
// writing 1. GCMD reads 0. Every command completes before the write that
// issues it returns: GSTS already reflects TE, SRTP, QIE (and SIRTP) when
// the guest polls it; CCMD.ICC and IOTLB.IVT read back clear with the
// granularity performed in CAIG/IAIG; a write to IQT processes the whole
// invalidation queue, so the status word of a wait descriptor is written
// before the guest's first look at it. Re-asserting a one-shot bit, as
// kvm-unit-tests does by writing GSTS|bit, is harmless; latching the same
// root table again is a no-op.
//
// # Translation
//
// AddressSpace.Translate implements dma.AddressSpace (spec 3.4-3.6, 9.1,
// 9.3, 9.8). With translation disabled (GSTS.TES=0) every IOVA maps to
// itself. Otherwise root[bus] and context[devfn] of the requester select
// pass-through (TT=10, needs pt=on), or a 3-level (AW=1, 39-bit) or
// 4-level (AW=2, 48-bit, needs aw-bits=48) second-level table (TT=00, and
// TT=01 with device-iotlb=on). The walk honours R and W at every level, 2
// MiB and 1 GiB leaves (PS), and checks reserved bits in present entries:
// bits above the host address width, SNP, TM (allowed in leaves with
// device-iotlb), PS at level 4, and the address bits a large page does not
// use. IOVAs at or above 2^AGAW fault. The interrupt address range
// 0xFEE00000-0xFEEFFFFF is never memory (spec 3.14): DMA whose IOVA or
// translated address falls in it faults, and a translation stops short of
// it.
//
// # Faults
//
// A refused translation returns a *dma.Fault to the device and is logged as
// the spec's primary fault logging prescribes (spec 7.3): into the ring of
// NumFaultRecords FRCD registers, FSTS.FRI pointing at the first pending
// one, PPF while any is pending, PFO (and the fault dropped) when the next
// record is still in use. The fault event MSI (FEDATA, FEADDR, FEUADDR) is
// sent when a new interrupt condition appears (PPF, PFO, IQE) and none was
// pending, unless FECTL.IM masks it: then FECTL.IP stays set and unmasking
// sends it. Qualified faults (spec 7.1.3) of a context entry with FPD=1 are
// not logged. Every fault, logged or not, reaches the hook set with
// SetFaultHook, with its FaultReason.
//
// # Caches and invalidation
//
// The context cache holds one decoded context entry per requester; the
// IOTLB holds up to IOTLBEntries leaf translations tagged with domain
// (DID) and requester (SID), in a 4-way set-associative table that evicts
// single entries, never everything. In front of it each address space
// keeps a 32-entry first-level cache of the IOTLB entries it used. Nothing
// is cached for a not-present or invalid entry, so tables a guest writes
// after enabling translation (kvm-unit-tests) are seen at once.
//
// Invalidations act at the granularity asked (spec 6.5): context-cache
// global, domain-selective (only the requesters whose cached entry has
// that DID) and device-selective (SID with function mask FM); IOTLB
// global, domain-selective (DSI) and page-selective (PSI: 2^AM pages at
// ADDR, IH accepted; nothing else is cached to keep). A context-cache
// invalidation also drops the IOTLB entries of the requesters it covers.
// Register-based invalidation (CCMD; IVA with IOTLB) works while queued
// invalidation is off and is refused (CAIG/IAIG 0) while it is on.
//
// Queued invalidation reads 128-bit descriptors from the ring at IQA (QS
// gives 256 << QS entries) from IQH up to IQT: context-cache (type 1),
// IOTLB (2), device-TLB (3), interrupt entry cache (4, nothing cached yet)
// and invalidation wait (5: SW writes the status data to the status
// address, IF sets ICS.IWC and sends the completion MSI (IEDATA, IEADDR,
// IEUADDR) unless IECTL.IM masks it, FN needs nothing as descriptors
// complete in order). A descriptor with an unknown type (including the
// scalable-mode types), a reserved bit set, PSI with AM above MAMV, a
// status write outside guest RAM, a tail outside the queue, 256-bit
// descriptors, or a queue outside guest RAM sets FSTS.IQE with the reason
// in IQER.IQEI and halts the queue with IQH on the offending descriptor;
// clearing FSTS.IQE resumes it, as Linux expects after it replaces the
// descriptor.
//
// # Shadowing the guest's mappings (caching mode)
//
// AddressSpace.Register adds a notifier.Notifier to the address space's
// notifier.Hub for kinds notifier.Map, notifier.Unmap and
// notifier.DevIOTLBUnmap over an IOVA range. MAP needs caching-mode=on
// (ErrNoCachingMode) and DEVIOTLB_UNMAP device-iotlb=on
// (ErrNoDeviceIOTLB). With MAP notifiers, the address space keeps an
// iovatree.Tree of the mappings they were told about and follows the
// guest's invalidations:
//
//	guest operation                        MAP notifiers                       UNMAP-only notifiers
//	IOTLB PSI of domain D                  walk the PSI range of each          UNMAP of the range
//	                                       requester in D, notify the diff
//	IOTLB DSI of D                         resync each requester in D          UNMAP of everything
//	IOTLB global                           resync every requester              UNMAP of everything
//	context-cache device/domain/global     resync the requesters covered       UNMAP of everything
//	device-TLB (type 3)                    -                                   DEVIOTLB_UNMAP of the range
//	TE set or cleared, new root table      UNMAP everything, then resync       UNMAP of everything
//
// The diff of a walk against the tree: an unchanged leaf is not notified;
// a new one is a MAP; one that changed is an UNMAP then a MAP; mappings
// under a not-present entry are UNMAPped, and a not-present upper-level
// entry covers its whole range (2 MiB to 512 GiB), beyond the invalidated
// range if need be. Every UNMAP names exactly one mapping that was
// notified, so VFIO type1 v2 and iommufd never see an unmap that bisects a
// mapping or finds nothing. The walk costs the size of the invalidated
// range, not of the address space: a PSI of one page with a million live
// mappings takes about a microsecond.
//
// A new MAP notifier is first told the current mappings (a replay to it
// alone, with nothing unmapped first). While translation is disabled, or
// for a pass-through context entry, the mappings are the identity over
// each guest RAM region. A MAP that a notifier refuses is rolled back by
// the hub, reported through the hook set with SetErrorHook, and retried by
// the next synchronisation of that range.
//
// # Concurrency
//
// A Unit and its address spaces are safe for concurrent use. Register
// accesses, invalidations and shadowing run under the unit's lock, so
// vCPUs are serialised against each other. Translate takes no lock on its
// hit path (atomic loads of immutable entries) and only the fault
// registers' own lock when it faults, so device goroutines never wait for
// a vCPU that is resynchronising a shadow. Every invalidation bumps a
// generation counter before it clears the caches, and a translation that
// raced with it does not cache what it found, so once the guest's
// invalidation has completed no translation that starts afterwards uses
// what it invalidated. Notifiers are called with the unit's lock held
// (lock order: unit, address space, hub); they must not call back into the
// register window, Register or Unregister, but may Translate.
package vtd
