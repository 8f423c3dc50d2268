package virtio

// barHandler serves the transport's memory BAR (bus.Handler): the MSI-X
// table and PBA, the common configuration, the ISR status byte, the
// device-specific configuration and the notify addresses. An access that
// is not wholly inside one structure reads as 0 and is ignored when
// written, as are accesses to the gaps between structures.
type barHandler struct{ t *Transport }

// region reports which structure [off, off+n) falls in and its offset
// there.
func (h barHandler) region(off uint64, n int) (kind int, rel uint64) {
	end := off + uint64(n)
	if n == 0 || end < off {
		return regionNone, 0
	}
	in := func(base, size uint64) bool { return off >= base && end <= base+size }
	t := h.t
	switch {
	case in(CommonCfgOffset, CommonCfgSize):
		return regionCommon, off - CommonCfgOffset
	case in(ISROffset, 1):
		return regionISR, 0
	case in(DeviceCfgOffset, uint64(t.dev.ConfigSize())):
		return regionDevice, off - DeviceCfgOffset
	case in(NotifyOffset, uint64(len(t.common.queues))*NotifyOffMultiplier):
		return regionNotify, off - NotifyOffset
	}
	return regionNone, 0
}

const (
	regionNone = iota
	regionCommon
	regionISR
	regionDevice
	regionNotify
)

// Read implements bus.Handler.
func (h barHandler) Read(off uint64, data []byte) {
	t := h.t
	if t.vectors != nil && t.vectors.msix.ReadBAR(BARIndex, off, data) {
		return
	}
	clear(data)
	switch kind, rel := h.region(off, len(data)); kind {
	case regionCommon:
		t.readCommon(rel, data)
	case regionISR:
		data[0] = t.isr.read()
	case regionDevice:
		t.dev.ReadConfig(int(rel), data)
	}
}

// Write implements bus.Handler.
func (h barHandler) Write(off uint64, data []byte) {
	t := h.t
	if t.vectors != nil && t.vectors.msix.WriteBAR(BARIndex, off, data) {
		return
	}
	switch kind, rel := h.region(off, len(data)); kind {
	case regionCommon:
		t.writeCommon(rel, data)
	case regionDevice:
		t.dev.WriteConfig(int(rel), data)
	case regionNotify:
		// The value written is the queue index (§4.1.5.2); the address
		// already names the queue, which is what an ioeventfd sees too.
		if i := int(rel / NotifyOffMultiplier); t.isInline(i) {
			t.serveInline(i)
		} else {
			t.kick(i)
		}
	}
}
