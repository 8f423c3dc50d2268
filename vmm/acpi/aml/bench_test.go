package aml

import (
	"fmt"
	"testing"
)

// BenchmarkEncodeNamespace encodes a DSDT-sized namespace: 64 processor
// devices and a host bridge with a full _CRS.
func BenchmarkEncodeNamespace(b *testing.B) {
	var body []Object
	for i := 0; i < 64; i++ {
		body = append(body, Device{Path: fmt.Sprintf("C%03X", i), Body: []Object{
			Name{Path: "_HID", Value: String("ACPI0007")},
			Name{Path: "_UID", Value: Integer(i)},
		}})
	}
	body = append(body, Device{Path: "PCI0", Body: []Object{
		Name{Path: "_HID", Value: EISAID("PNP0A08")},
		Name{Path: "_CRS", Value: ResourceTemplate{
			WordBusNumber(0, 255),
			IO{Decode16: true, Min: 0xCF8, Max: 0xCF8, Align: 1, Length: 8},
			WordIO(0xC000, 0xFFFF),
			DWordMemory(0xC0000000, 0xDFFFFFFF),
			QWordMemory(1<<36, 1<<37-1),
		}},
	}})
	ns := Scope{Path: "_SB", Body: body}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(ns); err != nil {
			b.Fatal(err)
		}
	}
}
