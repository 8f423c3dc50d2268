package acpi

import "encoding/binary"

// FADT layout (ACPI 6.5 §5.2.9, "Fixed ACPI Description Table (FADT)"):
// revision 6, minor version 5, 276 bytes.
const (
	fadtRevision     = 6
	fadtMinorVersion = 5
	fadtSize         = 276
)

// FADT Flags (ACPI 6.5 §5.2.9, Table "Fixed ACPI Description Table Fixed
// Feature Flags").
const (
	fadtWBINVD        = 1 << 0
	fadtProcC1        = 1 << 2
	fadtPwrButton     = 1 << 4 // power button is a control-method device (or absent)
	fadtSlpButton     = 1 << 5 // sleep button likewise
	fadtResetRegSup   = 1 << 10
	fadtHWReducedACPI = 1 << 20
)

// IA-PC Boot Architecture Flags (ACPI 6.5 §5.2.9.3).
const (
	iapcLegacyDevices     = 1 << 0
	iapcVGANotPresent     = 1 << 2
	iapcCMOSRTCNotPresent = 1 << 5
)

// Byte offsets of the FADT fields Build fills.
const (
	fadtOffDSDT         = 40
	fadtOffIAPCBootArch = 109
	fadtOffFlags        = 112
	fadtOffResetReg     = 116
	fadtOffResetValue   = 128
	fadtOffMinorVersion = 131
	fadtOffXDSDT        = 140
	fadtOffSleepControl = 244
	fadtOffSleepStatus  = 256
)

// buildFADT returns the FADT of a hardware-reduced platform whose DSDT is
// at dsdt.
//
// Everything that belongs to fixed ACPI hardware is zero: SCI_INT,
// SMI_CMD, the PM1/PM2/PM timer/GPE blocks and their X_ forms, and
// FIRMWARE_CTRL/X_FIRMWARE_CTRL (a hardware-reduced platform need not have
// a FACS). The flags are WBINVD, PROC_C1, PWR_BUTTON and SLP_BUTTON (no
// fixed-feature buttons), RESET_REG_SUP and HW_REDUCED_ACPI. The
// Preferred_PM_Profile is 0 (Unspecified). IAPC_BOOT_ARCH has "VGA Not
// Present", "LEGACY_DEVICES" when a serial port or the RTC is described,
// and "CMOS RTC Not Present" when the RTC is not; the 8042 flag is clear,
// so Linux does not probe a keyboard controller. X_DSDT always holds the
// DSDT address and DSDT holds it too when it is below 4 GiB (equal values,
// as ACPICA expects).
func buildFADT(cfg *Config, dsdt uint64) []byte {
	t := newTable("FACP", fadtRevision, fadtSize)
	t = t[:fadtSize]
	le := binary.LittleEndian
	if dsdt < 1<<32 {
		le.PutUint32(t[fadtOffDSDT:], uint32(dsdt))
	}
	var boot uint16 = iapcVGANotPresent
	if len(cfg.Serial) > 0 || cfg.CMOSRTC {
		boot |= iapcLegacyDevices
	}
	if !cfg.CMOSRTC {
		boot |= iapcCMOSRTCNotPresent
	}
	le.PutUint16(t[fadtOffIAPCBootArch:], boot)
	le.PutUint32(t[fadtOffFlags:], fadtWBINVD|fadtProcC1|fadtPwrButton|fadtSlpButton|fadtResetRegSup|fadtHWReducedACPI)
	ioByteRegister(ResetPort).put(t[fadtOffResetReg:])
	t[fadtOffResetValue] = ResetValue
	t[fadtOffMinorVersion] = fadtMinorVersion
	le.PutUint64(t[fadtOffXDSDT:], dsdt)
	ioByteRegister(SleepControlPort).put(t[fadtOffSleepControl:])
	ioByteRegister(SleepStatusPort).put(t[fadtOffSleepStatus:])
	return finishTable(t)
}
