package virtioiommu

import (
	"encoding/binary"
	"fmt"
)

// RequestType is the type field of struct virtio_iommu_req_head (virtio
// 1.3 §5.13.6): the first byte of every request.
type RequestType uint8

// Request types, VIRTIO_IOMMU_T_* (virtio 1.3 §5.13.6).
const (
	TypeAttach RequestType = 1 // VIRTIO_IOMMU_T_ATTACH (§5.13.6.3)
	TypeDetach RequestType = 2 // VIRTIO_IOMMU_T_DETACH (§5.13.6.4)
	TypeMap    RequestType = 3 // VIRTIO_IOMMU_T_MAP (§5.13.6.5)
	TypeUnmap  RequestType = 4 // VIRTIO_IOMMU_T_UNMAP (§5.13.6.6)
	TypeProbe  RequestType = 5 // VIRTIO_IOMMU_T_PROBE (§5.13.6.7)
)

// String returns the request's name, "ATTACH" ... "PROBE", or
// "type(N)" for an unknown type.
func (t RequestType) String() string {
	switch t {
	case TypeAttach:
		return "ATTACH"
	case TypeDetach:
		return "DETACH"
	case TypeMap:
		return "MAP"
	case TypeUnmap:
		return "UNMAP"
	case TypeProbe:
		return "PROBE"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Status is the status field of struct virtio_iommu_req_tail, the result of
// a request (virtio 1.3 §5.13.6).
type Status uint8

// Status codes, VIRTIO_IOMMU_S_* (virtio 1.3 §5.13.6).
const (
	StatusOK     Status = 0 // VIRTIO_IOMMU_S_OK: success
	StatusIOErr  Status = 1 // VIRTIO_IOMMU_S_IOERR: virtio communication error
	StatusUnsupp Status = 2 // VIRTIO_IOMMU_S_UNSUPP: unsupported request
	StatusDevErr Status = 3 // VIRTIO_IOMMU_S_DEVERR: internal device error
	StatusInval  Status = 4 // VIRTIO_IOMMU_S_INVAL: invalid parameters
	StatusRange  Status = 5 // VIRTIO_IOMMU_S_RANGE: out-of-range parameters
	StatusNoEnt  Status = 6 // VIRTIO_IOMMU_S_NOENT: entry not found
	StatusFault  Status = 7 // VIRTIO_IOMMU_S_FAULT: bad address
	StatusNoMem  Status = 8 // VIRTIO_IOMMU_S_NOMEM: insufficient resources
)

var statusNames = [...]string{"OK", "IOERR", "UNSUPP", "DEVERR", "INVAL", "RANGE", "NOENT", "FAULT", "NOMEM"}

// String returns the status name without its prefix, "OK" ... "NOMEM", or
// "status(N)".
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Flags of the ATTACH and MAP requests (virtio 1.3 §5.13.6.3, §5.13.6.5).
const (
	AttachFBypass uint32 = 1 << 0 // VIRTIO_IOMMU_ATTACH_F_BYPASS: create a bypass domain
	MapFRead      uint32 = 1 << 0 // VIRTIO_IOMMU_MAP_F_READ: endpoints may read
	MapFWrite     uint32 = 1 << 1 // VIRTIO_IOMMU_MAP_F_WRITE: endpoints may write
	MapFMMIO      uint32 = 1 << 2 // VIRTIO_IOMMU_MAP_F_MMIO: the range is device memory
)

// Sizes in bytes of the parts of each request (virtio 1.3 §5.13.6.3–7).
// The device-readable part is the head (4 bytes) and the fields; the
// device-writable part is the tail (4 bytes), preceded for PROBE by
// probe_size bytes of properties.
const (
	HeadSize        = 4  // struct virtio_iommu_req_head
	TailSize        = 4  // struct virtio_iommu_req_tail
	ReqAttachSize   = 20 // readable part of struct virtio_iommu_req_attach
	ReqDetachSize   = 20 // readable part of struct virtio_iommu_req_detach
	ReqMapSize      = 36 // readable part of struct virtio_iommu_req_map
	ReqUnmapSize    = 28 // readable part of struct virtio_iommu_req_unmap
	ReqProbeSize    = 72 // readable part of struct virtio_iommu_req_probe
	maxReadableUsed = ReqMapSize
)

// request is one decoded request: the fields of its device-readable part.
// Fields a type does not have are zero.
type request struct {
	typ       RequestType
	domain    uint32
	endpoint  uint32
	flags     uint32
	virtStart uint64
	virtEnd   uint64 // inclusive
	physStart uint64
	// reserved is the reserved field of ATTACH (u8[4] at 16) or UNMAP
	// (u8[4] at 24), which the device checks; DETACH's and PROBE's, which
	// the device must ignore, are not read.
	reserved uint32
}

// readableSize returns the size of the device-readable part of a request
// of type t, or 0 for an unknown type.
func readableSize(t RequestType) int {
	switch t {
	case TypeAttach:
		return ReqAttachSize
	case TypeDetach:
		return ReqDetachSize
	case TypeMap:
		return ReqMapSize
	case TypeUnmap:
		return ReqUnmapSize
	case TypeProbe:
		return ReqProbeSize
	}
	return 0
}

// decodeRequest decodes the fields of a request of type t from b, the
// first bytes of its device-readable part (at least min(readableSize(t),
// maxReadableUsed) bytes; the reserved tail of PROBE is never read).
func decodeRequest(t RequestType, b []byte) request {
	le := binary.LittleEndian
	r := request{typ: t}
	switch t {
	case TypeAttach:
		r.domain, r.endpoint, r.flags, r.reserved = le.Uint32(b[4:]), le.Uint32(b[8:]), le.Uint32(b[12:]), le.Uint32(b[16:])
	case TypeDetach:
		r.domain, r.endpoint = le.Uint32(b[4:]), le.Uint32(b[8:])
	case TypeMap:
		r.domain, r.virtStart, r.virtEnd, r.physStart, r.flags = le.Uint32(b[4:]), le.Uint64(b[8:]), le.Uint64(b[16:]), le.Uint64(b[24:]), le.Uint32(b[32:])
	case TypeUnmap:
		r.domain, r.virtStart, r.virtEnd, r.reserved = le.Uint32(b[4:]), le.Uint64(b[8:]), le.Uint64(b[16:]), le.Uint32(b[24:])
	case TypeProbe:
		r.endpoint = le.Uint32(b[4:])
	}
	return r
}

// String formats the request for messages, e.g.
// "MAP domain 1 [0x1000, 0x1fff] -> 0xa000 flags 0x1".
func (r request) String() string {
	switch r.typ {
	case TypeAttach:
		return fmt.Sprintf("ATTACH endpoint %#x to domain %d flags %#x", r.endpoint, r.domain, r.flags)
	case TypeDetach:
		return fmt.Sprintf("DETACH endpoint %#x from domain %d", r.endpoint, r.domain)
	case TypeMap:
		return fmt.Sprintf("MAP domain %d [%#x, %#x] -> %#x flags %#x", r.domain, r.virtStart, r.virtEnd, r.physStart, r.flags)
	case TypeUnmap:
		return fmt.Sprintf("UNMAP domain %d [%#x, %#x]", r.domain, r.virtStart, r.virtEnd)
	case TypeProbe:
		return fmt.Sprintf("PROBE endpoint %#x", r.endpoint)
	}
	return r.typ.String()
}
