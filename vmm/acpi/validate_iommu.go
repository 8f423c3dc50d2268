package acpi

import "fmt"

// maxScopePath is the longest device scope path: the scope's Length byte
// holds 6 + 2*len(Path).
const maxScopePath = (255 - 6) / 2

func (c *Config) validateDMAR() error {
	d := c.DMAR
	if d.HostAddressWidth < 12 || d.HostAddressWidth > 64 {
		return cfgErr("DMAR.HostAddressWidth", "%d bits, want 12-64 (Linux rejects HAW-1 below 11)", d.HostAddressWidth)
	}
	if len(d.Units) == 0 {
		return cfgErr("DMAR.Units", "no DRHD: Linux reports a firmware bug and ignores the table")
	}
	includeAll := map[uint16]int{}
	ioapicScoped := false
	for i, u := range d.Units {
		f := fmt.Sprintf("DMAR.Units[%d]", i)
		switch {
		case u.Segment != c.ECAM.Segment:
			return cfgErr(f+".Segment", "segment %d has no host bridge (ECAM segment is %d)", u.Segment, c.ECAM.Segment)
		case u.RegisterBase == 0:
			return cfgErr(f+".RegisterBase", "register base is 0")
		case u.RegisterBase%0x1000 != 0:
			return cfgErr(f+".RegisterBase", "register base %#x is not 4 KiB aligned", u.RegisterBase)
		case u.Size > 15:
			return cfgErr(f+".Size", "size %d (2^%d pages), want at most 15", u.Size, u.Size)
		case u.RegisterBase+(0x1000<<u.Size)-1 < u.RegisterBase:
			return cfgErr(f+".RegisterBase", "register set [%#x, +%#x) wraps past 2^64", u.RegisterBase, uint64(0x1000)<<u.Size)
		}
		if u.IncludePCIAll {
			if j, dup := includeAll[u.Segment]; dup {
				return cfgErr(f+".IncludePCIAll", "segment %d already has an INCLUDE_PCI_ALL unit (Units[%d])", u.Segment, j)
			}
			includeAll[u.Segment] = i
		}
		n := 16
		for j, s := range u.Scopes {
			sf := fmt.Sprintf("%s.Scopes[%d]", f, j)
			if err := c.validateScope(sf, s); err != nil {
				return err
			}
			if u.IncludePCIAll && (s.Type == ScopePCIEndpoint || s.Type == ScopePCIBridge) {
				return cfgErr(sf, "an INCLUDE_PCI_ALL unit may only list IOAPIC and HPET scopes")
			}
			if s.Type == ScopeIOAPIC && s.EnumerationID == c.IOAPIC.ID {
				ioapicScoped = true
			}
			n += 6 + 2*len(s.Path)
		}
		if n > 0xFFFF {
			return cfgErr(f+".Scopes", "the DRHD is longer than its 16-bit Length field allows")
		}
	}
	if d.IntrRemap && !ioapicScoped {
		return cfgErr("DMAR.Units", "INTR_REMAP is set but no unit has an IOAPIC scope with enumeration ID %d (the MADT I/O APIC); Linux would disable interrupt remapping", c.IOAPIC.ID)
	}
	atsrSeg := map[uint16]int{}
	for i, a := range d.ATSR {
		f := fmt.Sprintf("DMAR.ATSR[%d]", i)
		if a.Segment != c.ECAM.Segment {
			return cfgErr(f+".Segment", "segment %d has no host bridge (ECAM segment is %d)", a.Segment, c.ECAM.Segment)
		}
		if j, dup := atsrSeg[a.Segment]; dup {
			return cfgErr(f+".Segment", "segment %d already has an ATSR (ATSR[%d])", a.Segment, j)
		}
		atsrSeg[a.Segment] = i
		switch {
		case a.AllPorts && len(a.Scopes) > 0:
			return cfgErr(f+".Scopes", "ALL_PORTS is set, so the ATSR must not list scopes")
		case !a.AllPorts && len(a.Scopes) == 0:
			return cfgErr(f+".Scopes", "ALL_PORTS is clear, so the ATSR must list the root ports that support ATS")
		}
		n := 8
		for j, s := range a.Scopes {
			sf := fmt.Sprintf("%s.Scopes[%d]", f, j)
			if s.Type != ScopePCIBridge {
				return cfgErr(sf, "scope type %d, an ATSR lists root ports (PCI sub-hierarchy, type 2)", s.Type)
			}
			if err := c.validateScope(sf, s); err != nil {
				return err
			}
			n += 6 + 2*len(s.Path)
		}
		if n > 0xFFFF {
			return cfgErr(f+".Scopes", "the ATSR is longer than its 16-bit Length field allows")
		}
	}
	return nil
}

// validateScope checks one device scope.
func (c *Config) validateScope(f string, s DeviceScope) error {
	switch {
	case s.Type < ScopePCIEndpoint || s.Type > ScopeHPET:
		return cfgErr(f+".Type", "scope type %d, want 1 (PCI endpoint), 2 (PCI bridge), 3 (IOAPIC) or 4 (HPET)", s.Type)
	case len(s.Path) == 0:
		return cfgErr(f+".Path", "empty path")
	case len(s.Path) > maxScopePath:
		return cfgErr(f+".Path", "%d path elements, at most %d", len(s.Path), maxScopePath)
	}
	for k, p := range s.Path {
		if p.Device > 31 || p.Function > 7 {
			return cfgErr(fmt.Sprintf("%s.Path[%d]", f, k), "device %d function %d, want device 0-31 and function 0-7", p.Device, p.Function)
		}
	}
	if (s.Type == ScopePCIEndpoint || s.Type == ScopePCIBridge) && (s.StartBus < c.ECAM.StartBus || s.StartBus > c.ECAM.EndBus) {
		return cfgErr(f+".StartBus", "bus %d is outside the host bridge's buses %d-%d", s.StartBus, c.ECAM.StartBus, c.ECAM.EndBus)
	}
	return nil
}

