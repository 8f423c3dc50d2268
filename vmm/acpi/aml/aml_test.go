package aml

import (
	"bytes"
	"strings"
	"testing"
)

// decodePkgLength is an independent decoder of ACPI 6.5 §20.2.4: it returns
// the encoded total length and the number of PkgLength bytes.
func decodePkgLength(b []byte) (total, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	follow := int(b[0] >> 6)
	if len(b) < 1+follow {
		return 0, 0, false
	}
	if follow == 0 {
		return int(b[0] & 0x3F), 1, true
	}
	if b[0]&0x30 != 0 { // bits 5:4 must be zero in the multi-byte form
		return 0, 0, false
	}
	total = int(b[0] & 0x0F)
	for i := 1; i <= follow; i++ {
		total |= int(b[i]) << (4 + 8*(i-1))
	}
	return total, 1 + follow, true
}

func TestAppendPkgLengthBoundaries(t *testing.T) {
	tests := []struct {
		body    int // bytes after the PkgLength
		want    []byte
		wantLen int // PkgLength bytes
	}{
		{body: 0, want: []byte{0x01}, wantLen: 1},
		{body: 62, want: []byte{0x3F}, wantLen: 1}, // total 63: the largest one-byte form
		{body: 63, want: []byte{0x41, 0x04}, wantLen: 2},
		{body: 64, want: []byte{0x42, 0x04}, wantLen: 2},
		{body: 4093, want: []byte{0x4F, 0xFF}, wantLen: 2}, // total 4095
		{body: 4094, want: []byte{0x81, 0x00, 0x01}, wantLen: 3},
		{body: 4095, want: []byte{0x82, 0x00, 0x01}, wantLen: 3},
		{body: 1<<20 - 4, want: []byte{0x8F, 0xFF, 0xFF}, wantLen: 3}, // total 2^20-1
		{body: 1<<20 - 3, want: []byte{0xC1, 0x00, 0x00, 0x01}, wantLen: 4},
		{body: MaxPkgLength - 4, want: []byte{0xCF, 0xFF, 0xFF, 0xFF}, wantLen: 4},
	}
	for _, tc := range tests {
		got, err := AppendPkgLength([]byte{0xAA}, tc.body)
		if err != nil {
			t.Fatalf("AppendPkgLength(%d): %v", tc.body, err)
		}
		if got[0] != 0xAA || !bytes.Equal(got[1:], tc.want) {
			t.Errorf("AppendPkgLength(%d) = % x, want aa % x", tc.body, got, tc.want)
		}
		total, n, ok := decodePkgLength(got[1:])
		if !ok || n != tc.wantLen || total != tc.body+tc.wantLen {
			t.Errorf("AppendPkgLength(%d) decodes to total %d in %d bytes (ok %v), want %d in %d", tc.body, total, n, ok, tc.body+tc.wantLen, tc.wantLen)
		}
	}
}

func TestAppendPkgLengthErrors(t *testing.T) {
	for _, n := range []int{-1, MaxPkgLength - 3, MaxPkgLength, 1 << 30} {
		if _, err := AppendPkgLength(nil, n); err == nil {
			t.Errorf("AppendPkgLength(%d) succeeded, want an error", n)
		}
	}
}

// TestPackageBodyBoundaries encodes Buffers whose bodies straddle the
// PkgLength size boundaries and checks that the PkgLength covers exactly
// the object.
func TestPackageBodyBoundaries(t *testing.T) {
	for _, size := range []int{0, 1, 58, 59, 60, 61, 62, 63, 64, 250, 251, 252, 253, 254, 255, 256, 4088, 4089, 4090, 4091, 4092, 4093, 4094, 70000} {
		b, err := Buffer(make([]byte, size)).AppendAML(nil)
		if err != nil {
			t.Fatalf("Buffer(%d): %v", size, err)
		}
		if b[0] != bufferOp {
			t.Fatalf("Buffer(%d) opcode %#x", size, b[0])
		}
		total, _, ok := decodePkgLength(b[1:])
		if !ok || total != len(b)-1 {
			t.Errorf("Buffer(%d): PkgLength says %d bytes, object has %d after the opcode", size, total, len(b)-1)
		}
	}
}

