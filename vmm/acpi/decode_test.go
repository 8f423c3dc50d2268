package acpi

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// This file decodes the generated tables independently of the code that
// builds them, from the layouts in the specifications, so the tests can
// check what a guest would read.

var le = binary.LittleEndian

// header is a decoded System Description Table Header (ACPI 6.5 §5.2.6).
type header struct {
	sig        string
	length     uint32
	rev        uint8
	oemID      string
	oemTableID string
}

// checkTable verifies a table's header against its bytes: the signature,
// Length == len(t), and a zero byte sum. It returns the decoded header.
func checkTable(t *testing.T, sig string, b []byte) header {
	t.Helper()
	if len(b) < 36 {
		t.Fatalf("%s: %d bytes, shorter than a header", sig, len(b))
	}
	h := header{sig: string(b[0:4]), length: le.Uint32(b[4:]), rev: b[8], oemID: string(b[10:16]), oemTableID: string(b[16:24])}
	if h.sig != sig {
		t.Errorf("signature %q, want %q", h.sig, sig)
	}
	if int(h.length) != len(b) {
		t.Errorf("%s: Length %d, table has %d bytes", sig, h.length, len(b))
	}
	if s := byteSum(b); s != 0 {
		t.Errorf("%s: byte sum %#x, want 0", sig, s)
	}
	if h.oemID != OEMID {
		t.Errorf("%s: OEM ID %q, want %q", sig, h.oemID, OEMID)
	}
	return h
}

func byteSum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// madtEntry is one decoded MADT interrupt controller structure.
type madtEntry struct {
	typ  uint8
	body []byte // the whole structure, type and length included
}

// decodeMADT returns the local APIC address, flags and structures, failing
// the test on a structure that overruns the table or has a length below 2.
func decodeMADT(t *testing.T, b []byte) (lapic, flags uint32, entries []madtEntry) {
	t.Helper()
	lapic, flags = le.Uint32(b[36:]), le.Uint32(b[40:])
	for off := 44; off < len(b); {
		if off+2 > len(b) || b[off+1] < 2 || off+int(b[off+1]) > len(b) {
			t.Fatalf("MADT structure at %d overruns the table", off)
		}
		n := int(b[off+1])
		entries = append(entries, madtEntry{typ: b[off], body: b[off : off+n]})
		off += n
	}
	return lapic, flags, entries
}

// dmarStruct is one decoded DMAR remapping structure.
type dmarStruct struct {
	typ    uint16
	flags  uint8
	size   uint8
	seg    uint16
	base   uint64 // DRHD only
	scopes []DeviceScope
}

// decodeDMAR decodes the DMAR as Linux's dmar_walk_remapping_entries does,
// failing the test on a malformed structure.
func decodeDMAR(t *testing.T, b []byte) (haw1, flags uint8, out []dmarStruct) {
	t.Helper()
	haw1, flags = b[36], b[37]
	for i := 38; i < 48; i++ {
		if b[i] != 0 {
			t.Errorf("DMAR reserved byte %d is %#x", i, b[i])
		}
	}
	for off := 48; off < len(b); {
		if off+4 > len(b) {
			t.Fatalf("DMAR structure header at %d overruns the table", off)
		}
		typ, n := le.Uint16(b[off:]), int(le.Uint16(b[off+2:]))
		if n == 0 || off+n > len(b) {
			t.Fatalf("DMAR structure at %d has length %d (table %d bytes)", off, n, len(b))
		}
		s := dmarStruct{typ: typ, flags: b[off+4], size: b[off+5], seg: le.Uint16(b[off+6:])}
		scopeStart := off + 8
		switch typ {
		case dmarTypeDRHD:
			s.base = le.Uint64(b[off+8:])
			scopeStart = off + 16
		case dmarTypeATSR:
		default:
			t.Fatalf("unexpected DMAR structure type %d at %d", typ, off)
		}
		for p := scopeStart; p < off+n; {
			l := int(b[p+1])
			if l < 6 || (l-6)%2 != 0 || p+l > off+n {
				t.Fatalf("device scope at %d has length %d", p, l)
			}
			ds := DeviceScope{Type: ScopeType(b[p]), EnumerationID: b[p+4], StartBus: b[p+5]}
			for q := p + 6; q < p+l; q += 2 {
				ds.Path = append(ds.Path, PCIPath{b[q], b[q+1]})
			}
			s.scopes = append(s.scopes, ds)
			p += l
		}
		out = append(out, s)
		off += n
	}
	return haw1, flags, out
}

// viotEndpoint resolves the endpoint ID of PCI function (seg, bdf) the way
// Linux's drivers/acpi/viot.c does: walk node_count nodes from
// node_offset with bounds checks, keep the PCI range nodes whose output
// node is a virtio-pci IOMMU node, and apply
// ((seg - segment_start) << 16) + bdf - bdf_start + endpoint_start. It
// returns the IOMMU's (segment, BDF) too.
func viotEndpoint(b []byte, seg, bdf uint16) (epid uint32, iommuSeg, iommuBDF uint16, err error) {
	count, first := int(le.Uint16(b[36:])), int(le.Uint16(b[38:]))
	node := max(first, 48)
	found := false
	for i := 0; i < count; i++ {
		if node+4 > len(b) {
			return 0, 0, 0, fmt.Errorf("node %d at %d overflows the table", i, node)
		}
		typ, n := b[node], int(le.Uint16(b[node+2:]))
		if n < 4 || node+n > len(b) {
			return 0, 0, 0, fmt.Errorf("node %d at %d has length %d", i, node, n)
		}
		if typ == viotTypePCIRange {
			if n < 24 {
				return 0, 0, 0, fmt.Errorf("PCI range node at %d is %d bytes", node, n)
			}
			start, segS, segE := le.Uint32(b[node+4:]), le.Uint16(b[node+8:]), le.Uint16(b[node+10:])
			bdfS, bdfE, out := le.Uint16(b[node+12:]), le.Uint16(b[node+14:]), int(le.Uint16(b[node+16:]))
			if out+16 > len(b) || b[out] != viotTypeVirtioPCI || le.Uint16(b[out+2:]) < 16 {
				return 0, 0, 0, fmt.Errorf("PCI range node at %d: output node %d is not a virtio-pci IOMMU", node, out)
			}
			if !found && seg >= segS && seg <= segE && bdf >= bdfS && bdf <= bdfE {
				epid = uint32(seg-segS)<<16 + uint32(bdf) - uint32(bdfS) + start
				iommuSeg, iommuBDF = le.Uint16(b[out+4:]), le.Uint16(b[out+6:])
				found = true
			}
		}
		node += n
	}
	if !found {
		return 0, 0, 0, fmt.Errorf("%04x:%04x is not behind the virtio-iommu", seg, bdf)
	}
	return epid, iommuSeg, iommuBDF, nil
}
