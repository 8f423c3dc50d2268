package pci

import (
	"slices"
	"testing"
)

func TestNewConfigSpaceHeader(t *testing.T) {
	h := Header{VendorID: 0x1af4, DeviceID: 0x1057, RevisionID: 1, Class: 0x088000, SubsystemVendorID: 0x1af4, SubsystemID: 0x1100, InterruptPin: 2}
	cs, err := NewConfigSpace(h)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		off, size int
		want      uint32
	}{
		{RegVendorID, 4, 0x1057_1af4},
		{RegCommand, 4, 0},
		{RegRevisionID, 4, 0x0880_0001},
		{RegCacheLineSize, 4, 0},
		{RegSubsystemVendorID, 4, 0x1100_1af4},
		{RegCapabilitiesPtr, 1, 0},
		{RegInterruptLine, 4, 0x0000_0200},
	}
	for _, tc := range tests {
		data := make([]byte, tc.size)
		cs.ReadConfig(tc.off, data)
		if got := le(data); got != tc.want {
			t.Errorf("register %#x = %#x, want %#x", tc.off, got, tc.want)
		}
	}
	bad := []Header{{VendorID: 0xffff}, {VendorID: 1, Class: 1 << 24}, {VendorID: 1, InterruptPin: 5}}
	for _, h := range bad {
		if _, err := NewConfigSpace(h); err == nil {
			t.Errorf("NewConfigSpace(%+v) succeeded", h)
		}
	}
}

// TestGuestWriteMasks checks read-only, writable and RW1C bits through
// the guest view.
func TestGuestWriteMasks(t *testing.T) {
	tests := []struct {
		name  string
		setup func(cs *ConfigSpace) // device-side preparation
		off   int
		data  []byte
		reg   int // register to check afterwards (2 bytes)
		want  uint16
	}{
		{"vendor ID read-only", nil, RegVendorID, []byte{0, 0}, RegVendorID, 0x8086},
		{"command writable bits only", nil, RegCommand, []byte{0xff, 0xff}, RegCommand, 0x0547},
		{"status: write 1 clears error bits", func(cs *ConfigSpace) {
			cs.PutUint16(RegStatus, StatusReceivedMaster|StatusSignaledSystem|StatusCapabilitiesList)
		}, RegStatus, []byte{0x00, 0x20}, RegStatus, StatusSignaledSystem | StatusCapabilitiesList},
		{"status: write 0 leaves them", func(cs *ConfigSpace) {
			cs.PutUint16(RegStatus, StatusReceivedMaster)
		}, RegStatus, []byte{0, 0}, RegStatus, StatusReceivedMaster},
		{"status: read-only bits stay", func(cs *ConfigSpace) {
			cs.PutUint16(RegStatus, StatusInterrupt|StatusCapabilitiesList)
		}, RegStatus, []byte{0xff, 0xff}, RegStatus, StatusInterrupt | StatusCapabilitiesList},
		{"dword write over command+status", func(cs *ConfigSpace) {
			cs.PutUint16(RegStatus, StatusDetectedParity|StatusInterrupt)
		}, RegCommand, []byte{0x06, 0x00, 0x00, 0x80}, RegStatus, StatusInterrupt},
		{"unknown register in header", nil, 0x28, []byte{0xff, 0xff}, 0x28, 0},
		{"unknown register in capability space", nil, 0x80, []byte{0xff, 0xff}, 0x80, 0},
		{"unknown register in extended space", nil, 0xffe, []byte{0xff, 0xff}, 0xffe, 0},
		{"custom writable register", func(cs *ConfigSpace) {
			if err := cs.SetWritable(0x60, 2, 0x0ff0); err != nil {
				panic(err)
			}
		}, 0x60, []byte{0xff, 0xff}, 0x60, 0x0ff0},
		{"custom RW1C register", func(cs *ConfigSpace) {
			if err := cs.SetW1C(0x62, 2, 0x00ff); err != nil {
				panic(err)
			}
			cs.PutUint16(0x62, 0x1234)
		}, 0x62, []byte{0x30, 0x00}, 0x62, 0x1204},
		{"write past the end ignored", nil, 0xffe, []byte{1, 2, 3, 4}, 0xffe, 0},
		{"negative offset ignored", nil, -1, []byte{1, 2}, RegVendorID, 0x8086},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := NewConfigSpace(Header{VendorID: 0x8086})
			if err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(cs)
			}
			cs.WriteConfig(tc.off, tc.data)
			if got := cs.Uint16(tc.reg); got != tc.want {
				t.Errorf("register %#x = %#x, want %#x", tc.reg, got, tc.want)
			}
		})
	}
}

