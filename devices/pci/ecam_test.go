package pci

import "testing"

// TestECAMDecode checks that ECAM offsets select bus<<20 | dev<<15 |
// fn<<12 | reg, including a segment whose bus range does not start at 0.
// Offsets are raw literals so decoding is checked independently of
// ECAMOffset.
func TestECAMDecode(t *testing.T) {
	r := newRig(t, 0x10, 0x11)
	d := newTestDev(t, r.sender)
	if err := r.seg.Add(BDF{Bus: 0x11, Device: 2, Function: 5}, d); err != nil {
		t.Fatal(err)
	}
	hb := NewHostBridge()
	if err := r.seg.Add(BDF{Bus: 0x10}, hb); err != nil {
		t.Fatal(err)
	}
	pcie, ok := d.FindCapability(CapIDPCIExpress)
	if !ok {
		t.Fatal("no PCI Express capability")
	}
	base, size := r.seg.ECAMWindow()
	if base != testECAM+0x10<<20 || size != 2<<20 {
		t.Fatalf("ECAMWindow = %#x, %#x; want %#x, %#x", base, size, testECAM+0x10<<20, 2<<20)
	}
	tests := []struct {
		name string
		addr uint64 // guest-physical
		size int
		want uint64
	}{
		{"bus 0x11 dev 2 fn 5 IDs", testECAM + 0x0111_5000, 4, 0x0005_1b36},
		{"bus 0x10 host bridge IDs", testECAM + 0x0100_0000, 4, 0x29c0_8086},
		{"device ID word", testECAM + 0x0111_5002, 2, 0x0005},
		{"vendor ID high byte", testECAM + 0x0111_5001, 1, 0x1b},
		{"header type byte", testECAM + 0x0111_500e, 1, 0x00},
		{"PCI Express capability ID", testECAM + 0x0111_5000 + uint64(pcie), 1, CapIDPCIExpress},
		{"extended capability header", testECAM + 0x0111_5100, 4, 0x0001_000b},
		{"extended capability body", testECAM + 0x0111_5104, 4, 0x0403_0201},
		{"extended space past capabilities", testECAM + 0x0111_5ffc, 4, 0},
		{"QWORD read is two DWORDs", testECAM + 0x0111_5000, 8, 0x0010_0000_0005_1b36},
		{"misaligned QWORD", testECAM + 0x0111_5004, 8, 0xffff_ffff_ffff_ffff},
		{"word crossing a DWORD", testECAM + 0x0111_5003, 2, 0xffff},
		{"3-byte access", testECAM + 0x0111_5000, 3, 0xff_ffff},
		{"function 4 absent", testECAM + 0x0111_4000, 4, 0xffff_ffff},
		{"device 3 absent", testECAM + 0x0111_d000, 4, 0xffff_ffff},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := make([]byte, tc.size)
			r.mmio.Read(tc.addr, data)
			var got uint64
			for i := len(data) - 1; i >= 0; i-- {
				got = got<<8 | uint64(data[i])
			}
			if got != tc.want {
				t.Errorf("read %d bytes at %#x = %#x, want %#x", tc.size, tc.addr, got, tc.want)
			}
		})
	}
	// The handler itself, past its window (the bus would not route this).
	data := []byte{0, 0, 0, 0}
	r.seg.ECAM().Read(size, data)
	if le(data) != 0xffff_ffff {
		t.Errorf("read past the window = %#x, want all ones", le(data))
	}
	// ECAMOffset agrees with the literals above.
	if got := ECAMOffset(BDF{Bus: 0x11, Device: 2, Function: 5}, 0x104); got != 0x0111_5104 {
		t.Errorf("ECAMOffset = %#x, want 0x1115104", got)
	}
}

// TestECAMWrites checks ECAM writes, including the QWORD split and writes
// that must be ignored.
func TestECAMWrites(t *testing.T) {
	r := newRig(t, 0, 0)
	d := newTestDev(t, r.sender)
	b := BDF{Device: 1}
	if err := r.seg.Add(b, d); err != nil {
		t.Fatal(err)
	}
	base := testECAM + ECAMOffset(b, 0)
	tests := []struct {
		name    string
		off     uint64
		data    []byte
		cmd     uint16
		intLine uint8
	}{
		{"command word", 0x04, []byte{0x07, 0x04}, CmdIOSpace | CmdMemorySpace | CmdBusMaster | CmdINTxDisable, 0},
		{"command read-only bits", 0x04, []byte{0xff, 0xff}, 0x0547, 0},
		{"QWORD at 0x38 reaches 0x3C", 0x38, []byte{1, 2, 3, 4, 0x33, 0, 0, 0}, 0x0547, 0x33},
		{"misaligned QWORD ignored", 0x3c, []byte{0x44, 0, 0, 0, 0, 0, 0, 0}, 0x0547, 0x33},
		{"crossing word ignored", 0x3b, []byte{0x55, 0x55}, 0x0547, 0x33},
		{"vendor ID read-only", 0x00, []byte{0, 0, 0, 0}, 0x0547, 0x33},
		{"command cleared", 0x04, []byte{0, 0}, 0, 0x33},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r.mmio.Write(base+tc.off, tc.data)
			if got := d.Command(); got != tc.cmd {
				t.Errorf("Command = %#x, want %#x", got, tc.cmd)
			}
			if got := d.Uint8(RegInterruptLine); got != tc.intLine {
				t.Errorf("Interrupt Line = %#x, want %#x", got, tc.intLine)
			}
			if got := d.Uint16(RegVendorID); got != 0x1b36 {
				t.Errorf("Vendor ID = %#x, want 0x1b36", got)
			}
		})
	}
}
