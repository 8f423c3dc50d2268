package virtioiommu

import (
	"github.com/govmm/govmm/devices/virtio"
)

// serve handles one descriptor chain of the request queue and returns its
// used length: the number of bytes written at the start of the chain's
// device-writable part (virtio 1.3 §5.13.6).
//
// The chain's device-readable buffers, taken as one byte stream whatever
// their number and sizes, hold the request (head, then fields); its
// device-writable buffers, likewise, hold the tail, preceded for PROBE by
// probe_size bytes of properties. Then:
//
//   - fewer than 4 readable bytes (no head) or 4 writable bytes (no room
//     for the tail), or buffers that are not guest memory: the request
//     cannot be parsed and the buffers are returned unwritten, used
//     length 0;
//   - an unknown type, or PROBE without VIRTIO_IOMMU_F_PROBE negotiated:
//     nothing written, used length 0 (§5.13.6.2, §5.13.6.7.2);
//   - a readable part shorter than the type's fields: INVAL;
//   - PROBE with fewer than probe_size+4 writable bytes: the tail goes in
//     the last 4, the bytes before it are zeroed (no property), INVAL,
//     used length = the writable length;
//   - otherwise the request is served: the tail (status, then 3 zero
//     bytes) at writable offset 0, used length 4; for PROBE the
//     properties (zeroed unless the status is OK) and the tail at
//     probe_size, used length probe_size+4.
//
// Linux takes a used length of 0 as an I/O error and copies the writable
// part back only when the used length equals its size, so the used length
// is always exact.
func (d *Device) serve(c *virtio.Chain) uint32 {
	used, st := d.serveChain(c)
	if used == 0 || st != StatusOK {
		d.failed.Add(1)
	}
	return used
}

func (d *Device) serveChain(c *virtio.Chain) (uint32, Status) {
	rlen, wlen := c.ReadableLen(), c.WritableLen()
	if rlen < HeadSize || wlen < TailSize {
		d.requests[0].Add(1)
		return 0, StatusIOErr
	}
	var buf [maxReadableUsed]byte
	n := min(rlen, maxReadableUsed)
	if err := c.ReadAt(buf[:n], 0); err != nil {
		d.requests[0].Add(1)
		return 0, StatusIOErr
	}
	t := RequestType(buf[0])
	size := readableSize(t)
	if size == 0 {
		d.requests[0].Add(1)
		return 0, StatusUnsupp
	}
	d.requests[t].Add(1)

	d.mu.Lock()
	defer d.mu.Unlock()
	if t == TypeProbe && d.features&FeatureProbe == 0 {
		return 0, StatusUnsupp
	}
	tailOff, used := uint64(0), uint64(TailSize)
	var props []byte
	st := StatusOK
	if t == TypeProbe {
		if wlen < ProbePropertiesSize+TailSize {
			tailOff, used = wlen-TailSize, wlen
			st = StatusInval
		} else {
			tailOff, used = ProbePropertiesSize, ProbePropertiesSize+TailSize
		}
		props = d.props[:tailOff]
		clear(props)
	}
	if st == StatusOK {
		if rlen < uint64(size) {
			st = StatusInval
		} else {
			st = d.dispatch(decodeRequest(t, buf[:]))
		}
	}
	if t == TypeProbe {
		if st != StatusOK {
			clear(props)
		}
		if err := c.WriteAt(props, 0); err != nil {
			return 0, StatusIOErr
		}
	}
	tail := [TailSize]byte{byte(st)}
	if err := c.WriteAt(tail[:], tailOff); err != nil {
		return 0, StatusIOErr
	}
	return uint32(used), st
}

// dispatch serves a decoded request. Device.mu held.
func (d *Device) dispatch(r request) Status {
	switch r.typ {
	case TypeAttach:
		return d.attach(r)
	case TypeDetach:
		return d.detach(r)
	case TypeMap:
		return d.doMap(r)
	case TypeUnmap:
		return d.doUnmap(r)
	case TypeProbe:
		return d.probe(r)
	}
	return StatusUnsupp
}

// probe serves a PROBE request (virtio 1.3 §5.13.6.7): the reserved field
// is ignored (MUST); an unknown endpoint is NOENT (SHOULD); otherwise the
// properties are the RESV_MEM regions of every endpoint — the MSI window
// as subtype MSI, then Config.Reserved as subtype RESERVED — each exactly
// length+4 bytes after the previous one, zeroes after them: OK.
// Device.mu held.
func (d *Device) probe(r request) Status {
	if d.eps[r.endpoint] == nil {
		return StatusNoEnt
	}
	encodeProperties(d.props[:], d.resv)
	return StatusOK
}
