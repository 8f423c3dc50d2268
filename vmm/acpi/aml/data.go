package aml

import "fmt"

// Data-object opcodes (ACPI 6.5 §20.2.3, "Data Objects Encoding").
const (
	zeroOp       = 0x00
	oneOp        = 0x01
	onesOp       = 0xFF
	bytePrefix   = 0x0A
	wordPrefix   = 0x0B
	dwordPrefix  = 0x0C
	stringPrefix = 0x0D
	qwordPrefix  = 0x0E
)

// Integer is an AML integer constant (ACPI 6.5 §20.2.3 ComputationalData).
// It encodes as ZeroOp (0), OneOp (1), OnesOp (2^64-1, meaningful only in a
// revision-2 definition block) or the shortest of BytePrefix, WordPrefix,
// DWordPrefix and QWordPrefix followed by the little-endian value, which is
// what iasl emits for the same ASL constant.
type Integer uint64

// AppendAML appends the encoding of i. It never fails.
func (i Integer) AppendAML(dst []byte) ([]byte, error) {
	v := uint64(i)
	switch {
	case v == 0:
		return append(dst, zeroOp), nil
	case v == 1:
		return append(dst, oneOp), nil
	case v == 1<<64-1:
		return append(dst, onesOp), nil
	case v <= 0xFF:
		return append(dst, bytePrefix, byte(v)), nil
	case v <= 0xFFFF:
		return append(dst, wordPrefix, byte(v), byte(v>>8)), nil
	case v <= 0xFFFFFFFF:
		return append(dst, dwordPrefix, byte(v), byte(v>>8), byte(v>>16), byte(v>>24)), nil
	}
	dst = append(dst, qwordPrefix)
	for s := 0; s < 64; s += 8 {
		dst = append(dst, byte(v>>s))
	}
	return dst, nil
}

// String is an AML string constant (ACPI 6.5 §20.2.3): StringPrefix, the
// ASCII characters, and a NUL. Every byte must be in 0x01-0x7F.
type String string

// AppendAML appends the encoding of s, or fails on a byte outside 0x01-0x7F.
func (s String) AppendAML(dst []byte) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 || s[i] > 0x7F {
			return dst, fmt.Errorf("aml: string %q: byte %#02x at %d is not ASCII 0x01-0x7F", string(s), s[i], i)
		}
	}
	dst = append(dst, stringPrefix)
	dst = append(dst, s...)
	return append(dst, 0), nil
}

// EISAID is a PNP or EISA device ID such as "PNP0A08", written as ASL's
// EisaId() macro writes it: three upper-case letters and four upper-case hex
// digits, compressed into a 32-bit integer (ACPI 6.5 §6.1.5, "_HID (Hardware
// ID)": letters as 5-bit values with 'A' = 1, then the 16-bit product number,
// stored byte-swapped).
type EISAID string

// Value returns the compressed 32-bit form of id, or an error if id is not
// three letters A-Z followed by four hex digits 0-9, A-F.
func (id EISAID) Value() (uint32, error) {
	s := string(id)
	if len(s) != 7 {
		return 0, fmt.Errorf("aml: EISA ID %q must be 7 characters (3 letters, 4 hex digits)", s)
	}
	var v uint32
	for i := 0; i < 3; i++ {
		c := s[i]
		if c < 'A' || c > 'Z' {
			return 0, fmt.Errorf("aml: EISA ID %q: %q is not an upper-case letter", s, c)
		}
		v = v<<5 | uint32(c-'@')
	}
	for i := 3; i < 7; i++ {
		c := s[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, fmt.Errorf("aml: EISA ID %q: %q is not an upper-case hex digit", s, c)
		}
		v = v<<4 | uint32(d)
	}
	// v is now 0b0 LLLLL LLLLL LLLLL HHHH HHHH HHHH HHHH (31 bits); the
	// on-wire DWORD is that value with its bytes in big-endian order.
	return v>>24 | (v>>8)&0xFF00 | (v<<8)&0xFF0000 | v<<24, nil
}

// AppendAML appends the compressed ID as an Integer (normally a
// DWordPrefix constant; a value below 0x10000 takes the shorter form, as
// iasl encodes EisaId()).
func (id EISAID) AppendAML(dst []byte) ([]byte, error) {
	v, err := id.Value()
	if err != nil {
		return dst, err
	}
	return Integer(v).AppendAML(dst)
}
