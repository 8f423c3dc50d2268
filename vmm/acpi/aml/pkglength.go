package aml

import "fmt"

// MaxPkgLength is the largest value a PkgLength can encode (ACPI 6.5
// §20.2.4): 28 bits, in four bytes.
const MaxPkgLength = 1<<28 - 1 // bytes

// AppendPkgLength appends the PkgLength (ACPI 6.5 §20.2.4, "Package Length
// Encoding") of an object whose contents after the PkgLength are n bytes
// long. The encoded value counts the PkgLength bytes themselves, so the
// encoding is chosen for n+1, n+2, n+3 or n+4 total bytes: one byte holds up
// to 63 (bits 5:0), two bytes up to 4095, three up to 2^20-1 and four up to
// 2^28-1; the lead byte's bits 7:6 give the number of bytes that follow and
// its bits 3:0 the low nibble. The shortest form that fits is used, as iasl
// does. It fails when n is negative or the total exceeds MaxPkgLength.
func AppendPkgLength(dst []byte, n int) ([]byte, error) {
	switch {
	case n < 0:
		return dst, fmt.Errorf("aml: negative package length %d", n)
	case n+1 <= 0x3F:
		return append(dst, byte(n+1)), nil
	case n+2 <= 0xFFF:
		t := n + 2
		return append(dst, 0x40|byte(t&0xF), byte(t>>4)), nil
	case n+3 <= 0xFFFFF:
		t := n + 3
		return append(dst, 0x80|byte(t&0xF), byte(t>>4), byte(t>>12)), nil
	case n+4 <= MaxPkgLength:
		t := n + 4
		return append(dst, 0xC0|byte(t&0xF), byte(t>>4), byte(t>>12), byte(t>>20)), nil
	}
	return dst, fmt.Errorf("aml: package of %d bytes exceeds the PkgLength limit of %d", n, MaxPkgLength)
}

// appendPackage appends op, the PkgLength of body, and body.
func appendPackage(dst []byte, op []byte, body []byte) ([]byte, error) {
	dst = append(dst, op...)
	dst, err := AppendPkgLength(dst, len(body))
	if err != nil {
		return dst, err
	}
	return append(dst, body...), nil
}
