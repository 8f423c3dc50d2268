package vmm

// Ports through which the guest powers off or resets the machine.
const (
	// resetControlPort is the PC's Reset Control Register (also the FADT
	// RESET_REG): writing a value with RST_CPU (bit 2) set resets the system.
	// It shares ports with the PCI configuration address register; the
	// PCI ConfigIO handler passes byte writes at 0xCF9 to it.
	resetCPU = 1 << 2
	// i8042CommandPort: command 0xFE pulses the CPU reset line.
	i8042CommandPort = 0x64
	i8042Reset       = 0xFE
)

// i8042Port is the command/status port of an absent keyboard controller that
// still honours the reset command, the last-resort reboot path of Linux.
type i8042Port struct{ vm *VM }

func (p i8042Port) Read(_ uint64, d []byte) {
	for i := range d {
		d[i] = 0xFF
	}
}
func (p i8042Port) Write(_ uint64, d []byte) {
	if len(d) > 0 && d[0] == i8042Reset {
		p.vm.stop(ExitReset, nil)
	}
}