func TestIntegerEncoding(t *testing.T) {
	tests := []struct {
		v    uint64
		want []byte
	}{
		{0, []byte{0x00}},
		{1, []byte{0x01}},
		{2, []byte{0x0A, 0x02}},
		{0xFF, []byte{0x0A, 0xFF}},
		{0x100, []byte{0x0B, 0x00, 0x01}},
		{0xFFFF, []byte{0x0B, 0xFF, 0xFF}},
		{0x10000, []byte{0x0C, 0x00, 0x00, 0x01, 0x00}},
		{0xFFFFFFFF, []byte{0x0C, 0xFF, 0xFF, 0xFF, 0xFF}},
		{0x100000000, []byte{0x0E, 0, 0, 0, 0, 1, 0, 0, 0}},
		{0x0123456789ABCDEF, []byte{0x0E, 0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01}},
		{1<<64 - 1, []byte{0xFF}},
	}
	for _, tc := range tests {
		got, err := Integer(tc.v).AppendAML(nil)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("Integer(%#x) = % x, %v; want % x", tc.v, got, err, tc.want)
		}
	}
}

func TestNameString(t *testing.T) {
	tests := []struct {
		path string
		want string // expected bytes as a string
	}{
		{"_SB_", "_SB_"},
		{"_SB", "_SB_"},
		{"S", "S___"},
		{"\\", "\\\x00"},
		{"\\_SB", "\\_SB_"},
		{"\\_SB.PCI0", "\\\x2E_SB_PCI0"},
		{"_SB.PCI0._CRS", "\x2F\x03_SB_PCI0_CRS"},
		{"^COM1", "^COM1"},
		{"^^C0", "^^C0__"},
		{"C0FE", "C0FE"},
	}
	for _, tc := range tests {
		got, err := AppendNameString(nil, tc.path)
		if err != nil || string(got) != tc.want {
			t.Errorf("AppendNameString(%q) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "^", "^^", "0ABC", "abcd", "ABCDE", "A..B", "_SB.", ".PCI", "A-B", "\\^A", "^\\A", strings.Repeat("A.", 255) + "A"} {
		if got, err := AppendNameString(nil, bad); err == nil {
			t.Errorf("AppendNameString(%q) = %q, want an error", bad, got)
		}
	}
}

// TestEISAID checks IDs against the values iasl 20200925 compiles EisaId()
// to. iasl stores them as integers of the shortest width, so "AAA0000"
// becomes a WordPrefix constant; AppendAML must match.
func TestEISAID(t *testing.T) {
	tests := []struct {
		id   EISAID
		want uint32
	}{
		{"PNP0A08", 0x080AD041},
		{"PNP0A03", 0x030AD041},
		{"PNP0501", 0x0105D041},
		{"PNP0B00", 0x000BD041},
		{"PNP0C02", 0x020CD041},
		{"AAA0000", 0x00002104}, // 'A' = 1 in each 5-bit letter field
		{"ZZZFFFF", 0xFFFF5A6B},
	}
	for _, tc := range tests {
		v, err := tc.id.Value()
		if err != nil || v != tc.want {
			t.Errorf("EISAID(%q).Value() = %#08x, %v; want %#08x", tc.id, v, err, tc.want)
		}
		b, err := tc.id.AppendAML(nil)
		want, _ := Integer(tc.want).AppendAML(nil)
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("EISAID(%q).AppendAML = % x, %v; want % x", tc.id, b, err, want)
		}
	}
	for _, bad := range []EISAID{"", "PNP0A0", "PNP0A080", "pnp0A08", "PNP0a08", "P1P0A08", "PNP0G08", "@NP0A08"} {
		if _, err := bad.Value(); err == nil {
			t.Errorf("EISAID(%q).Value() succeeded, want an error", bad)
		}
	}
}

// TestObjectBytes checks small objects against the bytes iasl 20200925
// produces for the same ASL.
func TestObjectBytes(t *testing.T) {
	tests := []struct {
		name string
		obj  Object
		want []byte
	}{
		{"Name(_S5, Package(){5})", Name{Path: "_S5", Value: Package{Integer(5)}},
			[]byte{0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x01, 0x0A, 0x05}},
		{"Name(_HID, \"ACPI0007\")", Name{Path: "_HID", Value: String("ACPI0007")},
			append([]byte{0x08, '_', 'H', 'I', 'D', 0x0D}, "ACPI0007\x00"...)},
		{"Name(_UID, Zero)", Name{Path: "_UID", Value: Integer(0)}, []byte{0x08, '_', 'U', 'I', 'D', 0x00}},
		{"Device(C000){}", Device{Path: "C000"}, []byte{0x5B, 0x82, 0x05, 'C', '0', '0', '0'}},
		{"Scope(_SB){}", Scope{Path: "_SB"}, []byte{0x10, 0x05, '_', 'S', 'B', '_'}},
		{"Method(_OSC,4){Return(Arg3)}", Method{Path: "_OSC", Args: 4, Body: []Object{Return{Value: Arg(3)}}},
			[]byte{0x14, 0x08, '_', 'O', 'S', 'C', 0x04, 0xA4, 0x6B}},
		{"Method(M,1,Serialized){Return(One)}", Method{Path: "M", Args: 1, Serialized: true, Body: []Object{Return{Value: Integer(1)}}},
			[]byte{0x14, 0x08, 'M', '_', '_', '_', 0x09, 0xA4, 0x01}},
		{"Package(){\\_SB.PCI0}", Package{Path("\\_SB.PCI0")}, []byte{0x12, 0x0C, 0x01, '\\', 0x2E, '_', 'S', 'B', '_', 'P', 'C', 'I', '0'}},
		{"Buffer(){1,2}", Buffer{1, 2}, []byte{0x11, 0x05, 0x0A, 0x02, 0x01, 0x02}},
		{"Buffer(){}", Buffer{}, []byte{0x11, 0x02, 0x00}},
		{"Name(A, EisaId(\"AAA0000\"))", Name{Path: "A", Value: EISAID("AAA0000")}, []byte{0x08, 'A', '_', '_', '_', 0x0B, 0x04, 0x21}},
		{"COM1 _CRS", ResourceTemplate{IO{Decode16: true, Min: 0x3F8, Max: 0x3F8, Align: 1, Length: 8}, IRQNoFlags{4}},
			[]byte{0x11, 0x10, 0x0A, 0x0D, 0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00}},
		{"Memory32Fixed", ResourceTemplate{Memory32Fixed{ReadWrite: true, Base: 0xE0000000, Length: 0x10000000}},
			[]byte{0x11, 0x11, 0x0A, 0x0E, 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xE0, 0x00, 0x00, 0x00, 0x10, 0x79, 0x00}},
	}
	for _, tc := range tests {
		got, err := tc.obj.AppendAML(nil)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s:\n got % x (err %v)\nwant % x", tc.name, got, err, tc.want)
		}
	}
}

