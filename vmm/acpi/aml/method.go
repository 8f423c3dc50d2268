package aml

import "fmt"

// Statement opcodes (ACPI 6.5 §20.2.5.2, §20.2.5.3, §20.2.6.1).
const (
	methodOp = 0x14
	returnOp = 0xA4
	arg0Op   = 0x68
)

// Method declares a control method (ASL Method, ACPI 6.5 §19.6, DefMethod in
// §20.2.5.2): MethodOp, PkgLength, the NameString of Path, the MethodFlags
// byte (bits 2:0 the argument count Args, 0-7; bit 3 Serialized; sync level
// 0) and the TermList of Body. The package offers only the statements a
// static platform description needs (Return of a constant or an argument).
type Method struct {
	Path       string   // the method's name path, e.g. "_OSC"
	Args       int      // number of arguments, 0-7
	Serialized bool     // whether the OS must serialize calls
	Body       []Object // the statements
}

// AppendAML appends the encoding of m, or fails on a bad path, an argument
// count outside 0-7 or a bad body.
func (m Method) AppendAML(dst []byte) ([]byte, error) {
	if m.Args < 0 || m.Args > 7 {
		return dst, fmt.Errorf("aml: method %q has %d arguments, want 0-7", m.Path, m.Args)
	}
	flags := byte(m.Args)
	if m.Serialized {
		flags |= 1 << 3
	}
	return appendNamedBlock(dst, []byte{methodOp}, m.Path, []byte{flags}, m.Body)
}

// Return is the Return statement (ASL Return, ACPI 6.5 §19.6, DefReturn in
// §20.2.5.3): ReturnOp and the value.
type Return struct {
	Value Object // what the method returns
}

// AppendAML appends the encoding of r, or fails if it has no value.
func (r Return) AppendAML(dst []byte) ([]byte, error) {
	if r.Value == nil {
		return dst, errorf("aml: Return has no value")
	}
	return r.Value.AppendAML(append(dst, returnOp))
}

// Arg is a method argument reference Arg0-Arg6 (ACPI 6.5 §20.2.6.1,
// "Arg Objects Encoding"): opcodes 0x68-0x6E.
type Arg int

// AppendAML appends the ArgN opcode, or fails if the index is outside 0-6.
func (a Arg) AppendAML(dst []byte) ([]byte, error) {
	if a < 0 || a > 6 {
		return dst, fmt.Errorf("aml: Arg%d is out of range, want Arg0-Arg6", int(a))
	}
	return append(dst, arg0Op+byte(a)), nil
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
