package vmm

import (
	"github.com/bobuhiro11/gokvm/kvm"
	"github.com/govmm/govmm/devices/irq"
)

// gsiLine is an interrupt line wired to a GSI of the in-kernel IOAPIC (and,
// below 16, the PIC), driven with KVM_IRQ_LINE_STATUS.
type gsiLine struct {
	vmFd uintptr
	gsi  uint32
}

// SetLevel drives the line.
func (l gsiLine) SetLevel(high bool) error {
	var v uint32
	if high {
		v = 1
	}
	return kvm.IRQLineStatus(l.vmFd, l.gsi, v)
}

// msiSender delivers MSIs with KVM_SIGNAL_MSI.
type msiSender struct {
	vmFd uintptr
}

// SendMSI injects m.
func (s msiSender) SendMSI(m irq.MSI) error {
	return signalMSI(s.vmFd, m.Addr, m.Data, m.DevID, false)
}

var (
	_ irq.Line      = gsiLine{}
	_ irq.MSISender = msiSender{}
)
