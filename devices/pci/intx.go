package pci

import (
	"fmt"
	"sync"

	"github.com/govmm/govmm/devices/irq"
)

// INTx is a function's legacy level-triggered interrupt (INTA#–INTD#, PCI
// Local Bus Specification 3.0 §2.2.6, §6.2.2–6.2.3). The device sets the
// level it requests; INTx reflects it in Status.InterruptStatus and drives
// the line (the IOAPIC input the VMM routed the function's pin to) only
// while Command.INTxDisable is clear, following guest changes of that bit.
// An INTx is safe for concurrent use.
type INTx struct {
	cs   *ConfigSpace
	line irq.Line

	mu       sync.Mutex
	level    bool // requested by the device
	asserted bool // what the line was last set to
}

// NewINTx returns the INTx of cs, driving line. It fails if the header's
// Interrupt Pin is 0 (the function has no INTx) or line is nil.
func NewINTx(cs *ConfigSpace, line irq.Line) (*INTx, error) {
	if cs.Uint8(RegInterruptPin) == 0 {
		return nil, fmt.Errorf("pci: function has no interrupt pin")
	}
	if line == nil {
		return nil, fmt.Errorf("pci: INTx needs an irq.Line")
	}
	x := &INTx{cs: cs, line: line}
	cs.OnWrite(RegCommand, 2, func(int, int) {
		x.mu.Lock()
		defer x.mu.Unlock()
		_ = x.sync()
	})
	return x, nil
}

// SetLevel requests (high) or withdraws the interrupt. It returns the
// line's error, if setting it failed.
func (x *INTx) SetLevel(high bool) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.level = high
	x.cs.update16(RegStatus, func(s uint16) uint16 {
		if high {
			return s | StatusInterrupt
		}
		return s &^ StatusInterrupt
	})
	return x.sync()
}

// Asserted reports whether the line is currently driven high.
func (x *INTx) Asserted() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.asserted
}

// sync drives the line to level && !INTxDisable; x.mu held.
func (x *INTx) sync() error {
	want := x.level && x.cs.Command()&CmdINTxDisable == 0
	if want == x.asserted {
		return nil
	}
	if err := x.line.SetLevel(want); err != nil {
		return err
	}
	x.asserted = want
	return nil
}
