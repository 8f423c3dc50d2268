package aml

// Named-object opcodes (ACPI 6.5 §20.2.5.1, §20.2.5.2).
const (
	nameOp   = 0x08
	scopeOp  = 0x10
	extOp    = 0x5B
	deviceOp = 0x82 // after extOp
)

// Name declares a named data object (ASL Name, ACPI 6.5 §19.6, DefName in
// §20.2.5.1): NameOp, the NameString of Path, and Value.
type Name struct {
	Path  string // the object's name path, e.g. "_HID"
	Value Object // its data
}

// AppendAML appends the encoding of n, or fails on a bad path or value.
func (n Name) AppendAML(dst []byte) ([]byte, error) {
	dst = append(dst, nameOp)
	dst, err := AppendNameString(dst, n.Path)
	if err != nil {
		return dst, err
	}
	if n.Value == nil {
		return dst, errorf("aml: Name %q has no value", n.Path)
	}
	return n.Value.AppendAML(dst)
}

// Scope opens an existing namespace scope and declares Body in it (ASL
// Scope, ACPI 6.5 §19.6, DefScope in §20.2.5.1): ScopeOp, PkgLength, the
// NameString of Path and the TermList of Body.
type Scope struct {
	Path string   // the scope opened, e.g. "_SB"
	Body []Object // objects declared in it
}

// AppendAML appends the encoding of s, or fails on a bad path or body.
func (s Scope) AppendAML(dst []byte) ([]byte, error) {
	return appendNamedBlock(dst, []byte{scopeOp}, s.Path, nil, s.Body)
}

// Device declares a device object and its children (ASL Device, ACPI 6.5
// §19.6, DefDevice in §20.2.5.2): ExtOpPrefix DeviceOp, PkgLength, the
// NameString of Path and the TermList of Body.
type Device struct {
	Path string   // the device's name path, e.g. "PCI0"
	Body []Object // its child objects (_HID, _CRS, ...)
}

// AppendAML appends the encoding of d, or fails on a bad path or body.
func (d Device) AppendAML(dst []byte) ([]byte, error) {
	return appendNamedBlock(dst, []byte{extOp, deviceOp}, d.Path, nil, d.Body)
}

// appendNamedBlock appends op PkgLength NameString extra TermList.
func appendNamedBlock(dst, op []byte, path string, extra []byte, body []Object) ([]byte, error) {
	inner, err := AppendNameString(nil, path)
	if err != nil {
		return dst, err
	}
	inner = append(inner, extra...)
	if inner, err = appendTermList(inner, body); err != nil {
		return dst, err
	}
	return appendPackage(dst, op, inner)
}
