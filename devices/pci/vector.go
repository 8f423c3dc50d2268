package pci

import (
	"errors"

	"github.com/govmm/govmm/devices/irq"
)

// ErrDisabled is returned by MSI.Trigger and MSIX.Trigger when the guest
// has not enabled the capability (or, for MSI, has not enabled that many
// vectors): the device should fall back to INTx if it has one.
var ErrDisabled = errors.New("pci: message-signalled interrupts are disabled")

// ErrBusMaster is returned by MSI.Trigger and MSIX.Trigger when an unmasked
// vector fires while Command.BusMaster is clear: an MSI is a memory write,
// which a function may not issue then (PCI Local Bus Specification 3.0
// §6.2.2), so the message is dropped.
var ErrBusMaster = errors.New("pci: bus mastering is disabled; message dropped")

// VectorHook is told, for one vector of an MSI or MSI-X capability, the
// message it delivers and whether it is masked, each time either changes.
// masked is the effective state: the capability is disabled, the vector
// is not allocated or its mask bit is set, or (MSI-X) the function is
// masked. A VMM uses it to keep KVM irqfd/GSI routes in sync with what the
// guest programmed. It runs with the capability's lock held and must not
// call back into the capability.
type VectorHook func(vector int, msg irq.MSI, masked bool)

// vectorState is what a VectorHook was last told about one vector.
type vectorState struct {
	msg    irq.MSI
	masked bool
	known  bool
}

// reportChanges calls hook for every vector in [lo, hi) whose state, as
// computed by state, differs from what was last reported.
func reportChanges(hook VectorHook, last []vectorState, lo, hi int, state func(v int) (irq.MSI, bool)) {
	if hook == nil {
		return
	}
	for v := lo; v < hi; v++ {
		msg, masked := state(v)
		if l := &last[v]; !l.known || l.msg != msg || l.masked != masked {
			*l = vectorState{msg: msg, masked: masked, known: true}
			hook(v, msg, masked)
		}
	}
}
