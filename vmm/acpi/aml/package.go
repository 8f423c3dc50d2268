package aml

import "fmt"

const (
	bufferOp  = 0x11
	packageOp = 0x12
)

// Package is a fixed-size AML package (ASL Package, ACPI 6.5 §19.6, encoded
// as DefPackage in §20.2.5.4): PackageOp, PkgLength, a one-byte element
// count and the elements. It holds at most 255 elements; each element is a
// data object (Integer, String, EISAID, Buffer, Package) or a Path.
type Package []Object

// AppendAML appends the encoding of p, or fails if p has more than 255
// elements or an element fails to encode.
func (p Package) AppendAML(dst []byte) ([]byte, error) {
	if len(p) > 255 {
		return dst, fmt.Errorf("aml: package of %d elements exceeds 255 (VarPackage is not supported)", len(p))
	}
	body := []byte{byte(len(p))}
	body, err := appendTermList(body, p)
	if err != nil {
		return dst, err
	}
	return appendPackage(dst, []byte{packageOp}, body)
}

// Buffer is an AML buffer constant (ASL Buffer, ACPI 6.5 §19.6, encoded as
// DefBuffer in §20.2.5.4): BufferOp, PkgLength, the size as an Integer and
// the bytes.
type Buffer []byte

// AppendAML appends the encoding of b, or fails if it is too large for a
// PkgLength.
func (b Buffer) AppendAML(dst []byte) ([]byte, error) {
	body, _ := Integer(len(b)).AppendAML(nil)
	body = append(body, b...)
	return appendPackage(dst, []byte{bufferOp}, body)
}
