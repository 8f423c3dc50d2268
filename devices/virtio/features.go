package virtio

import (
	"fmt"
	"strings"
)

// Reserved (transport and ring) feature bits, virtio 1.2 §6. Bits 0–23
// and 50–127 are device-specific; 24–40 belong to the transport and the
// queue layer. A feature set is a 64-bit mask: bit n is 1<<n.
const (
	// FeatureIndirectDesc (VIRTIO_F_INDIRECT_DESC, bit 28): the driver
	// may use descriptors with VIRTQ_DESC_F_INDIRECT (§2.7.5.3).
	FeatureIndirectDesc uint64 = 1 << 28
	// FeatureEventIdx (VIRTIO_F_EVENT_IDX, bit 29): the used_event and
	// avail_event fields suppress notifications (§2.7.7, §2.7.10).
	FeatureEventIdx uint64 = 1 << 29
	// FeatureVersion1 (VIRTIO_F_VERSION_1, bit 32): the device complies
	// with virtio 1.x; a modern device refuses FEATURES_OK without it.
	FeatureVersion1 uint64 = 1 << 32
	// FeatureAccessPlatform (VIRTIO_F_ACCESS_PLATFORM, bit 33): the
	// device's memory accesses are translated by the platform (an
	// IOMMU); the driver hands out bus addresses (IOVAs).
	FeatureAccessPlatform uint64 = 1 << 33
	// FeatureRingPacked (VIRTIO_F_RING_PACKED, bit 34): packed
	// virtqueues. Never offered by this package.
	FeatureRingPacked uint64 = 1 << 34
	// FeatureInOrder (VIRTIO_F_IN_ORDER, bit 35). Never offered.
	FeatureInOrder uint64 = 1 << 35
	// FeatureOrderPlatform (VIRTIO_F_ORDER_PLATFORM, bit 36). Never offered.
	FeatureOrderPlatform uint64 = 1 << 36
	// FeatureNotificationData (VIRTIO_F_NOTIFICATION_DATA, bit 38).
	// Never offered: notifications carry the queue index only.
	FeatureNotificationData uint64 = 1 << 38
	// FeatureRingReset (VIRTIO_F_RING_RESET, bit 40). Never offered:
	// queue_reset reads 0.
	FeatureRingReset uint64 = 1 << 40

	// transportFeatures are the bits the Transport itself implements and
	// offers on top of Device.Features.
	transportFeatures = FeatureIndirectDesc | FeatureEventIdx | FeatureVersion1 | FeatureAccessPlatform
	// reservedFeatures is the transport range, bits 24–40 (§6).
	reservedFeatures uint64 = (1<<41 - 1) &^ (1<<24 - 1)
)

var featureNames = []struct {
	bit  uint64
	name string
}{
	{FeatureIndirectDesc, "INDIRECT_DESC"},
	{FeatureEventIdx, "EVENT_IDX"},
	{FeatureVersion1, "VERSION_1"},
	{FeatureAccessPlatform, "ACCESS_PLATFORM"},
	{FeatureRingPacked, "RING_PACKED"},
	{FeatureInOrder, "IN_ORDER"},
	{FeatureOrderPlatform, "ORDER_PLATFORM"},
	{FeatureNotificationData, "NOTIFICATION_DATA"},
	{FeatureRingReset, "RING_RESET"},
}

// FeatureString names the reserved bits of f ("VERSION_1|EVENT_IDX") and
// prints the rest, which are device-specific, as a hex mask.
func FeatureString(f uint64) string {
	var parts []string
	for _, n := range featureNames {
		if f&n.bit != 0 {
			parts = append(parts, n.name)
			f &^= n.bit
		}
	}
	if f != 0 || len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%#x", f))
	}
	return strings.Join(parts, "|")
}

// Type is a virtio device type (virtio 1.2 §5, "Device Types"). The PCI
// device ID of a modern device is 0x1040 + Type (§4.1.2).
type Type uint16

// Device types used by this VMM.
const (
	TypeNet     Type = 1  // network card (§5.1)
	TypeBlock   Type = 2  // block device (§5.2)
	TypeConsole Type = 3  // console (§5.3)
	TypeEntropy Type = 4  // entropy source (§5.4)
	TypeIOMMU   Type = 23 // IOMMU device (§5.13)
)

// String returns the specification's name of t ("block", "entropy", ...).
func (t Type) String() string {
	switch t {
	case TypeNet:
		return "net"
	case TypeBlock:
		return "block"
	case TypeConsole:
		return "console"
	case TypeEntropy:
		return "entropy"
	case TypeIOMMU:
		return "iommu"
	}
	return fmt.Sprintf("type(%d)", uint16(t))
}

// PCIDeviceID returns the PCI device ID of a non-transitional (modern)
// device of type t: 0x1040 + t (virtio 1.2 §4.1.2.1).
func (t Type) PCIDeviceID() uint16 { return 0x1040 + uint16(t) }

// PCIVendorID is the vendor ID of every virtio PCI function (Red Hat,
// Inc., virtio 1.2 §4.1.2).
const PCIVendorID = 0x1af4
