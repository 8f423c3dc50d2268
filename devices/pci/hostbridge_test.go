package pci

import "testing"

func TestHostBridge(t *testing.T) {
	r := newRig(t, 0, 0)
	hb := NewHostBridge()
	if err := r.seg.Add(BDF{}, hb); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		reg, size int
		want      uint32
	}{
		{"vendor", RegVendorID, 2, 0x8086},
		{"device", RegDeviceID, 2, 0x29c0},
		{"class 06/00/00", RegRevisionID, 4, 0x0600_0000},
		{"header type 0, single function", RegHeaderType, 1, 0},
		{"subsystem", RegSubsystemVendorID, 4, 0x1100_1af4},
		{"no capabilities", RegCapabilitiesPtr, 1, 0},
		{"no interrupt pin", RegInterruptPin, 1, 0},
		{"no BAR", RegBAR0, 4, 0},
	}
	for _, tc := range tests {
		if got := r.cf8Read(BDF{}, tc.reg, tc.size); got != tc.want {
			t.Errorf("%s: register %#x = %#x, want %#x", tc.name, tc.reg, got, tc.want)
		}
	}
	r.cf8Write(BDF{}, RegBAR0, 4, 0xffff_ffff)
	if got := r.cf8Read(BDF{}, RegBAR0, 4); got != 0 {
		t.Errorf("BAR 0 after sizing = %#x, want 0 (no BAR)", got)
	}
}

func TestPCIExpressCapability(t *testing.T) {
	cs, _ := NewConfigSpace(Header{VendorID: 1})
	off, err := AddPCIExpress(cs)
	if err != nil {
		t.Fatal(err)
	}
	if got := cs.Uint8(off); got != CapIDPCIExpress {
		t.Fatalf("capability ID %#x", got)
	}
	if got := cs.Uint16(off + PCIeCapabilities); got&0xf != 2 || got>>4&0xf != PCIeTypeRCiEP {
		t.Errorf("PCI Express Capabilities = %#x, want version 2, type RCiEP", got)
	}
	// Device Control: writable bits change, reserved bit 15 does not.
	cs.WriteConfig(off+PCIeDevCtl, []byte{0xff, 0xff})
	if got := cs.Uint16(off + PCIeDevCtl); got != 0x78ff {
		t.Errorf("Device Control after writing all ones = %#x, want 0x78ff", got)
	}
	// Device Status error bits are RW1C.
	cs.PutUint16(off+PCIeDevStatus, 0x0005)
	cs.WriteConfig(off+PCIeDevStatus, []byte{0x04, 0})
	if got := cs.Uint16(off + PCIeDevStatus); got != 0x0001 {
		t.Errorf("Device Status = %#x, want 0x1", got)
	}
	// Device Capabilities read-only.
	cs.WriteConfig(off+PCIeDevCap, []byte{0, 0, 0, 0})
	if got := cs.Uint32(off + PCIeDevCap); got != 1<<15 {
		t.Errorf("Device Capabilities = %#x, want RBER only", got)
	}
}