// TestAddressSpaceBytes checks the address-space descriptors against iasl's
// encoding of WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode,
// 0, 0, 0xFF, 0, 0x100), WordIO(..., EntireRange, 0, 0x1000, 0xFFFF, 0,
// 0xF000), DWordMemory(..., NonCacheable, ReadWrite, 0, 0xC0000000,
// 0xDFFFFFFF, 0, 0x20000000) and the QWordMemory equivalent.
func TestAddressSpaceBytes(t *testing.T) {
	tests := []struct {
		name string
		r    Resource
		want []byte
	}{
		{"WordBusNumber", WordBusNumber(0, 0xFF), []byte{0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0, 0, 0, 0, 0xFF, 0, 0, 0, 0x00, 0x01}},
		{"WordIO", WordIO(0x1000, 0xFFFF), []byte{0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0, 0, 0x00, 0x10, 0xFF, 0xFF, 0, 0, 0x00, 0xF0}},
		{"DWordMemory", DWordMemory(0xC0000000, 0xDFFFFFFF), []byte{0x87, 0x17, 0x00, 0x00, 0x0C, 0x01,
			0, 0, 0, 0, 0x00, 0x00, 0x00, 0xC0, 0xFF, 0xFF, 0xFF, 0xDF, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0x20}},
		{"QWordMemory", QWordMemory(0x10000000000, 0x1FFFFFFFFFF), []byte{0x8A, 0x2B, 0x00, 0x00, 0x0C, 0x01,
			0, 0, 0, 0, 0, 0, 0, 0,
			0, 0, 0, 0, 0, 0x01, 0, 0,
			0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0, 0,
			0, 0, 0, 0, 0, 0, 0, 0,
			0, 0, 0, 0, 0, 0x01, 0, 0}},
		{"consumer, subtractive", AddressSpace{Width: Word, Type: IORange, SubtractiveDecode: true, Min: 1, Max: 2},
			[]byte{0x88, 0x0D, 0x00, 0x01, 0x03, 0x00, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0}},
	}
	for _, tc := range tests {
		got, err := tc.r.AppendResource(nil)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("%s:\n got % x (err %v)\nwant % x", tc.name, got, err, tc.want)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		obj  Object
		want string // substring of the error
	}{
		{"bad name", Name{Path: "bad", Value: Integer(0)}, `"bad"`},
		{"nil value", Name{Path: "_UID"}, "no value"},
		{"bad string", String("caf\xe9"), "0xe9"},
		{"NUL in string", String("a\x00b"), "0x00"},
		{"bad EISA ID", Name{Path: "_HID", Value: EISAID("PNP0A0")}, "PNP0A0"},
		{"too many elements", make(Package, 256), "256 elements"},
		{"nil element", Package{nil}, "nil"},
		{"bad arg", Return{Value: Arg(7)}, "Arg7"},
		{"return nothing", Return{}, "no value"},
		{"method args", Method{Path: "M", Args: 8}, "8 arguments"},
		{"nested error", Scope{Path: "_SB", Body: []Object{Device{Path: "D", Body: []Object{Name{Path: "x", Value: Integer(1)}}}}}, `"x"`},
		{"irq 16", ResourceTemplate{IRQNoFlags{16}}, "IRQ 16"},
		{"io min>max", ResourceTemplate{IO{Min: 2, Max: 1}}, "above maximum"},
		{"mem32 wrap", ResourceTemplate{Memory32Fixed{Base: 0xFFFFF000, Length: 0x2000}}, "wraps"},
		{"word overflow", ResourceTemplate{AddressSpace{Width: Word, Max: 0x10000}}, "does not fit 16 bits"},
		{"dword overflow", ResourceTemplate{AddressSpace{Width: DWord, Length: 1 << 32}}, "does not fit 32 bits"},
		{"bad width", ResourceTemplate{AddressSpace{Width: 8}}, "width 8"},
		{"addr min>max", ResourceTemplate{AddressSpace{Width: QWord, Min: 5, Max: 4}}, "above maximum"},
		{"addr length", ResourceTemplate{AddressSpace{Width: QWord, Min: 0, Max: 9, Length: 11}}, "length 0xb"},
		{"nil resource", ResourceTemplate{nil}, "nil"},
	}
	for _, tc := range tests {
		_, err := Encode(tc.obj)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := Encode(nil); err == nil {
		t.Error("Encode(nil) succeeded, want an error")
	}
}

// TestEncodeLargeQWordRange checks the descriptor for a window that ends at
// 2^64-1, where Max-Min+1 wraps to 0.
func TestEncodeLargeQWordRange(t *testing.T) {
	a := AddressSpace{Width: QWord, Type: MemoryRange, Min: 0, Max: 1<<64 - 1}
	if _, err := a.AppendResource(nil); err != nil {
		t.Errorf("full 64-bit range without length: %v", err)
	}
	a.Length = 1<<64 - 1
	if _, err := a.AppendResource(nil); err != nil {
		t.Errorf("full 64-bit range, length 2^64-1: %v", err)
	}
}
