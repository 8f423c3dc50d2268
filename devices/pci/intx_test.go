package pci

import (
	"errors"
	"slices"
	"testing"
)

type recLine struct {
	levels []bool
	err    error
}

func (l *recLine) SetLevel(high bool) error {
	if l.err != nil {
		return l.err
	}
	l.levels = append(l.levels, high)
	return nil
}

func TestINTx(t *testing.T) {
	r := newRig(t, 0, 0)
	d := newTestDev(t, r.sender)
	b := BDF{Device: 5}
	if err := r.seg.Add(b, d); err != nil {
		t.Fatal(err)
	}
	line := &recLine{}
	x, err := NewINTx(d.ConfigSpace, line)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name     string
		do       func() error
		edges    []bool // line changes caused
		asserted bool
		status   bool // Status.InterruptStatus as the guest reads it
	}{
		{"raise", func() error { return x.SetLevel(true) }, []bool{true}, true, true},
		{"raise again", func() error { return x.SetLevel(true) }, nil, true, true},
		{"guest disables INTx", func() error { r.write(b, RegCommand, 2, CmdINTxDisable); return nil }, []bool{false}, false, true},
		{"lower while disabled", func() error { return x.SetLevel(false) }, nil, false, false},
		{"raise while disabled", func() error { return x.SetLevel(true) }, nil, false, true},
		{"guest enables INTx", func() error { r.write(b, RegCommand, 2, 0); return nil }, []bool{true}, true, true},
		{"guest cannot clear the status bit", func() error { r.write(b, RegStatus, 2, 0xffff); return nil }, nil, true, true},
		{"lower", func() error { return x.SetLevel(false) }, []bool{false}, false, false},
	}
	for _, s := range steps {
		line.levels = nil
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !slices.Equal(line.levels, s.edges) {
			t.Errorf("%s: line set to %v, want %v", s.name, line.levels, s.edges)
		}
		if x.Asserted() != s.asserted {
			t.Errorf("%s: Asserted = %v", s.name, x.Asserted())
		}
		if st := r.read(b, RegStatus, 2); (st&StatusInterrupt != 0) != s.status {
			t.Errorf("%s: Status = %#x, want InterruptStatus %v", s.name, st, s.status)
		}
	}
	line.err = errSend
	if err := x.SetLevel(true); !errors.Is(err, errSend) {
		t.Errorf("SetLevel with a failing line = %v", err)
	}
	if x.Asserted() {
		t.Error("asserted although the line refused")
	}
}

func TestNewINTxErrors(t *testing.T) {
	cs, _ := NewConfigSpace(Header{VendorID: 1})
	if _, err := NewINTx(cs, &recLine{}); err == nil {
		t.Error("INTx on a function without an interrupt pin")
	}
	cs, _ = NewConfigSpace(Header{VendorID: 1, InterruptPin: 1})
	if _, err := NewINTx(cs, nil); err == nil {
		t.Error("INTx without a line")
	}
}
