package pci

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// walkStandard follows the standard list the way a guest driver does,
// independently of ParseCapabilities.
func walkStandard(t *testing.T, cs *ConfigSpace) []Capability {
	t.Helper()
	var caps []Capability
	if cs.Uint16(RegStatus)&StatusCapabilitiesList == 0 {
		return nil
	}
	for p, n := int(cs.Uint8(RegCapabilitiesPtr)&0xfc), 0; p != 0; p, n = int(cs.Uint8(p+1)&0xfc), n+1 {
		if n > 48 {
			t.Fatal("capability list does not end")
		}
		caps = append(caps, Capability{Offset: p, ID: uint16(cs.Uint8(p))})
	}
	return caps
}

func TestCapabilityLists(t *testing.T) {
	cs, _ := NewConfigSpace(Header{VendorID: 1})
	if caps, err := cs.Capabilities(); len(caps) != 0 || err != nil {
		t.Fatalf("new config space has capabilities %v, %v", caps, err)
	}
	if cs.Uint16(RegStatus)&StatusCapabilitiesList != 0 {
		t.Fatal("Status.CapabilitiesList set with no capabilities")
	}
	steps := []struct {
		ext     bool
		id      uint16
		ver     uint8
		body    int // bytes
		wantOff int
	}{
		{false, CapIDVendorSpecific, 0, 14, 0x40}, // 16 bytes
		{true, ExtCapIDATS, 1, 4, 0x100},          // 8 bytes
		{false, CapIDPowerManagement, 0, 5, 0x50}, // 7 → 8 bytes
		{false, CapIDMSIX, 0, 10, 0x58},
		{true, ExtCapIDACS, 1, 2, 0x108}, // 6 → 8
		{true, ExtCapIDPASID, 1, 4, 0x110},
	}
	var want []Capability
	for _, s := range steps {
		var off int
		var err error
		if s.ext {
			off, err = cs.AddExtendedCapability(s.id, s.ver, make([]byte, s.body), nil)
		} else {
			off, err = cs.AddCapability(uint8(s.id), make([]byte, s.body), nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		if off != s.wantOff {
			t.Errorf("capability %#x at %#x, want %#x", s.id, off, s.wantOff)
		}
		want = append(want, Capability{Offset: off, ID: s.id, Extended: s.ext, Version: s.ver})
	}
	// Standard entries first, in order of addition, then extended ones.
	var wantOrdered []Capability
	for _, ext := range []bool{false, true} {
		for _, c := range want {
			if c.Extended == ext {
				wantOrdered = append(wantOrdered, c)
			}
		}
	}
	got, err := cs.Capabilities()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantOrdered, got); diff != "" {
		t.Errorf("Capabilities (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantOrdered[:3], walkStandard(t, cs)); diff != "" {
		t.Errorf("guest walk (-want +got):\n%s", diff)
	}
	if cs.Uint16(RegStatus)&StatusCapabilitiesList == 0 {
		t.Error("Status.CapabilitiesList clear")
	}
	// Extended headers: next pointers in bits 31:20.
	if h := cs.Uint32(0x100); h != 0x108<<20|1<<16|ExtCapIDATS {
		t.Errorf("extended header at 0x100 = %#x", h)
	}
	if h := cs.Uint32(0x110); h>>20 != 0 {
		t.Errorf("last extended capability has next %#x", h>>20)
	}
	for _, tc := range []struct {
		id   uint8
		off  int
		ok   bool
		eid  uint16
		eoff int
		eok  bool
	}{
		{CapIDMSIX, 0x58, true, ExtCapIDACS, 0x108, true},
		{CapIDMSI, 0, false, ExtCapIDAER, 0, false},
	} {
		if off, ok := cs.FindCapability(tc.id); off != tc.off || ok != tc.ok {
			t.Errorf("FindCapability(%#x) = %#x, %v", tc.id, off, ok)
		}
		if off, ok := cs.FindExtendedCapability(tc.eid); off != tc.eoff || ok != tc.eok {
			t.Errorf("FindExtendedCapability(%#x) = %#x, %v", tc.eid, off, ok)
		}
	}
	// Guest writes cannot touch IDs or next pointers.
	before := cs.Bytes()
	for off := 0x40; off < 0x120; off += 4 {
		cs.WriteConfig(off, []byte{0xff, 0xff, 0xff, 0xff})
	}
	if diff := cmp.Diff(before, cs.Bytes()); diff != "" {
		t.Errorf("guest writes changed read-only capabilities:\n%s", diff)
	}
}

func TestCapabilityErrors(t *testing.T) {
	cs, _ := NewConfigSpace(Header{VendorID: 1})
	if _, err := cs.AddCapability(1, make([]byte, 4), make([]byte, 3)); err == nil {
		t.Error("mismatched writable mask accepted")
	}
	if _, err := cs.AddExtendedCapability(1, 16, nil, nil); err == nil {
		t.Error("5-bit version accepted")
	}
	if _, err := cs.AddExtendedCapability(1, 1, make([]byte, 4), make([]byte, 5)); err == nil {
		t.Error("mismatched extended writable mask accepted")
	}
	if _, err := cs.AddCapability(1, make([]byte, 0xbe), nil); err != nil {
		t.Fatalf("capability filling 0x40–0xFF refused: %v", err)
	}
	if _, err := cs.AddCapability(1, nil, nil); !errors.Is(err, ErrNoSpace) {
		t.Errorf("capability past 0xFF: %v, want ErrNoSpace", err)
	}
	if _, err := cs.AddExtendedCapability(1, 1, make([]byte, 0xefc), nil); err != nil {
		t.Fatalf("extended capability filling 0x100–0xFFF refused: %v", err)
	}
	if _, err := cs.AddExtendedCapability(2, 1, nil, nil); !errors.Is(err, ErrNoSpace) {
		t.Errorf("extended capability past 0xFFF: %v, want ErrNoSpace", err)
	}
}

func TestParseCapabilitiesMalformed(t *testing.T) {
	image := func(std []int, ext []uint32) []byte {
		b := make([]byte, ConfigSize)
		if len(std) > 0 {
			binary.LittleEndian.PutUint16(b[RegStatus:], StatusCapabilitiesList)
			b[RegCapabilitiesPtr] = byte(std[0])
			for i := 1; i < len(std); i += 2 { // pairs: offset, next
				b[std[i]] = 0x09
				b[std[i]+1] = byte(std[i+1])
			}
		}
		for i, h := range ext {
			binary.LittleEndian.PutUint32(b[0x100+8*i:], h)
		}
		return b
	}
	tests := []struct {
		name    string
		cfg     []byte
		ncaps   int
		errText string
	}{
		{"short image", make([]byte, 64), 0, "at least 256"},
		{"standard only image", image([]int{0x40, 0x40, 0x48, 0x48, 0}, nil)[:256], 2, ""},
		{"loop", image([]int{0x40, 0x40, 0x48, 0x48, 0x40}, nil), 2, "loops back to 0x40"},
		{"self loop", image([]int{0x44, 0x44, 0x44}, nil), 1, "loops"},
		{"pointer into header", image([]int{0x40, 0x40, 0x10}, nil), 1, "into the header"},
		{"low bits ignored", image([]int{0x43, 0x40, 0x4b, 0x48, 0}, nil), 2, ""},
		{"list bit clear", func() []byte { b := image([]int{0x40, 0x40, 0}, nil); b[RegStatus] = 0; return b }(), 0, ""},
		{"extended all ones", image(nil, []uint32{0xffffffff}), 0, ""},
		{"extended chain", image(nil, []uint32{0x108<<20 | 0x1000f, 0x1001b}), 2, ""},
		{"extended below 0x100", image(nil, []uint32{0x0c0<<20 | 0x1000f}), 1, "below 0x100"},
		{"extended loop", image(nil, []uint32{0x108<<20 | 1, 0x100<<20 | 2}), 2, "loops back to 0x100"},
		{"extended past a short image", image(nil, []uint32{0x200<<20 | 1})[:0x180], 1, "past the"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			caps, err := ParseCapabilities(tc.cfg)
			if len(caps) != tc.ncaps {
				t.Errorf("found %d capabilities (%v), want %d", len(caps), caps, tc.ncaps)
			}
			switch {
			case tc.errText == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.errText != "" && (err == nil || !strings.Contains(err.Error(), tc.errText)):
				t.Errorf("error %v, want one containing %q", err, tc.errText)
			}
		})
	}
}
