package virtionet

import (
	"encoding/binary"
	"fmt"
)

// HeaderSize is the size in bytes of struct virtio_net_hdr with
// VIRTIO_F_VERSION_1 (virtio 1.2 §5.1.6): the num_buffers field is always
// present.
const HeaderSize = 12

// Header flags (the flags field of struct virtio_net_hdr, §5.1.6).
const (
	HdrFNeedsCsum uint8 = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM: checksum from CsumStart, stored at CsumStart+CsumOffset
	HdrFDataValid uint8 = 2 // VIRTIO_NET_HDR_F_DATA_VALID: the checksum has been validated (receive only)
	HdrFRSCInfo   uint8 = 4 // VIRTIO_NET_HDR_F_RSC_INFO: coalescing information (needs GUEST_RSC4/6, never negotiated)
)

// GSO types (the gso_type field, §5.1.6).
const (
	GSONone  uint8 = 0    // VIRTIO_NET_HDR_GSO_NONE
	GSOTCPv4 uint8 = 1    // VIRTIO_NET_HDR_GSO_TCPV4
	GSOUDP   uint8 = 3    // VIRTIO_NET_HDR_GSO_UDP (UFO)
	GSOTCPv6 uint8 = 4    // VIRTIO_NET_HDR_GSO_TCPV6
	GSOUDPL4 uint8 = 5    // VIRTIO_NET_HDR_GSO_UDP_L4 (USO)
	GSOECN   uint8 = 0x80 // VIRTIO_NET_HDR_GSO_ECN, ORed into the type
)

// Header is struct virtio_net_hdr (virtio 1.2 §5.1.6), the 12 bytes that
// precede every frame on both queues and on the back end's file
// descriptor (a tap with IFF_VNET_HDR and a header size of 12 uses the
// same layout, little-endian on little-endian hosts).
type Header struct {
	Flags      uint8  // HdrF* bits
	GSOType    uint8  // GSO* value, possibly with GSOECN
	HdrLen     uint16 // hdr_len: bytes of protocol headers (a hint)
	GSOSize    uint16 // gso_size: payload bytes per segment
	CsumStart  uint16 // csum_start: offset where checksumming starts
	CsumOffset uint16 // csum_offset: where to store the checksum, from CsumStart
	NumBuffers uint16 // num_buffers: receive buffers the frame spans (receive only)
}

// DecodeHeader decodes the little-endian header at the start of b. It
// fails if b is shorter than HeaderSize.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("virtionet: %d bytes are too short for a %d-byte virtio_net_hdr", len(b), HeaderSize)
	}
	le := binary.LittleEndian
	return Header{
		Flags: b[0], GSOType: b[1], HdrLen: le.Uint16(b[2:]), GSOSize: le.Uint16(b[4:]),
		CsumStart: le.Uint16(b[6:]), CsumOffset: le.Uint16(b[8:]), NumBuffers: le.Uint16(b[10:]),
	}, nil
}

// Encode writes h into the first HeaderSize bytes of b, which must be
// long enough.
func (h Header) Encode(b []byte) {
	_ = b[HeaderSize-1]
	le := binary.LittleEndian
	b[0], b[1] = h.Flags, h.GSOType
	le.PutUint16(b[2:], h.HdrLen)
	le.PutUint16(b[4:], h.GSOSize)
	le.PutUint16(b[6:], h.CsumStart)
	le.PutUint16(b[8:], h.CsumOffset)
	le.PutUint16(b[10:], h.NumBuffers)
}

// CheckTransmit validates the header of a frame of frameLen bytes (header
// excluded) the driver queued on transmitq against the negotiated
// features (§5.1.6.2.1): NEEDS_CSUM needs VIRTIO_NET_F_CSUM and a
// checksum field inside the frame, a GSO type needs the matching
// HOST_TSO feature, NEEDS_CSUM and a non-zero gso_size, and no other flag
// or type is allowed. A frame that fails is dropped, not sent.
func (h Header) CheckTransmit(features uint64, frameLen int) error {
	if h.Flags&^HdrFNeedsCsum != 0 {
		return fmt.Errorf("virtionet: transmit header flags %#x: only NEEDS_CSUM is allowed", h.Flags)
	}
	if h.Flags&HdrFNeedsCsum != 0 {
		if features&FeatureCsum == 0 {
			return fmt.Errorf("virtionet: transmit header asks for a checksum but VIRTIO_NET_F_CSUM was not negotiated")
		}
		if end := int(h.CsumStart) + int(h.CsumOffset) + 2; end > frameLen {
			return fmt.Errorf("virtionet: checksum field [%d, %d) is outside the %d-byte frame", end-2, end, frameLen)
		}
	}
	switch h.GSOType {
	case GSONone:
		return nil
	case GSOTCPv4:
		if features&FeatureHostTSO4 == 0 {
			return fmt.Errorf("virtionet: GSO_TCPV4 frame but VIRTIO_NET_F_HOST_TSO4 was not negotiated")
		}
	case GSOTCPv6:
		if features&FeatureHostTSO6 == 0 {
			return fmt.Errorf("virtionet: GSO_TCPV6 frame but VIRTIO_NET_F_HOST_TSO6 was not negotiated")
		}
	default:
		return fmt.Errorf("virtionet: GSO type %#x was not negotiated", h.GSOType)
	}
	if h.Flags&HdrFNeedsCsum == 0 || h.GSOSize == 0 {
		return fmt.Errorf("virtionet: GSO frame without NEEDS_CSUM or with gso_size 0")
	}
	return nil
}

// FixReceive adapts the header the back end gave a received frame to the
// features the driver negotiated (§5.1.6.4.1) and reports whether the
// frame can be delivered at all. Without VIRTIO_NET_F_GUEST_CSUM the
// flags are cleared (a DATA_VALID hint is simply dropped) and a frame
// that still needs its checksum cannot be delivered; RSC_INFO is always
// cleared. A GSO frame needs the matching GUEST_TSO feature (and
// GUEST_CSUM); UFO, USO and ECN are never negotiated. NumBuffers is left
// to the caller.
func (h *Header) FixReceive(features uint64) bool {
	h.Flags &^= HdrFRSCInfo
	if features&FeatureGuestCsum == 0 {
		if h.Flags&HdrFNeedsCsum != 0 {
			return false
		}
		h.Flags = 0
	}
	if h.Flags&^(HdrFNeedsCsum|HdrFDataValid) != 0 {
		return false
	}
	switch h.GSOType {
	case GSONone:
		return true
	case GSOTCPv4:
		return features&FeatureGuestTSO4 != 0 && features&FeatureGuestCsum != 0
	case GSOTCPv6:
		return features&FeatureGuestTSO6 != 0 && features&FeatureGuestCsum != 0
	}
	return false
}