func TestOutOfRangeAccess(t *testing.T) {
	cs, _ := NewConfigSpace(Header{VendorID: 1})
	tests := []struct {
		off, n int
	}{{-1, 1}, {ConfigSize, 1}, {ConfigSize - 1, 2}, {0, 0}, {1 << 40, 4}, {-1 << 40, 4}}
	for _, tc := range tests {
		data := make([]byte, tc.n)
		cs.ReadConfig(tc.off, data)
		for _, b := range data {
			if b != 0xff {
				t.Errorf("ReadConfig(%d, %d bytes) = %x, want all ones", tc.off, tc.n, data)
			}
		}
		cs.WriteConfig(tc.off, data)
		if tc.n != 4 {
			continue
		}
		cs.PutUint32(tc.off, 0x12345678)
		if cs.Uint32(tc.off) != 0xffff_ffff {
			t.Errorf("Uint32(%d) = %#x, want all ones", tc.off, cs.Uint32(tc.off))
		}
	}
	if got := cs.Uint16(RegVendorID); got != 1 {
		t.Errorf("vendor ID changed to %#x", got)
	}
	if err := cs.SetWritable(ConfigSize-2, 4, ^uint32(0)); err == nil {
		t.Error("SetWritable past the end succeeded")
	}
	if err := cs.SetW1C(0x40, 3, 1); err == nil {
		t.Error("SetW1C with size 3 succeeded")
	}
}

func TestHooks(t *testing.T) {
	cs, _ := NewConfigSpace(Header{VendorID: 1})
	if err := cs.SetWritable(0x50, 4, ^uint32(0)); err != nil {
		t.Fatal(err)
	}
	type call struct{ kind, off, size int }
	var calls []call
	cs.OnWrite(0x52, 2, func(off, size int) {
		calls = append(calls, call{1, off, size})
		// Hooks run unlocked and see the new value.
		if v := cs.Uint16(0x52); v != 0xbeef && v != 0x00ef {
			t.Errorf("write hook sees %#x", v)
		}
	})
	cs.OnRead(0x50, 2, func(off, size int) {
		calls = append(calls, call{2, off, size})
		cs.PutUint16(0x50, 0x4242) // computed on demand
	})
	cs.OnWrite(-4, 8, func(int, int) { t.Error("out-of-range hook registered") })

	cs.WriteConfig(0x50, []byte{1, 2})             // no hook
	cs.WriteConfig(0x50, []byte{1, 2, 0xef, 0xbe}) // write hook
	cs.WriteConfig(0x53, []byte{0})                // write hook (overlaps)
	d := make([]byte, 4)
	cs.ReadConfig(0x50, d) // read hook
	if got := le(d); got != 0x00ef_4242 {
		t.Errorf("read after hook = %#x, want 0xef4242", got)
	}
	cs.ReadConfig(0x52, d[:2]) // no hook
	want := []call{{1, 0x50, 4}, {1, 0x53, 1}, {2, 0x50, 4}}
	if !slices.Equal(calls, want) {
		t.Errorf("hook calls = %v, want %v", calls, want)
	}
	wm, w1c := cs.Masks(0x50, 4)
	if !slices.Equal(wm, []byte{0xff, 0xff, 0xff, 0xff}) || !slices.Equal(w1c, []byte{0, 0, 0, 0}) {
		t.Errorf("Masks = %x, %x", wm, w1c)
	}
}
