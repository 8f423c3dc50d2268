package acpi

import (
	"fmt"
	"sort"
)

// ConfigError reports an invalid Config: Field names the offending field
// (for example "ECAM.EndBus" or "DMAR.Units[1].Scopes[0]") and Reason says
// what is wrong, with the values involved.
type ConfigError struct {
	Field  string // the Config field or range at fault
	Reason string // what is wrong with it
}

// Error returns "acpi: invalid config: <Field>: <Reason>".
func (e *ConfigError) Error() string {
	return "acpi: invalid config: " + e.Field + ": " + e.Reason
}

func cfgErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// fourGiB is the end of the 32-bit physical address space.
const fourGiB = 1 << 32

// Validate checks c and returns the first problem as a *ConfigError, or
// nil. It checks:
//
//   - CPUs is 1 to MaxCPUs;
//   - IOAPIC.Addr is not 0 and the IOAPIC page fits below 4 GiB;
//   - Overrides: Source 0-15 and unique, GSI on the IOAPIC's pins, no
//     reserved polarity or trigger value, and an IRQ 0 override states its
//     polarity and trigger (with a hardware-reduced FADT, SCI_INT is 0 and
//     Linux takes an IRQ 0 override for the SCI's, turning "conforms" into
//     level/active-low);
//   - ECAM: Base 1 MiB aligned, StartBus <= EndBus, the window ends at or
//     below 4 GiB;
//   - MMIO32 is not empty and ends at or below 4 GiB; MMIO64, if present,
//     does not wrap; IO, if present, ends at or below 0x10000;
//   - PRT: Device 0-31, Pin 0-3, GSI on the IOAPIC's pins, no duplicate
//     (Device, Pin);
//   - Serial: at most MaxSerialPorts, port not 0, ISA IRQ 1-15 but not 2
//     (the cascade);
//   - the memory ranges (ECAM window, MMIO32, MMIO64, IOAPIC page, local
//     APIC window, DMAR register sets) do not overlap, nor do the port
//     ranges (0xCF8-0xCFF, the UARTs, the RTC, the sleep registers, the IO
//     window);
//   - DMAR and VIOT as described on DMARConfig, DRHD, ATSR, DeviceScope,
//     VIOTConfig and VIOTPCIRange, and, when both are present, that no
//     device is claimed by both IOMMUs.
func (c *Config) Validate() error {
	if c.CPUs < 1 || c.CPUs > MaxCPUs {
		return cfgErr("CPUs", "%d vCPUs, want 1 to %d", c.CPUs, MaxCPUs)
	}
	if err := c.validateInterrupts(); err != nil {
		return err
	}
	if err := c.validatePCI(); err != nil {
		return err
	}
	if err := c.validateLegacy(); err != nil {
		return err
	}
	if c.DMAR != nil {
		if err := c.validateDMAR(); err != nil {
			return err
		}
	}
	if c.VIOT != nil {
		if err := c.validateVIOT(); err != nil {
			return err
		}
	}
	if c.DMAR != nil && c.VIOT != nil {
		if err := c.validateIOMMUPartition(); err != nil {
			return err
		}
	}
	if err := checkOverlaps(c.memoryRanges(), "%#x"); err != nil {
		return err
	}
	return checkOverlaps(c.portRanges(), "%#04x")
}

func (c *Config) validateInterrupts() error {
	if c.IOAPIC.Addr == 0 {
		return cfgErr("IOAPIC.Addr", "address is 0")
	}
	if uint64(c.IOAPIC.Addr)+IOAPICSize > fourGiB {
		return cfgErr("IOAPIC.Addr", "page [%#x, +%#x) crosses 4 GiB", c.IOAPIC.Addr, IOAPICSize)
	}
	if c.IOAPIC.GSIBase > 1<<32-1-IOAPICPins {
		return cfgErr("IOAPIC.GSIBase", "GSI base %d leaves no room for %d pins", c.IOAPIC.GSIBase, IOAPICPins)
	}
	var seen [16]bool
	for i, o := range c.Overrides {
		f := fmt.Sprintf("Overrides[%d]", i)
		switch {
		case o.Source > 15:
			return cfgErr(f, "source IRQ %d is not an ISA IRQ (0-15)", o.Source)
		case seen[o.Source]:
			return cfgErr(f, "source IRQ %d is overridden twice", o.Source)
		case !c.onIOAPIC(o.GSI):
			return cfgErr(f, "GSI %d is not on the IOAPIC (GSIs %d-%d)", o.GSI, c.IOAPIC.GSIBase, c.IOAPIC.GSIBase+IOAPICPins-1)
		case o.Flags&intiFlagsReserved != 0:
			return cfgErr(f, "flags %#x set reserved bits (only bits 3:0 are defined)", o.Flags)
		case o.Flags&polarityMask == polarityReserved:
			return cfgErr(f, "flags %#x: polarity 2 is reserved", o.Flags)
		case o.Flags&triggerMask == triggerReserved:
			return cfgErr(f, "flags %#x: trigger mode 2 is reserved", o.Flags)
		case o.Source == 0 && (o.Flags&polarityMask == 0 || o.Flags&triggerMask == 0):
			return cfgErr(f, "IRQ 0 override flags %#x must give polarity and trigger explicitly: with SCI_INT 0 Linux reads it as the SCI override and makes \"conforms\" level/active-low", o.Flags)
		}
		seen[o.Source] = true
	}
	return nil
}

// onIOAPIC reports whether gsi is one of the IOAPIC's pins.
func (c *Config) onIOAPIC(gsi uint32) bool {
	return gsi >= c.IOAPIC.GSIBase && gsi-c.IOAPIC.GSIBase < IOAPICPins
}

