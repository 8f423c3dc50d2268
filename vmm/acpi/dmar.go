package acpi

// DMAR layout (VT-d spec §8.1): header, HAW-1 at byte 36, flags at 37, 10
// reserved bytes, then the remapping structures from byte 48.
const (
	dmarRevision     = 1
	dmarIntrRemap    = 1 << 0
	dmarX2APICOptOut = 1 << 1

	dmarTypeDRHD = 0
	dmarTypeATSR = 2

	drhdIncludePCIAll = 1 << 0
	atsrAllPorts      = 1 << 0
)

// buildDMAR returns the DMAR for d. d has been validated: every length
// fits its field.
func buildDMAR(d *DMARConfig) []byte {
	t := newTable("DMAR", dmarRevision, 256)
	var flags uint8
	if d.IntrRemap {
		flags |= dmarIntrRemap
	}
	if d.X2APICOptOut {
		flags |= dmarX2APICOptOut
	}
	t = append(t, d.HostAddressWidth-1, flags)
	t = append(t, make([]byte, 10)...)
	for _, u := range drhdOrder(d.Units) {
		var f uint8
		if u.IncludePCIAll {
			f |= drhdIncludePCIAll
		}
		start := len(t)
		t = le16(t, dmarTypeDRHD)
		t = le16(t, 0) // Length, patched below
		t = append(t, f, u.Size)
		t = le16(t, u.Segment)
		t = le64(t, u.RegisterBase)
		t = appendScopes(t, u.Scopes)
		putLen16(t, start)
	}
	for _, a := range d.ATSR {
		var f uint8
		if a.AllPorts {
			f |= atsrAllPorts
		}
		start := len(t)
		t = le16(t, dmarTypeATSR)
		t = le16(t, 0)
		t = append(t, f, 0)
		t = le16(t, a.Segment)
		t = appendScopes(t, a.Scopes)
		putLen16(t, start)
	}
	return finishTable(t)
}

// drhdOrder returns the units with, for each segment, the INCLUDE_PCI_ALL
// unit moved after the others (VT-d spec §8.3); the order is otherwise
// kept.
func drhdOrder(units []DRHD) []DRHD {
	out := make([]DRHD, 0, len(units))
	for _, u := range units {
		if !u.IncludePCIAll {
			out = append(out, u)
		}
	}
	for _, u := range units {
		if u.IncludePCIAll {
			out = append(out, u)
		}
	}
	return out
}

// appendScopes appends the Device Scope structures (VT-d spec §8.3.1).
func appendScopes(t []byte, scopes []DeviceScope) []byte {
	for _, s := range scopes {
		t = append(t, byte(s.Type), byte(6+2*len(s.Path)), 0, 0, s.EnumerationID, s.StartBus)
		for _, p := range s.Path {
			t = append(t, p.Device, p.Function)
		}
	}
	return t
}

// putLen16 writes len(t)-start as the 16-bit Length at t[start+2:].
func putLen16(t []byte, start int) {
	n := len(t) - start
	t[start+2], t[start+3] = byte(n), byte(n>>8)
}
