package aml_test

import (
	"fmt"

	"github.com/govmm/govmm/vmm/acpi/aml"
)

// ExampleEncode encodes the description of a 16550 UART, as it would sit in
// a DSDT under \_SB.
func ExampleEncode() {
	b, err := aml.Encode(aml.Device{Path: "COM1", Body: []aml.Object{
		aml.Name{Path: "_HID", Value: aml.EISAID("PNP0501")},
		aml.Name{Path: "_UID", Value: aml.Integer(1)},
		aml.Name{Path: "_CRS", Value: aml.ResourceTemplate{
			aml.IO{Decode16: true, Min: 0x3F8, Max: 0x3F8, Align: 1, Length: 8},
			aml.IRQNoFlags{4},
		}},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("% x\n", b)
	// Output:
	// 5b 82 2b 43 4f 4d 31 08 5f 48 49 44 0c 41 d0 05 01 08 5f 55 49 44 01 08 5f 43 52 53 11 10 0a 0d 47 01 f8 03 f8 03 01 08 22 10 00 79 00
}
