package pci

// Device is one PCI function as the Segment sees it. Its configuration
// space is the source of truth for the function's identity, Command
// register and BARs: after every guest configuration write the Segment
// re-reads Command and the BAR registers from Config() and maps or unmaps
// the BARs' handlers on the segment's buses to match.
//
// *ConfigSpace itself satisfies Device, so a device model that embeds a
// *ConfigSpace is a Device with no further code.
type Device interface {
	Config() *ConfigSpace
}

// ConfigInterceptor is implemented by a Device that serves guest
// configuration accesses itself instead of letting the Segment call
// Config().ReadConfig/WriteConfig directly, for example a passed-through
// (VFIO) function that forwards some registers to the host device. off is
// the register offset (0–4095) and len(data) is 1, 2 or 4; the access never
// crosses a 4-byte boundary. Writes to Command and the BAR registers must
// still reach Config() (normally through Config().WriteConfig), because the
// Segment decodes BARs from there.
type ConfigInterceptor interface {
	ReadConfig(off int, data []byte)
	WriteConfig(off int, data []byte)
}

// BARObserver is implemented by a Device that wants to know where its BARs
// are decoded, for example to register an ioeventfd on a notify address or
// to map a host region into the guest. BARMapped(index, base, true) reports
// that BAR index now decodes [base, base+size); BARMapped(index, base,
// false) that it no longer decodes at base. A guest relocation is an unmap
// of the old base followed by a map of the new one. Calls are made with the
// Segment's configuration-write lock held: the observer must not call back
// into the Segment.
type BARObserver interface {
	BARMapped(index int, base uint64, mapped bool)
}

// CommandObserver is implemented by a Device that wants to know about
// guest changes of its Command register (decode enables, Bus Master
// Enable, INTx Disable). CommandChanged runs after the Segment has remapped
// the BARs, with the same lock held as BARObserver.
type CommandObserver interface {
	CommandChanged(old, new uint16)
}
