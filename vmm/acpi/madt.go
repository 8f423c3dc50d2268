package acpi

// MADT layout (ACPI 6.5 §5.2.12, "Multiple APIC Description Table (MADT)").
// Revision 5 (ACPI 6.3 and later; the structures used here are unchanged
// since).
const (
	madtRevision   = 5
	madtPCATCompat = 1 << 0

	madtTypeLocalAPIC   = 0 // §5.2.12.2, 8 bytes
	madtTypeIOAPIC      = 1 // §5.2.12.3, 12 bytes
	madtTypeOverride    = 2 // §5.2.12.5, 10 bytes
	madtTypeLocalAPICNM = 4 // §5.2.12.7, 6 bytes

	madtLocalAPICEnabled = 1 << 0
	// madtAllProcessors is the ACPI Processor UID meaning "every processor".
	madtAllProcessors = 0xFF
	// madtLINT1 is the local APIC input NMI is wired to on a PC.
	madtLINT1 = 1
)

// buildMADT returns the MADT: the local APIC address, PCAT_COMPAT when
// cfg.PIC, one Processor Local APIC structure per vCPU (UID i, APIC ID i,
// Enabled), the I/O APIC, the interrupt source overrides in cfg order, and
// one Local APIC NMI structure stating that NMI is wired to LINT1 of every
// processor (flags 0: conforms to the bus).
func buildMADT(cfg *Config) []byte {
	t := newTable("APIC", madtRevision, headerSize+8+8*cfg.CPUs+12+10*len(cfg.Overrides)+6)
	t = le32(t, LocalAPICAddr)
	var flags uint32
	if cfg.PIC {
		flags |= madtPCATCompat
	}
	t = le32(t, flags)
	for i := 0; i < cfg.CPUs; i++ {
		t = append(t, madtTypeLocalAPIC, 8, byte(i), byte(i))
		t = le32(t, madtLocalAPICEnabled)
	}
	t = append(t, madtTypeIOAPIC, 12, cfg.IOAPIC.ID, 0)
	t = le32(t, cfg.IOAPIC.Addr)
	t = le32(t, cfg.IOAPIC.GSIBase)
	for _, o := range cfg.Overrides {
		t = append(t, madtTypeOverride, 10, 0 /* ISA */, o.Source)
		t = le32(t, o.GSI)
		t = le16(t, o.Flags)
	}
	t = append(t, madtTypeLocalAPICNM, 6, madtAllProcessors)
	t = le16(t, 0)
	t = append(t, madtLINT1)
	return finishTable(t)
}
