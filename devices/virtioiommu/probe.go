package virtioiommu

import (
	"encoding/binary"
	"slices"
)

// ProbePropertiesSize is probe_size (virtio 1.3 §5.13.4): the size in
// bytes of the properties field of a PROBE request's device-writable part.
// It leaves room for the MSI window and up to 20 Config.Reserved regions.
const ProbePropertiesSize = 512

// Probe property types and RESV_MEM subtypes (virtio 1.3 §5.13.6.8).
const (
	ProbeTypeNone    = 0 // VIRTIO_IOMMU_PROBE_T_NONE: end of the list
	ProbeTypeResvMem = 1 // VIRTIO_IOMMU_PROBE_T_RESV_MEM

	ResvMemReserved = 0 // VIRTIO_IOMMU_RESV_MEM_T_RESERVED: cannot be mapped
	ResvMemMSI      = 1 // VIRTIO_IOMMU_RESV_MEM_T_MSI: an MSI doorbell

	// ResvMemSize is the size of a RESV_MEM property, struct
	// virtio_iommu_probe_resv_mem: a 4-byte property header whose length
	// field is 20, then u8 subtype, u8 reserved[3], le64 start, le64 end.
	ResvMemSize = 24
)

// MSIWindow is the x86 interrupt address range, reported to every endpoint
// as a RESV_MEM property of subtype MSI (virtio 1.3 §5.13.6.8.1): a DMA
// write there is an interrupt, never memory. Without it Linux assumes the
// Arm software-MSI window 0x8000000-0x80fffff, which breaks MSIs on x86.
// MAP requests that overlap it fail with VIRTIO_IOMMU_S_INVAL.
var MSIWindow = Region{First: 0xfee00000, Last: 0xfeefffff}

// resvRegion is one RESV_MEM property.
type resvRegion struct {
	Region
	subtype uint8
}

// reservedRegions returns the RESV_MEM properties every endpoint gets: the
// MSI window and the configured reserved regions, in ascending order.
func reservedRegions(cfg Config) []resvRegion {
	rs := []resvRegion{{MSIWindow, ResvMemMSI}}
	for _, r := range cfg.Reserved {
		rs = append(rs, resvRegion{r, ResvMemReserved})
	}
	slices.SortFunc(rs, func(a, b resvRegion) int {
		switch {
		case a.First < b.First:
			return -1
		case a.First > b.First:
			return 1
		}
		return 0
	})
	return rs
}

// encodeProperties writes the PROBE properties of an endpoint into p, which
// is probe_size bytes long: one RESV_MEM property per region, each exactly
// length+4 bytes after the previous one, and zeroes after the last (an
// empty property, type 0, ends the list). Config.Validate guarantees that
// they fit.
func encodeProperties(p []byte, rs []resvRegion) {
	clear(p)
	le := binary.LittleEndian
	for i, r := range rs {
		b := p[i*ResvMemSize : (i+1)*ResvMemSize]
		le.PutUint16(b[0:], ProbeTypeResvMem)
		le.PutUint16(b[2:], ResvMemSize-4)
		b[4] = r.subtype
		le.PutUint64(b[8:], r.First)
		le.PutUint64(b[16:], r.Last)
	}
}

// reservedOverlap returns the first reserved region that overlaps
// [first, last].
func reservedOverlap(rs []resvRegion, first, last uint64) (resvRegion, bool) {
	for _, r := range rs {
		if r.First <= last && first <= r.Last {
			return r, true
		}
	}
	return resvRegion{}, false
}