func (c *Config) validateVIOT() error {
	v := c.VIOT
	if v.Segment != c.ECAM.Segment {
		return cfgErr("VIOT.Segment", "segment %d has no host bridge (ECAM segment is %d)", v.Segment, c.ECAM.Segment)
	}
	if bus := uint8(v.BDF >> 8); bus < c.ECAM.StartBus || bus > c.ECAM.EndBus {
		return cfgErr("VIOT.BDF", "bus %d of BDF %#04x is outside the host bridge's buses %d-%d", bus, v.BDF, c.ECAM.StartBus, c.ECAM.EndBus)
	}
	if len(v.Ranges) == 0 {
		return cfgErr("VIOT.Ranges", "no endpoint range: the virtio-iommu would translate nothing")
	}
	if 1+len(v.Ranges) > 0xFFFF || viotNodeOffset+viotVirtioPCISize+viotPCIRangeSize*len(v.Ranges) > 1<<32-1 {
		return cfgErr("VIOT.Ranges", "%d ranges do not fit the table", len(v.Ranges))
	}
	for i, r := range v.Ranges {
		f := fmt.Sprintf("VIOT.Ranges[%d]", i)
		switch {
		case r.SegmentStart != c.ECAM.Segment || r.SegmentEnd != c.ECAM.Segment:
			return cfgErr(f, "segments %d-%d, but only segment %d has a host bridge", r.SegmentStart, r.SegmentEnd, c.ECAM.Segment)
		case r.BDFStart > r.BDFEnd:
			return cfgErr(f, "BDF range %#04x-%#04x is empty", r.BDFStart, r.BDFEnd)
		case uint8(r.BDFStart>>8) < c.ECAM.StartBus || uint8(r.BDFEnd>>8) > c.ECAM.EndBus:
			return cfgErr(f, "BDF range %#04x-%#04x leaves the host bridge's buses %d-%d", r.BDFStart, r.BDFEnd, c.ECAM.StartBus, c.ECAM.EndBus)
		case uint64(r.EndpointStart)+r.endpointCount()-1 > 1<<32-1:
			return cfgErr(f, "endpoint IDs %#x + %d overflow 32 bits", r.EndpointStart, r.endpointCount())
		}
		for j, q := range v.Ranges[:i] {
			if r.SegmentStart <= q.SegmentEnd && q.SegmentStart <= r.SegmentEnd && r.BDFStart <= q.BDFEnd && q.BDFStart <= r.BDFEnd {
				return cfgErr(f, "BDFs %#04x-%#04x overlap Ranges[%d] (%#04x-%#04x)", r.BDFStart, r.BDFEnd, j, q.BDFStart, q.BDFEnd)
			}
			rLast := uint64(r.EndpointStart) + r.endpointCount() - 1
			qLast := uint64(q.EndpointStart) + q.endpointCount() - 1
			if uint64(r.EndpointStart) <= qLast && uint64(q.EndpointStart) <= rLast {
				return cfgErr(f, "endpoint IDs %#x-%#x overlap those of Ranges[%d] (%#x-%#x)", r.EndpointStart, rLast, j, q.EndpointStart, qLast)
			}
		}
	}
	return nil
}

// endpointCount is the number of endpoint IDs the range spans: one 64 Ki
// block per extra segment plus the BDFs of the last one.
func (r VIOTPCIRange) endpointCount() uint64 {
	return uint64(r.SegmentEnd-r.SegmentStart)<<16 + uint64(r.BDFEnd-r.BDFStart) + 1
}

// validateIOMMUPartition checks that no PCI device is claimed by both the
// VT-d units and the virtio-iommu: an INCLUDE_PCI_ALL unit claims its whole
// segment, and an endpoint scope with a one-element path names one BDF.
// (Deeper paths go through bridges whose bus numbers the OS assigns, so
// they cannot be checked here.)
func (c *Config) validateIOMMUPartition() error {
	v := c.VIOT
	for i, u := range c.DMAR.Units {
		f := fmt.Sprintf("DMAR.Units[%d]", i)
		if u.IncludePCIAll && u.Segment == v.Segment {
			return cfgErr(f+".IncludePCIAll", "the unit claims every device of segment %d, where the VIOT puts endpoints behind the virtio-iommu; give the unit explicit scopes", u.Segment)
		}
		for j, s := range u.Scopes {
			if (s.Type != ScopePCIEndpoint && s.Type != ScopePCIBridge) || len(s.Path) != 1 {
				continue
			}
			bdf := BDF(s.StartBus, s.Path[0].Device, s.Path[0].Function)
			for k, r := range v.Ranges {
				if u.Segment >= r.SegmentStart && u.Segment <= r.SegmentEnd && bdf >= r.BDFStart && bdf <= r.BDFEnd {
					return cfgErr(fmt.Sprintf("%s.Scopes[%d]", f, j), "device %#04x is also in VIOT.Ranges[%d]: two IOMMUs would claim it", bdf, k)
				}
			}
		}
	}
	return nil
}