func (c *Config) validatePCI() error {
	e := c.ECAM
	switch {
	case e.Base%(1<<20) != 0:
		return cfgErr("ECAM.Base", "base %#x is not 1 MiB aligned", e.Base)
	case e.StartBus > e.EndBus:
		return cfgErr("ECAM.StartBus", "bus range %d-%d is empty", e.StartBus, e.EndBus)
	case e.Base > fourGiB || e.Window().End() > fourGiB:
		return cfgErr("ECAM", "window [%#x, %#x) ends above 4 GiB; Linux ignores ECAM there without a DMI BIOS date", e.Window().Base, e.Window().End())
	}
	switch {
	case c.MMIO32.Size == 0:
		return cfgErr("MMIO32", "the 32-bit MMIO window is empty")
	case c.MMIO32.Base >= fourGiB || c.MMIO32.Size > fourGiB-c.MMIO32.Base:
		return cfgErr("MMIO32", "window [%#x, +%#x) does not end at or below 4 GiB", c.MMIO32.Base, c.MMIO32.Size)
	}
	if c.MMIO64.Size > 0 && c.MMIO64.End()-1 < c.MMIO64.Base {
		return cfgErr("MMIO64", "window [%#x, +%#x) wraps past 2^64", c.MMIO64.Base, c.MMIO64.Size)
	}
	if c.IO.Size > 0 && (c.IO.Base > 0xFFFF || c.IO.Size > 0x10000-c.IO.Base) {
		return cfgErr("IO", "port window [%#x, +%#x) does not end at or below 0x10000", c.IO.Base, c.IO.Size)
	}
	var seen [32][4]bool
	for i, r := range c.PRT {
		f := fmt.Sprintf("PRT[%d]", i)
		switch {
		case r.Device > 31:
			return cfgErr(f, "device %d, want 0-31", r.Device)
		case r.Pin > 3:
			return cfgErr(f, "pin %d, want 0 (INTA) to 3 (INTD)", r.Pin)
		case seen[r.Device][r.Pin]:
			return cfgErr(f, "device %d INT%c is routed twice", r.Device, 'A'+r.Pin)
		case !c.onIOAPIC(r.GSI):
			return cfgErr(f, "GSI %d is not on the IOAPIC (GSIs %d-%d)", r.GSI, c.IOAPIC.GSIBase, c.IOAPIC.GSIBase+IOAPICPins-1)
		}
		seen[r.Device][r.Pin] = true
	}
	return nil
}

func (c *Config) validateLegacy() error {
	if len(c.Serial) > MaxSerialPorts {
		return cfgErr("Serial", "%d serial ports, at most %d", len(c.Serial), MaxSerialPorts)
	}
	for i, s := range c.Serial {
		f := fmt.Sprintf("Serial[%d]", i)
		switch {
		case s.Port == 0 || s.Port > 0xFFFF-serialLen+1:
			return cfgErr(f, "port %#x, want 0x1-%#x", s.Port, 0xFFFF-serialLen+1)
		case s.IRQ == 0 || s.IRQ == 2 || s.IRQ > 15:
			return cfgErr(f, "IRQ %d, want an ISA IRQ 1-15 other than 2", s.IRQ)
		}
	}
	return nil
}

// span is a named range [first, last] for overlap checks (inclusive, so a
// range may end at 2^64-1).
type span struct {
	name        string
	first, last uint64
	fixed       bool // a platform constant, not a Config field
}

// spanOf returns the span of the non-empty, non-wrapping window w.
func spanOf(name string, w Window) span {
	return span{name: name, first: w.Base, last: w.Base + w.Size - 1}
}

// fixedSpan is spanOf for a platform constant.
func fixedSpan(name string, w Window) span {
	s := spanOf(name, w)
	s.fixed = true
	return s
}

func (c *Config) memoryRanges() []span {
	r := []span{
		spanOf("ECAM", c.ECAM.Window()),
		spanOf("MMIO32", c.MMIO32),
		spanOf("IOAPIC", Window{uint64(c.IOAPIC.Addr), IOAPICSize}),
		fixedSpan("local APIC window", Window{LocalAPICAddr, LocalAPICSize}),
	}
	if c.MMIO64.Size > 0 {
		r = append(r, spanOf("MMIO64", c.MMIO64))
	}
	if c.DMAR != nil {
		for i, u := range c.DMAR.Units {
			r = append(r, spanOf(fmt.Sprintf("DMAR.Units[%d] registers", i), u.RegisterWindow()))
		}
	}
	return r
}

func (c *Config) portRanges() []span {
	r := []span{
		fixedSpan("PCI configuration ports", Window{pciConfigPort, pciConfigLen}),
		fixedSpan("sleep control/status registers", Window{sleepRegsPort, sleepRegsLen}),
	}
	for i, s := range c.Serial {
		r = append(r, spanOf(fmt.Sprintf("Serial[%d]", i), Window{uint64(s.Port), serialLen}))
	}
	if c.CMOSRTC {
		r = append(r, fixedSpan("RTC ports", Window{rtcPort, rtcLen}))
	}
	if c.IO.Size > 0 {
		r = append(r, spanOf("IO", c.IO))
	}
	return r
}

// checkOverlaps returns a *ConfigError naming the first two ranges that
// overlap; format prints an address. The error's Field is the later range,
// or the earlier one when the later is a platform constant.
func checkOverlaps(rs []span, format string) error {
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].first < rs[j].first })
	for i := 1; i < len(rs); i++ {
		a, b := rs[i-1], rs[i]
		if b.first <= a.last {
			if b.fixed && !a.fixed {
				a, b = b, a
			}
			return cfgErr(b.name, "range ["+format+", "+format+"] overlaps %s ["+format+", "+format+"]", b.first, b.last, a.name, a.first, a.last)
		}
	}
	return nil
}
