package virtio

import (
	"encoding/binary"
)

// Field offsets of struct virtio_pci_common_cfg (virtio 1.2 §4.1.4.3).
// Widths in bytes in brackets.
const (
	CommonDeviceFeatureSelect = 0x00 // [4] RW
	CommonDeviceFeature       = 0x04 // [4] RO: offered bits 32*select..+31
	CommonDriverFeatureSelect = 0x08 // [4] RW
	CommonDriverFeature       = 0x0c // [4] RW: accepted bits 32*select..+31
	CommonConfigMSIXVector    = 0x10 // [2] RW
	CommonNumQueues           = 0x12 // [2] RO
	CommonDeviceStatus        = 0x14 // [1] RW
	CommonConfigGeneration    = 0x15 // [1] RO
	CommonQueueSelect         = 0x16 // [2] RW
	CommonQueueSize           = 0x18 // [2] RW
	CommonQueueMSIXVector     = 0x1a // [2] RW
	CommonQueueEnable         = 0x1c // [2] RW
	CommonQueueNotifyOff      = 0x1e // [2] RO
	CommonQueueDesc           = 0x20 // [8] RW
	CommonQueueDriver         = 0x28 // [8] RW
	CommonQueueDevice         = 0x30 // [8] RW
	CommonQueueNotifyData     = 0x38 // [2] RO
	CommonQueueReset          = 0x3a // [2] RW (VIRTIO_F_RING_RESET; reads 0 here)
)

// NoVector is VIRTIO_MSI_NO_VECTOR: no MSI-X vector is assigned. A vector
// write the device cannot honour reads back as NoVector (§4.1.5.1.2).
const NoVector = 0xffff

// commonFields lists every field's offset and width, in offset order.
var commonFields = [...]struct{ off, size int }{
	{CommonDeviceFeatureSelect, 4}, {CommonDeviceFeature, 4},
	{CommonDriverFeatureSelect, 4}, {CommonDriverFeature, 4},
	{CommonConfigMSIXVector, 2}, {CommonNumQueues, 2},
	{CommonDeviceStatus, 1}, {CommonConfigGeneration, 1},
	{CommonQueueSelect, 2}, {CommonQueueSize, 2}, {CommonQueueMSIXVector, 2},
	{CommonQueueEnable, 2}, {CommonQueueNotifyOff, 2},
	{CommonQueueDesc, 8}, {CommonQueueDriver, 8}, {CommonQueueDevice, 8},
	{CommonQueueNotifyData, 2}, {CommonQueueReset, 2},
}

// queueRegs is what the driver programmed for one queue.
type queueRegs struct {
	maxSize, size        uint16
	enable               bool
	desc, driver, device uint64
}

// commonCfg is the driver-writable state of the common configuration;
// guarded by Transport.mu. device_status and the MSI-X vectors live in
// atomics on the Transport, because queue goroutines read them.
type commonCfg struct {
	deviceFeatureSelect uint32
	driverFeatureSelect uint32
	driverFeatures      uint64
	queueSelect         uint16
	queues              []queueRegs
}

func (c *commonCfg) reset() {
	c.deviceFeatureSelect, c.driverFeatureSelect, c.driverFeatures, c.queueSelect = 0, 0, 0, 0
	for i := range c.queues {
		c.queues[i] = queueRegs{maxSize: c.queues[i].maxSize, size: c.queues[i].maxSize}
	}
}

