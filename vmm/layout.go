package vmm

import "fmt"

// Guest-physical memory layout. RAM sits below the 32-bit PCI hole and, when
// there is more of it than fits, above 4 GiB. The hole holds the 32-bit MMIO
// window for BARs, the ECAM window and the fixed platform devices (IOAPIC,
// VT-d registers, LAPIC); the 64-bit MMIO window sits above high RAM.
const (
	KiB = 1 << 10
	MiB = 1 << 20
	GiB = 1 << 30

	// Low-memory boot structures (all below the EBDA).
	gdtAddr       = 0x500
	idtAddr       = 0x520
	pvhInfoAddr   = 0x6000 // struct hvm_start_info
	pvhModAddr    = 0x6040 // struct hvm_modlist_entry
	pvhMemMapAddr = 0x7000 // struct hvm_memmap_table_entry[]
	zeroPageAddr  = 0x8000 // struct boot_params
	pml4Addr      = 0x9000 // identity page tables: PML4, PDPT, 4 PDs
	cmdlineAddr   = 0x20000
	cmdlineMax    = 0x10000
	ebdaStart     = 0x9FC00
	acpiAddr      = 0xE0000 // ACPI tables, inside the reserved BIOS area
	acpiMax       = 0x20000
	kernelAddr    = 0x100000 // 1 MiB: protected-mode kernel / PVH load floor

	// LowRAMEnd is where RAM below 4 GiB ends at most: the 32-bit hole starts here.
	LowRAMEnd = 3 * GiB
	// MMIO32Base/MMIO32Size is the 32-bit MMIO window for PCI BARs.
	MMIO32Base = 3 * GiB
	MMIO32Size = 512 * MiB
	// ECAMBase/ECAMSize is the PCIe enhanced configuration window (MCFG):
	// 1 MiB per bus, buses 0-255 of segment 0.
	ECAMBase = 0xE000_0000
	ECAMSize = 256 * MiB
	// IOAPICBase is the in-kernel IOAPIC's register window.
	IOAPICBase = 0xFEC0_0000
	// VTDBase is the VT-d remapping unit's register window.
	VTDBase = 0xFED9_0000
	// LAPICBase is the local APICs' register window.
	LAPICBase = 0xFEE0_0000
	// tssAddr and identityMapAddr are the three pages KVM_SET_TSS_ADDR and
	// the page KVM_SET_IDENTITY_MAP_ADDR need on Intel hosts.
	identityMapAddr = 0xFFFB_C000
	tssAddr         = 0xFFFB_D000

	highRAMBase = 4 * GiB
	// MMIO64Size is the size of the 64-bit MMIO window for PCI BARs.
	MMIO64Size = 64 * GiB
	// mmio64Floor is the lowest the 64-bit window starts.
	mmio64Floor = 64 * GiB

	// IOPortBase/IOPortSize is the port-I/O window given to PCI I/O BARs.
	IOPortBase = 0xC000
	IOPortSize = 0x4000
)

// Layout is the guest-physical map for one amount of RAM.
type Layout struct {
	LowRAM  uint64 // bytes of RAM at [0, LowRAM)
	HighRAM uint64 // bytes of RAM at [4 GiB, 4 GiB+HighRAM)
	MMIO64  uint64 // base of the 64-bit MMIO window (MMIO64Size bytes)
}

// NewLayout places size bytes of RAM. size must be a multiple of 4 KiB.
func NewLayout(size uint64) (Layout, error) {
	if size%(4*KiB) != 0 {
		return Layout{}, fmt.Errorf("memory size %d is not a multiple of 4 KiB", size)
	}
	l := Layout{LowRAM: min(size, LowRAMEnd)}
	l.HighRAM = size - l.LowRAM
	top := uint64(highRAMBase) + l.HighRAM
	l.MMIO64 = max(mmio64Floor, (top+GiB-1)&^(GiB-1))
	return l, nil
}

// e820 types (ACPI 6.5 §15, "System Address Map Interfaces").
const (
	e820RAM      = 1
	e820Reserved = 2
	e820ACPI     = 3
)

type e820Entry struct {
	Addr, Size uint64
	Type       uint32
}

// E820 returns the memory map given to the guest: usable RAM, the reserved
// BIOS area holding the ACPI tables, and the ECAM window (Linux requires
// MMCONFIG to be reserved before it uses ECAM). The 32-bit MMIO window is
// left as a hole rather than reserved: Linux clips E820-reserved ranges out of
// host-bridge windows when there is no DMI date, and BARs could then not be
// placed.
func (l Layout) E820() []e820Entry {
	m := []e820Entry{
		{0, ebdaStart, e820RAM},
		{ebdaStart, kernelAddr - ebdaStart, e820Reserved},
		{kernelAddr, l.LowRAM - kernelAddr, e820RAM},
		{ECAMBase, ECAMSize, e820Reserved},
	}
	if l.HighRAM > 0 {
		m = append(m, e820Entry{highRAMBase, l.HighRAM, e820RAM})
	}
	return m
}
