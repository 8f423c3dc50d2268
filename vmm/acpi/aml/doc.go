// Package aml is a minimal encoder for ACPI Machine Language (AML), the byte
// code of the DSDT and SSDTs (ACPI 6.5 §20, "ACPI Machine Language
// Specification"). It covers what a virtual machine's static namespace
// needs and nothing that executes: named objects (Name, Scope, Device), data
// (Integer, String, EISAID, Package, Buffer, name references), one-statement
// methods (Method, Return, Arg) and resource templates (ACPI 6.5 §6.4,
// "Resource Data Types for ACPI") with the descriptors a PC platform uses:
// IO, IRQNoFlags, Memory32Fixed and the Word/DWord/QWord address-space
// descriptors (WordBusNumber, WordIO, DWordMemory, QWordMemory).
//
// # Using it
//
// Build a tree of Objects and encode it:
//
//	body, err := aml.Encode(
//		aml.Scope{Path: "_SB_", Body: []aml.Object{
//			aml.Device{Path: "COM1", Body: []aml.Object{
//				aml.Name{Path: "_HID", Value: aml.EISAID("PNP0501")},
//				aml.Name{Path: "_CRS", Value: aml.ResourceTemplate{
//					aml.IO{Decode16: true, Min: 0x3F8, Max: 0x3F8, Align: 1, Length: 8},
//					aml.IRQNoFlags{4},
//				}},
//			}},
//		}},
//	)
//
// body is a TermList: the bytes that follow the 36-byte table header of a
// DSDT. The encoding is the one iasl produces for the equivalent ASL (ZeroOp
// and OneOp for 0 and 1, the shortest integer prefix, the shortest PkgLength),
// so a table disassembled with "iasl -d" and compiled again comes back byte
// for byte.
//
// # Errors
//
// Nothing here panics on bad input. Encode and every AppendAML method return
// an error naming the offending value: a name segment that is not 1-4 of
// [A-Z0-9_] starting with a letter or underscore, a string with a byte outside
// 0x01-0x7F, an EISA ID that is not three letters and four hex digits, a
// package of more than 255 elements, an IRQ above 15, an address-space
// descriptor whose values do not fit its width or whose minimum exceeds its
// maximum, or an object larger than a PkgLength can describe (2^28-1 bytes).
package aml

import "fmt"

// Object is one AML term: a named object, a data object or a statement.
// AppendAML appends its encoding to dst and returns the extended slice; on
// error the returned slice is unspecified and must not be used.
type Object interface {
	AppendAML(dst []byte) ([]byte, error)
}

// Encode returns the encoding of objs, one after the other: an AML TermList
// (ACPI 6.5 §20.2.1) ready to follow a definition-block header.
func Encode(objs ...Object) ([]byte, error) {
	return appendTermList(nil, objs)
}

func appendTermList(dst []byte, objs []Object) ([]byte, error) {
	var err error
	for i, o := range objs {
		if o == nil {
			return dst, fmt.Errorf("aml: term %d is nil", i)
		}
		if dst, err = o.AppendAML(dst); err != nil {
			return dst, err
		}
	}
	return dst, nil
}
