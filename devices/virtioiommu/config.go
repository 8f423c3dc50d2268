package virtioiommu

import (
	"errors"
	"fmt"
	"github.com/govmm/govmm/internal/options"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Page sizes used in page_size_mask (virtio 1.3 §5.13.4).
const (
	Size4K = 1 << 12
	Size2M = 1 << 21
	Size1G = 1 << 30
)

// DefaultMaxMappings is the number of mappings the device holds, over all
// its domains, when Config.MaxMappings is 0: 4 Mi mappings, about 150 MB
// of host memory in the worst case. A MAP request past it fails with
// VIRTIO_IOMMU_S_NOMEM.
const DefaultMaxMappings = 1 << 22

// maxReserved is the number of Config.Reserved regions that fit in the
// PROBE properties next to the MSI window (24 bytes each in ProbeSize).
const maxReserved = ProbePropertiesSize/ResvMemSize - 1

// Region is an inclusive range of I/O virtual addresses [First, Last].
type Region struct {
	First, Last uint64
}

// Overlaps reports whether r and o share an address.
func (r Region) Overlaps(o Region) bool { return r.First <= o.Last && o.First <= r.Last }

// String formats r as "[0xfee00000, 0xfeefffff]".
func (r Region) String() string { return fmt.Sprintf("[%#x, %#x]", r.First, r.Last) }

// Config is the guest-visible configuration of a virtio-iommu device: the
// values of the device configuration structure (struct
// virtio_iommu_config, virtio 1.3 §5.13.4) and the endpoints the device
// translates. ParseConfig builds one from the VMM's option string; the VMM
// then fills in Endpoints. The zero value is not valid: start from
// DefaultConfig.
type Config struct {
	// PageSizeMask is page_size_mask: bit n set means 2^n-byte pages can
	// be mapped. The lowest set bit is the granule: MAP requests must be
	// aligned to it (VIRTIO_IOMMU_S_RANGE otherwise). It must not be 0.
	// Linux refuses to attach endpoints when the granule is larger than
	// its page size (4 KiB on x86).
	PageSizeMask uint64
	// AWBits is the input address width in bits, 32 to 64 ("aw-bits"):
	// input_range is [0, 2^AWBits-1], and a MAP outside it fails with
	// VIRTIO_IOMMU_S_RANGE. Linux makes it the aperture of every domain,
	// so it bounds the IOVAs it allocates; a host IOMMU that must follow
	// the mappings (VFIO) needs at least this width.
	AWBits int
	// DomainRange is domain_range, the inclusive range [start, end] of
	// domain IDs ATTACH accepts (VIRTIO_IOMMU_S_RANGE outside it).
	DomainRange [2]uint32
	// Endpoints are the endpoint IDs behind the device: for PCI, the
	// requester IDs bus<<8 | devfn of the functions the VIOT table puts
	// behind it. Requests naming any other endpoint fail with
	// VIRTIO_IOMMU_S_NOENT. IDs must be distinct.
	Endpoints []uint32
	// BypassDefault is the value of the bypass configuration field after a
	// system reset: true lets unattached endpoints reach guest memory
	// untranslated, which firmware and a kernel that has not loaded the
	// virtio-iommu driver yet need. Linux never writes the field.
	BypassDefault bool
	// Reserved are extra IOVA ranges no endpoint may map, reported by PROBE
	// as RESV_MEM properties of subtype RESERVED (virtio 1.3 §5.13.6.8.1),
	// for instance the holes of a host IOMMU's IOVA space. MAP requests
	// that overlap one fail with VIRTIO_IOMMU_S_INVAL. They must not
	// overlap each other or the MSI window, and at most 20 fit.
	Reserved []Region
	// MaxMappings bounds the mappings held over all domains; 0 means
	// DefaultMaxMappings.
	MaxMappings int
}

// DefaultConfig returns the default configuration: 4 KiB granule with 2 MiB
// and 1 GiB pages also set in page_size_mask, aw-bits=48, every 32-bit
// domain ID, bypass on, no endpoint, no extra reserved region.
func DefaultConfig() Config {
	return Config{
		PageSizeMask:  Size4K | Size2M | Size1G,
		AWBits:        48,
		DomainRange:   [2]uint32{0, math.MaxUint32},
		BypassDefault: true,
	}
}

// ErrConfig is returned, wrapped with the offending option or field, by
// ParseConfig and Config.Validate.
var ErrConfig = errors.New("virtioiommu: invalid configuration")

// ParseConfig parses the options of the --iommu virtio flag, a
// comma-separated list of key=value pairs, into a Config starting from
// DefaultConfig:
//
//	aw-bits=N          input address width, 32–64 (input_range [0, 2^N-1])
//	granule=SIZE       smallest page: 4k, 8k, 16k, 64k, 2m or a byte count,
//	                   a power of two from 4 KiB to 1 GiB; 2 MiB and 1 GiB
//	                   stay in page_size_mask when not below the granule
//	domain-range=A-B   domain IDs ATTACH accepts (decimal or 0x hex)
//	bypass=on|off      bypass field after a system reset
//	max-mappings=N     mappings held over all domains (NOMEM past it)
//
// Endpoints and Reserved are not options: the VMM fills them in. The empty
// string yields DefaultConfig. Unknown or repeated keys and malformed or
// out-of-range values return an error wrapping ErrConfig that names the
// option.
func ParseConfig(opts string) (Config, error) {
	c := DefaultConfig()
	pairs, err := options.Split(opts)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	for _, p := range pairs {
		key, val := p.Key, p.Value
		var err error
		switch key {
		case "aw-bits":
			c.AWBits, err = strconv.Atoi(val)
			if err != nil {
				return Config{}, fmt.Errorf("%w: aw-bits=%q is not a number", ErrConfig, val)
			}
		case "granule":
			var g uint64
			if g, err = parseSize(val); err != nil {
				return Config{}, fmt.Errorf("%w: granule=%q: %v", ErrConfig, val, err)
			}
			if g&(g-1) != 0 || g < Size4K || g > Size1G {
				return Config{}, fmt.Errorf("%w: granule=%q, want a power of two from 4k to 1g", ErrConfig, val)
			}
			c.PageSizeMask = g | (Size2M|Size1G)&^(g-1)
		case "domain-range":
			if c.DomainRange, err = parseDomainRange(val); err != nil {
				return Config{}, err
			}
		case "bypass":
			if c.BypassDefault, err = p.OnOff(); err != nil {
				return Config{}, fmt.Errorf("%w: %v", ErrConfig, err)
			}
		case "max-mappings":
			n, perr := strconv.Atoi(val)
			if perr != nil || n < 1 {
				return Config{}, fmt.Errorf("%w: max-mappings=%q, want a positive number", ErrConfig, val)
			}
			c.MaxMappings = n
		default:
			return Config{}, fmt.Errorf("%w: unknown option %q (want aw-bits, granule, domain-range, bypass, max-mappings)", ErrConfig, key)
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// parseSize parses "4k", "64K", "2m", "1g" or a plain byte count.
func parseSize(s string) (uint64, error) {
	mul := uint64(1)
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mul = 1 << 10
	case strings.HasSuffix(s, "m"), strings.HasSuffix(s, "M"):
		mul = 1 << 20
	case strings.HasSuffix(s, "g"), strings.HasSuffix(s, "G"):
		mul = 1 << 30
	}
	if mul != 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("not a size")
	}
	return n * mul, nil
}

func parseDomainRange(val string) ([2]uint32, error) {
	a, b, ok := strings.Cut(val, "-")
	if ok {
		lo, err1 := strconv.ParseUint(a, 0, 32)
		hi, err2 := strconv.ParseUint(b, 0, 32)
		if err1 == nil && err2 == nil && lo <= hi {
			return [2]uint32{uint32(lo), uint32(hi)}, nil
		}
	}
	return [2]uint32{}, fmt.Errorf("%w: domain-range=%q, want START-END with START <= END < 2^32", ErrConfig, val)
}

// Validate reports whether a device can be built with c: PageSizeMask not
// 0, AWBits in [32, 64], DomainRange start <= end, distinct Endpoints,
// Reserved regions with First <= Last that overlap neither each other nor
// the MSI window and fit in the PROBE properties, MaxMappings >= 0. The
// error wraps ErrConfig and names the field.
func (c Config) Validate() error {
	switch {
	case c.PageSizeMask == 0:
		return fmt.Errorf("%w: page_size_mask is 0", ErrConfig)
	case c.AWBits < 32 || c.AWBits > 64:
		return fmt.Errorf("%w: aw-bits=%d, want 32 to 64", ErrConfig, c.AWBits)
	case c.DomainRange[0] > c.DomainRange[1]:
		return fmt.Errorf("%w: domain range %d-%d is empty", ErrConfig, c.DomainRange[0], c.DomainRange[1])
	case c.MaxMappings < 0:
		return fmt.Errorf("%w: MaxMappings %d is negative", ErrConfig, c.MaxMappings)
	case len(c.Reserved) > maxReserved:
		return fmt.Errorf("%w: %d reserved regions, at most %d fit in the PROBE properties", ErrConfig, len(c.Reserved), maxReserved)
	}
	eps := slices.Clone(c.Endpoints)
	slices.Sort(eps)
	for i := 1; i < len(eps); i++ {
		if eps[i] == eps[i-1] {
			return fmt.Errorf("%w: endpoint %#x listed twice", ErrConfig, eps[i])
		}
	}
	for i, r := range c.Reserved {
		if r.First > r.Last {
			return fmt.Errorf("%w: reserved region %d %v is empty", ErrConfig, i, r)
		}
		if r.Overlaps(MSIWindow) {
			return fmt.Errorf("%w: reserved region %d %v overlaps the MSI window %v", ErrConfig, i, r, MSIWindow)
		}
		for j, o := range c.Reserved[:i] {
			if r.Overlaps(o) {
				return fmt.Errorf("%w: reserved region %d %v overlaps region %d %v", ErrConfig, i, r, j, o)
			}
		}
	}
	return nil
}

// Granule returns the smallest page size, the lowest set bit of
// PageSizeMask (0 for an invalid mask of 0).
func (c Config) Granule() uint64 { return c.PageSizeMask & -c.PageSizeMask }

// InputRange returns input_range, [0, 2^AWBits-1].
func (c Config) InputRange() Region {
	if c.AWBits >= 64 {
		return Region{0, math.MaxUint64}
	}
	return Region{0, 1<<uint(c.AWBits) - 1}
}

// String returns the options of c in the syntax ParseConfig accepts
// (Endpoints and Reserved, which are not options, are left out).
func (c Config) String() string {
	onOff := "off"
	if c.BypassDefault {
		onOff = "on"
	}
	s := fmt.Sprintf("aw-bits=%d,granule=%d,domain-range=%d-%d,bypass=%s", c.AWBits, c.Granule(), c.DomainRange[0], c.DomainRange[1], onOff)
	if c.MaxMappings != 0 {
		s += fmt.Sprintf(",max-mappings=%d", c.MaxMappings)
	}
	return s
}

// maxMappings returns the effective mapping limit.
func (c Config) maxMappings() int {
	if c.MaxMappings == 0 {
		return DefaultMaxMappings
	}
	return c.MaxMappings
}
