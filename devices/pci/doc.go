// Package pci models the PCI side of the machine: configuration spaces,
// capability lists, Base Address Registers, MSI and MSI-X, the host bridge,
// and the two ways a guest reaches configuration space — configuration
// mechanism #1 (ports 0xCF8/0xCFC) and PCI Express ECAM (an MMIO window).
//
// # Pieces
//
//   - ConfigSpace: one function's 4 KiB configuration space (256 bytes of
//     PCI-compatible space plus the PCI Express extended space), with a
//     per-bit writable mask and a per-bit write-1-to-clear mask, so a guest
//     write can only change what the specification lets it change.
//     NewConfigSpace builds the type 0 header from a Header; AddBAR
//     declares BARs; AddCapability and AddExtendedCapability append to the
//     standard (0x40–0xFF) and extended (0x100–0xFFF) capability lists;
//     OnRead and OnWrite let a device react to guest accesses.
//   - Device: what the Segment needs from a function — its ConfigSpace.
//     Optional interfaces let a device intercept configuration accesses
//     (ConfigInterceptor, for passthrough), learn where its BARs are mapped
//     (BARObserver) and see Command changes (CommandObserver).
//   - Segment: a PCI segment group — the functions on its bus range, the
//     windows BAR addresses are assigned from, and the MMIO and I/O
//     buses (devices/bus) BARs are mapped on. Segment.ECAM and NewConfigIO
//     return the handlers the VMM puts on its MMIO and port buses.
//   - MSI, MSIX, INTx: the function's interrupts. MSI and MSI-X messages
//     go out through an irq.MSISender as irq.MSI{Addr, Data, DevID}, DevID
//     being the function's requester ID.
//   - HostBridge: the 8086:29C0 host bridge at 00:00.0; AddPCIExpress
//     makes a function a PCI Express Root Complex Integrated Endpoint.
//   - BDF: bus/device/function; BDF.RequesterID is the 16-bit requester ID
//     (VT-d source-id) the IOMMUs key per-device address spaces by.
//
// # Building a machine's PCI segment
//
// There is no firmware: the VMM creates the segment with its windows,
// adds the host bridge and the devices, and the segment pre-assigns every
// BAR a naturally aligned address from the windows (memory BARs at least
// 4 KiB aligned) so a Linux guest finds them assigned and claims them.
// The VMM then maps the configuration handlers:
//
//	seg, err := pci.NewSegment(pci.SegmentConfig{
//		ECAMBase: 0xe800_0000, BusStart: 0, BusEnd: 0,
//		MMIO: mmioBus, IO: ioBus,
//		MMIO32:  pci.Window{Base: 0xc000_0000, Size: 0x2800_0000},
//		MMIO64:  pci.Window{Base: 1 << 40, Size: 1 << 38},
//		IOPorts: pci.Window{Base: 0x1000, Size: 0xf000},
//	})
//	seg.Add(pci.BDF{}, pci.NewHostBridge())
//	seg.Add(pci.BDF{Device: 3}, dev) // dev.Config() declared BARs, MSI-X, ...
//	base, size := seg.ECAMWindow()
//	mmioBus.Insert(base, size, seg.ECAM())
//	ioBus.Insert(pci.ConfigIOPort, pci.ConfigIOSize, pci.NewConfigIO(seg, reset))
//
// A second segment (or more buses) is another NewSegment with its own ECAM
// base and bus range; only one segment serves CF8/CFC.
//
// # What the guest sees
//
// Configuration accesses of 1, 2 or 4 bytes within one DWORD reach the
// function's registers. An absent function reads as all ones and ignores
// writes; so do malformed accesses. Writes to read-only or unknown
// registers change nothing. Command bits I/O Space, Memory Space, Bus
// Master, Parity Error Response, SERR# Enable and Interrupt Disable are
// writable; Status error bits are RW1C.
//
// BARs follow the sizing protocol: after writing all ones the guest reads
// back ^(size-1) with the read-only type bits (I/O, 32- or 64-bit memory,
// prefetchable). A BAR's handler is on the bus exactly while the matching
// Command decode bit is set and its address is usable; the guest may move
// it, and a 64-bit BAR is remapped only once both halves are written. The
// expansion ROM BAR is not implemented (reads 0).
//
// MSI (64-bit address, 1–32 vectors, optional per-vector masking) and
// MSI-X (1–2048 vectors, table and PBA in a memory BAR) deliver only when
// enabled, unmasked and bus mastering is on; a masked vector that fires
// becomes pending and is delivered when unmasked. A VectorHook reports
// every change of a vector's message or mask so the VMM can keep KVM
// irqfd routes in step.
//
// # Concurrency
//
// Configuration accesses come from several vCPU threads at once and
// interrupts from device goroutines; every type here is safe for that.
// Configuration reads run in parallel. Writes that touch Command or a BAR
// are serialised per segment, and BAR remapping, BARObserver and
// CommandObserver calls happen under that serialisation.
//
// # Specifications
//
// PCI Local Bus Specification 3.0 (§3.2.2.3.2 configuration mechanism #1,
// §6.1–6.2 the type 0 header, §6.2.5 BARs, §6.7 capabilities, §6.8 MSI and
// MSI-X) and PCI Express Base Specification (§7.2.2 ECAM, §7.5.3 the PCI
// Express Capability, §7.6 extended capabilities).
package pci
