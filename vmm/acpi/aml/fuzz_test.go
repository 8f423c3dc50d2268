package aml

import (
	"bytes"
	"testing"
)

// FuzzPkgLength checks that every body length either fails cleanly or
// encodes to a PkgLength that an independent decoder reads back as the
// object's total length, in the shortest form.
func FuzzPkgLength(f *testing.F) {
	for _, n := range []int{0, 62, 63, 4093, 4094, 1<<20 - 4, 1<<20 - 3, MaxPkgLength - 4, MaxPkgLength - 3, -1} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n int) {
		b, err := AppendPkgLength(nil, n)
		if err != nil {
			if n >= 0 && n <= MaxPkgLength-4 {
				t.Fatalf("AppendPkgLength(%d): %v", n, err)
			}
			return
		}
		total, k, ok := decodePkgLength(b)
		if !ok || k != len(b) || total != n+k {
			t.Fatalf("AppendPkgLength(%d) = % x: decodes to %d in %d bytes", n, b, total, k)
		}
		if k > 1 && n+k-1 <= [...]int{0, 0x3F, 0xFFF, 0xFFFFF}[k-1] {
			t.Fatalf("AppendPkgLength(%d) used %d bytes where %d would do", n, k, k-1)
		}
	})
}

// FuzzObjects builds small namespaces from arbitrary names, strings and IDs.
// Encode must never panic; when it succeeds, every PkgLength must frame its
// object exactly.
func FuzzObjects(f *testing.F) {
	f.Add("_SB.PCI0", "ACPI0007", "PNP0A08", uint64(5), 3, []byte{1, 2, 3})
	f.Add("\\", "", "PNP0501", uint64(0), 0, []byte{})
	f.Add("^^X", "a\x00", "ZZZFFFF", uint64(1<<64-1), 300, []byte{0xFF})
	f.Fuzz(func(t *testing.T, path, str, id string, v uint64, n int, buf []byte) {
		if n < 0 || n > 300 {
			n = 0
		}
		elems := make(Package, n)
		for i := range elems {
			elems[i] = Integer(v + uint64(i))
		}
		dev := Device{Path: path, Body: []Object{
			Name{Path: "_HID", Value: EISAID(id)},
			Name{Path: "_STR", Value: String(str)},
			Name{Path: "PKG", Value: elems},
			Name{Path: "BUF", Value: Buffer(buf)},
			Name{Path: "REF", Value: Path(path)},
			Method{Path: "M", Args: n % 8, Body: []Object{Return{Value: Arg(n % 7)}}},
		}}
		out, err := Encode(Scope{Path: "_SB", Body: []Object{dev}})
		if err != nil {
			return
		}
		// Scope: opcode, PkgLength covering the rest.
		total, _, ok := decodePkgLength(out[1:])
		if out[0] != scopeOp || !ok || total != len(out)-1 {
			t.Fatalf("Scope PkgLength %d for %d bytes", total, len(out)-1)
		}
		// Device: after the scope's name.
		i := bytes.Index(out, []byte{extOp, deviceOp})
		if i < 0 {
			t.Fatal("no device in output")
		}
		total, _, ok = decodePkgLength(out[i+2:])
		if !ok || total != len(out)-i-2 {
			t.Fatalf("Device PkgLength %d, %d bytes follow", total, len(out)-i-2)
		}
	})
}
