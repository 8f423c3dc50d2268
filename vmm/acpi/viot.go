package acpi

// VIOTConfig describes a virtio-iommu on PCI and the PCI endpoints it
// translates, for the VIOT table (ACPI 6.6 §5.2.33, "Virtual I/O
// Translation (VIOT) Table"; Linux drivers/acpi/viot.c).
type VIOTConfig struct {
	// Segment and BDF locate the virtio-iommu's own PCI function (BDF =
	// bus<<8 | dev<<3 | fn, see BDF). It must be on Config.ECAM's segment
	// and bus range.
	Segment uint16
	BDF     uint16 // of the virtio-iommu PCI function
	// Ranges are the PCI endpoints behind the IOMMU, at least one. A range
	// may include the IOMMU's own BDF: Linux never makes the IOMMU
	// translate itself.
	Ranges []VIOTPCIRange
}

// VIOTPCIRange is a PCI Range node (ACPI 6.6 §5.2.33.3): the functions
// BDFStart-BDFEnd of segments SegmentStart-SegmentEnd are endpoints whose
// endpoint ID (the virtio-iommu's ATTACH/MAP "endpoint") is
//
//	(segment - SegmentStart)<<16 + bdf - BDFStart + EndpointStart.
//
// Ranges must not overlap in (segment, BDF) space or in endpoint IDs.
type VIOTPCIRange struct {
	EndpointStart uint32 // endpoint ID of the first function
	SegmentStart  uint16 // first PCI segment of the range
	SegmentEnd    uint16 // last PCI segment, inclusive
	BDFStart      uint16 // first requester ID (see BDF)
	BDFEnd        uint16 // last requester ID, inclusive
}

// BDF returns the 16-bit PCI requester ID bus<<8 | dev<<3 | fn. dev is
// taken modulo 32 and fn modulo 8.
func BDF(bus, dev, fn uint8) uint16 {
	return uint16(bus)<<8 | uint16(dev&0x1F)<<3 | uint16(fn&7)
}

// VIOT layout: header, node count and node offset, 8 reserved bytes, then
// the nodes from byte 48: the virtio-pci IOMMU node (type 3, 16 bytes) and
// one PCI Range node (type 1, 24 bytes) per range, each naming the IOMMU
// node's offset as its output node.
const (
	viotRevision        = 0
	viotNodeOffset      = 48
	viotTypePCIRange    = 1
	viotTypeVirtioPCI   = 3
	viotPCIRangeSize    = 24
	viotVirtioPCISize   = 16
	viotIOMMUNodeOffset = viotNodeOffset
)

// buildVIOT returns the VIOT for v.
func buildVIOT(v *VIOTConfig) []byte {
	t := newTable("VIOT", viotRevision, viotNodeOffset+viotVirtioPCISize+viotPCIRangeSize*len(v.Ranges))
	t = le16(t, uint16(1+len(v.Ranges)))
	t = le16(t, viotNodeOffset)
	t = append(t, make([]byte, 8)...)
	t = append(t, viotTypeVirtioPCI, 0)
	t = le16(t, viotVirtioPCISize)
	t = le16(t, v.Segment)
	t = le16(t, v.BDF)
	t = append(t, make([]byte, 8)...)
	for _, r := range v.Ranges {
		t = append(t, viotTypePCIRange, 0)
		t = le16(t, viotPCIRangeSize)
		t = le32(t, r.EndpointStart)
		t = le16(t, r.SegmentStart)
		t = le16(t, r.SegmentEnd)
		t = le16(t, r.BDFStart)
		t = le16(t, r.BDFEnd)
		t = le16(t, viotIOMMUNodeOffset)
		t = append(t, make([]byte, 6)...)
	}
	return finishTable(t)
}
