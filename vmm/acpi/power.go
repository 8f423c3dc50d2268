package acpi

// Power-off and reset registers the FADT advertises. The VMM emulates them
// as byte-wide port-I/O registers.
//
// The FADT is hardware-reduced (HW_REDUCED_ACPI, ACPI 6.5 §4.1): there is no
// PM1 block, PM timer, GPE block or SCI. Linux enters S5 ("poweroff") by
// writing WakeStatus (0x80) to SLEEP_STATUS_REG, then
// S5SleepType<<SleepTypeShift | SleepEnable (0x34) to SLEEP_CONTROL_REG
// (ACPI 6.5 §4.8.3.7, "Sleep Control and Status Registers"); the VMM ends
// the VM on that write (see IsS5Request).
//
// Resetting is the RESET_REG at ResetPort (ACPI 6.5 §4.8.3.6, "Reset
// Register"): a one-byte write of ResetValue, which the VMM treats as a
// reset request whenever bit 2 (RST_CPU) is set. Linux on x86 reaches it
// only with "reboot=acpi" on its command line, though: on a hardware-reduced
// platform it makes EFI its first reboot method (efi_reboot_required() in
// arch/x86/platform/efi/quirks.c), and without EFI falls through to a
// real-mode jump to the BIOS reset vector F000:FFF0, never trying the ACPI
// register or the keyboard controller. A VMM without firmware therefore
// copies ResetVectorCode to ResetVectorAddr: the code writes ResetValue to
// ResetPort and halts, so the default "reboot" also ends at the reset
// register.
const (
	// SleepControlPort is the port of SLEEP_CONTROL_REG: SLP_TYP in bits
	// 4:2 and SLP_EN in bit 5, write-only.
	SleepControlPort = 0x3C0
	// SleepStatusPort is the port of SLEEP_STATUS_REG: WAK_STS in bit 7,
	// write 1 to clear. Reads may return 0; nothing resumes a powered-off
	// guest.
	SleepStatusPort = 0x3C1
	// SleepTypeShift is the position of SLP_TYP in SLEEP_CONTROL_REG.
	SleepTypeShift = 2
	// SleepTypeMask selects SLP_TYP (bits 4:2) in SLEEP_CONTROL_REG.
	SleepTypeMask = 0x7 << SleepTypeShift
	// SleepEnable is SLP_EN, bit 5 of SLEEP_CONTROL_REG.
	SleepEnable = 1 << 5
	// WakeStatus is WAK_STS, bit 7 of SLEEP_STATUS_REG.
	WakeStatus = 1 << 7
	// S5SleepType is the SLP_TYP value of the \_S5 object in the DSDT.
	S5SleepType = 5

	// ResetPort is the FADT RESET_REG, the PC's Reset Control Register
	// inside the PCI configuration ports 0xCF8-0xCFF: a one-byte write.
	ResetPort = 0xCF9
	// ResetValue is the FADT RESET_VALUE: SYS_RST (bit 1) | RST_CPU (bit 2).
	ResetValue = 0x06

	// ResetVectorAddr is the guest-physical address of the x86 reset vector
	// F000:FFF0, where ResetVectorCode goes.
	ResetVectorAddr = 0xFFFF0
)

// IsS5Request reports whether v, a byte the guest wrote to
// SLEEP_CONTROL_REG, asks to enter S5 (soft off): SLP_EN set and SLP_TYP
// equal to S5SleepType. Other bits are ignored. Every byte value is valid
// input.
func IsS5Request(v uint8) bool {
	return v&SleepEnable != 0 && (v&SleepTypeMask)>>SleepTypeShift == S5SleepType
}

// ResetVectorCode returns the 9 bytes of 16-bit real-mode code a firmware-
// less VMM places at ResetVectorAddr (see the comment on the constants):
//
//	mov dx, ResetPort   ; BA F9 0C
//	mov al, ResetValue  ; B0 06
//	out dx, al          ; EE
//	hlt                 ; F4
//	jmp short -3        ; EB FD   (back to hlt)
//
// It returns a new slice on every call.
func ResetVectorCode() []byte {
	return []byte{0xBA, ResetPort & 0xFF, ResetPort >> 8, 0xB0, ResetValue, 0xEE, 0xF4, 0xEB, 0xFD}
}
