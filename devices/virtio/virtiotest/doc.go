// Package virtiotest is a Go model of the guest side of virtio over PCI,
// for testing device back ends without booting a kernel: a Machine (guest
// RAM, an MMIO bus, a PCI segment and an MSI recorder) and a Driver that
// finds a virtio function through ECAM, negotiates features, sets up split
// virtqueues and submits buffers exactly as Linux's virtio_pci_modern and
// virtio_ring drivers do (virtio 1.2 §3.1.1, §4.1.5, §2.7.13).
//
// Every address the Driver hands the device is an IOVA. The Driver writes
// its rings and buffers through the same dma.AddressSpace the device was
// given, the way an operating system programs the IOMMU before it gives
// a device an address; PagePermutation, Faulting and Counting are address
// spaces that make a device that bypasses translation fail loudly.
//
// Guest RAM is anonymous mmap'd memory, as in the VMM: the race detector
// does not watch it, so driver/device sharing of rings is not reported,
// while races in the device's own Go state still are.
package virtiotest