// image renders the common configuration as the driver sees it now;
// t.mu held.
func (t *Transport) commonImage(b *[CommonCfgSize]byte) {
	le := binary.LittleEndian
	c := &t.common
	le.PutUint32(b[CommonDeviceFeatureSelect:], c.deviceFeatureSelect)
	if c.deviceFeatureSelect < 2 {
		le.PutUint32(b[CommonDeviceFeature:], uint32(t.offered>>(32*c.deviceFeatureSelect)))
	}
	le.PutUint32(b[CommonDriverFeatureSelect:], c.driverFeatureSelect)
	if c.driverFeatureSelect < 2 {
		le.PutUint32(b[CommonDriverFeature:], uint32(c.driverFeatures>>(32*c.driverFeatureSelect)))
	}
	le.PutUint16(b[CommonConfigMSIXVector:], uint16(t.configVector.Load()))
	le.PutUint16(b[CommonNumQueues:], uint16(len(c.queues)))
	b[CommonDeviceStatus] = t.Status()
	b[CommonConfigGeneration] = uint8(t.generation.Load())
	le.PutUint16(b[CommonQueueSelect:], c.queueSelect)
	if qs := int(c.queueSelect); qs < len(c.queues) {
		q := &c.queues[qs]
		le.PutUint16(b[CommonQueueSize:], q.size)
		le.PutUint16(b[CommonQueueMSIXVector:], uint16(t.queueVector[qs].Load()))
		if q.enable {
			le.PutUint16(b[CommonQueueEnable:], 1)
		}
		le.PutUint16(b[CommonQueueNotifyOff:], uint16(qs))
		le.PutUint64(b[CommonQueueDesc:], q.desc)
		le.PutUint64(b[CommonQueueDriver:], q.driver)
		le.PutUint64(b[CommonQueueDevice:], q.device)
		le.PutUint16(b[CommonQueueNotifyData:], uint16(qs))
	}
}

// readCommon serves a driver read of the common configuration.
func (t *Transport) readCommon(off uint64, data []byte) {
	var b [CommonCfgSize]byte
	t.mu.Lock()
	t.commonImage(&b)
	t.mu.Unlock()
	copy(data, b[off:])
}

// writeCommon serves a driver write of the common configuration: the
// written bytes are merged into the current register image and every
// field they touch is applied in offset order, so any access width works
// (a 64-bit address written as two 32-bit halves, as Linux does).
func (t *Transport) writeCommon(off uint64, data []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b [CommonCfgSize]byte
	t.commonImage(&b)
	n := copy(b[off:], data)
	lo, hi := int(off), int(off)+n
	for _, f := range commonFields {
		if f.off < hi && lo < f.off+f.size {
			t.applyCommon(f.off, b[f.off:f.off+f.size])
		}
	}
}

// applyCommon applies the new value v of the field at off; t.mu held.
func (t *Transport) applyCommon(off int, v []byte) {
	le := binary.LittleEndian
	c := &t.common
	var q *queueRegs
	if int(c.queueSelect) < len(c.queues) {
		q = &c.queues[c.queueSelect]
	}
	// Queue fields may change only while the queue is disabled and the
	// driver has not set DRIVER_OK (§4.1.4.3.2).
	configurable := q != nil && !q.enable && t.Status()&StatusDriverOK == 0
	switch off {
	case CommonDeviceFeatureSelect:
		c.deviceFeatureSelect = le.Uint32(v)
	case CommonDriverFeatureSelect:
		c.driverFeatureSelect = le.Uint32(v)
	case CommonDriverFeature:
		// Features are fixed once FEATURES_OK is set (§3.1.1).
		if sel := c.driverFeatureSelect; sel < 2 && t.Status()&StatusFeaturesOK == 0 {
			shift := 32 * sel
			c.driverFeatures = c.driverFeatures&^(0xffffffff<<shift) | uint64(le.Uint32(v))<<shift
		}
	case CommonConfigMSIXVector:
		t.configVector.Store(uint32(t.vectorOrNone(le.Uint16(v))))
	case CommonDeviceStatus:
		t.writeStatus(v[0])
	case CommonQueueSelect:
		c.queueSelect = le.Uint16(v)
	case CommonQueueSize:
		if configurable {
			q.size = le.Uint16(v)
		}
	case CommonQueueMSIXVector:
		if q != nil {
			t.queueVector[c.queueSelect].Store(uint32(t.vectorOrNone(le.Uint16(v))))
		}
	case CommonQueueEnable:
		if configurable && le.Uint16(v) == 1 {
			q.enable = true
		}
	case CommonQueueDesc:
		if configurable {
			q.desc = le.Uint64(v)
		}
	case CommonQueueDriver:
		if configurable {
			q.driver = le.Uint64(v)
		}
	case CommonQueueDevice:
		if configurable {
			q.device = le.Uint64(v)
		}
	}
}

// vectorOrNone returns v if it names an MSI-X table entry, NoVector
// otherwise.
func (t *Transport) vectorOrNone(v uint16) uint16 {
	if int(v) < t.vectors.count() {
		return v
	}
	return NoVector
}
