package virtio

import (
	"fmt"
	"strings"
)

// Device status bits (the device_status field, virtio 1.2 §2.1). The
// driver sets them in the order ACKNOWLEDGE, DRIVER, FEATURES_OK,
// DRIVER_OK (§3.1.1); writing 0 resets the device.
const (
	StatusAcknowledge      uint8 = 1   // ACKNOWLEDGE: the guest found the device
	StatusDriver           uint8 = 2   // DRIVER: the guest knows how to drive it
	StatusDriverOK         uint8 = 4   // DRIVER_OK: the driver is set up and ready
	StatusFeaturesOK       uint8 = 8   // FEATURES_OK: feature negotiation is complete
	StatusDeviceNeedsReset uint8 = 64  // DEVICE_NEEDS_RESET: the device hit an error it cannot recover from
	StatusFailed           uint8 = 128 // FAILED: the guest gave up on the device
)

// StatusString names the bits of a device_status value, e.g.
// "ACKNOWLEDGE|DRIVER|FEATURES_OK|DRIVER_OK"; 0 is "RESET".
func StatusString(s uint8) string {
	if s == 0 {
		return "RESET"
	}
	names := []struct {
		bit  uint8
		name string
	}{
		{StatusAcknowledge, "ACKNOWLEDGE"}, {StatusDriver, "DRIVER"},
		{StatusFeaturesOK, "FEATURES_OK"}, {StatusDriverOK, "DRIVER_OK"},
		{StatusDeviceNeedsReset, "DEVICE_NEEDS_RESET"}, {StatusFailed, "FAILED"},
	}
	var parts []string
	for _, n := range names {
		if s&n.bit != 0 {
			parts = append(parts, n.name)
			s &^= n.bit
		}
	}
	if s != 0 {
		parts = append(parts, fmt.Sprintf("%#x", s))
	}
	return strings.Join(parts, "|")
}

// Fail sets DEVICE_NEEDS_RESET (virtio 1.2 §2.1.2) because of err, which
// goes to Config.OnError, and sends a configuration change notification
// if the driver had set DRIVER_OK. The device keeps its state until the
// driver resets it. Safe from any goroutine.
func (t *Transport) Fail(err error) {
	t.report(fmt.Errorf("virtio: %v device needs reset: %w", t.dev.Type(), err))
	old := t.status.Load()
	for old&uint32(StatusDeviceNeedsReset) == 0 && !t.status.CompareAndSwap(old, old|uint32(StatusDeviceNeedsReset)) {
		old = t.status.Load()
	}
	if uint8(old)&StatusDriverOK != 0 {
		t.notifyConfig()
	}
}

// ConfigChanged tells the driver that the device-specific configuration
// changed: config_generation moves and the configuration vector fires
// (virtio 1.2 §4.1.4.3, §4.1.5.3). Safe from any goroutine.
func (t *Transport) ConfigChanged() {
	t.generation.Add(1)
	if t.Status()&StatusDriverOK != 0 {
		t.notifyConfig()
	}
}

func (t *Transport) notifyConfig() {
	t.isr.set(ISRConfig)
	if v := t.configVector.Load(); v != NoVector && t.vectors.enabled() {
		_ = t.vectors.fire(int(v))
	}
}

// writeStatus applies a driver write of device_status; t.mu held.
func (t *Transport) writeStatus(v uint8) {
	if v == 0 {
		t.reset()
		return
	}
	old := t.Status()
	// DEVICE_NEEDS_RESET belongs to the device; the driver cannot set or
	// clear it, nor clear any other bit short of a reset.
	nv := old | v&^StatusDeviceNeedsReset
	if nv&StatusFeaturesOK != 0 && old&StatusFeaturesOK == 0 {
		if err := t.checkFeatures(t.common.driverFeatures); err != nil {
			t.report(err)
			nv &^= StatusFeaturesOK // the driver reads it back and gives up (§3.1.1 step 6)
		}
	}
	t.storeStatus(nv)
	if nv&StatusDriverOK != 0 && old&StatusDriverOK == 0 {
		if nv&StatusFeaturesOK == 0 {
			t.Fail(fmt.Errorf("DRIVER_OK set without FEATURES_OK"))
			return
		}
		if err := t.activate(); err != nil {
			t.Fail(err)
		}
	}
}

// storeStatus sets device_status to v, keeping a DEVICE_NEEDS_RESET a
// queue goroutine may have set meanwhile.
func (t *Transport) storeStatus(v uint8) {
	for {
		old := t.status.Load()
		if t.status.CompareAndSwap(old, uint32(v)|old&uint32(StatusDeviceNeedsReset)) {
			return
		}
	}
}

// checkFeatures validates the driver's accepted features at FEATURES_OK.
func (t *Transport) checkFeatures(f uint64) error {
	switch {
	case f&^t.offered != 0:
		return fmt.Errorf("virtio: driver accepted features %s that were not offered", FeatureString(f&^t.offered))
	case f&FeatureVersion1 == 0:
		return fmt.Errorf("virtio: driver did not accept VIRTIO_F_VERSION_1 (legacy drivers are not supported)")
	case t.behind && f&FeatureAccessPlatform == 0:
		return fmt.Errorf("virtio: device is behind an IOMMU but the driver did not accept VIRTIO_F_ACCESS_PLATFORM")
	}
	return nil
}
