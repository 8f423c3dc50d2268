package vmm

import (
	"encoding/binary"
	"fmt"

	"github.com/bobuhiro11/gokvm/kvm"
	"github.com/bobuhiro11/gokvm/pvh"
	"github.com/govmm/govmm/memory"
)

// Long-mode entry state for the 64-bit boot protocol: flat code (selector
// 0x10, __BOOT_CS) and data (0x18, __BOOT_DS) segments and identity paging of
// the first 4 GiB with 2 MiB pages.
const (
	cr0PE   = 1 << 0
	cr0ET   = 1 << 4
	cr0PG   = 1 << 31
	cr4PAE  = 1 << 5
	eferLME = 1 << 8
	eferLMA = 1 << 10

	pteP  = 1 << 0
	pteRW = 1 << 1
	ptePS = 1 << 7
)

// writeIdentityPageTables maps [0, 4 GiB) 1:1 with 2 MiB pages: one PML4,
// one PDPT, four page directories, at pml4Addr.
func writeIdentityPageTables(mem *memory.Memory) error {
	pdpt := uint64(pml4Addr + 0x1000)
	pd := uint64(pml4Addr + 0x2000)
	if err := mem.Store64(pml4Addr, pdpt|pteP|pteRW); err != nil {
		return err
	}
	for i := uint64(0); i < 4; i++ {
		if err := mem.Store64(pdpt+i*8, (pd+i*0x1000)|pteP|pteRW); err != nil {
			return err
		}
	}
	for i := uint64(0); i < 4*512; i++ {
		if err := mem.Store64(pd+i*8, i<<21|pteP|pteRW|ptePS); err != nil {
			return err
		}
	}
	return nil
}

func seg(sel uint16, typ uint8, l, db uint8) kvm.Segment {
	return kvm.Segment{Base: 0, Limit: 0xFFFFFFFF, Selector: sel, Typ: typ, Present: 1, S: 1, L: l, DB: db, G: 1}
}

// setLongMode puts vCPU fd in 64-bit mode at rip with RSI = zero page.
func setLongMode(fd uintptr, mem *memory.Memory, rip, rsi uint64) error {
	gdt := []uint64{0, 0, 0x00AF9B000000FFFF, 0x00CF93000000FFFF}
	b := make([]byte, 8*len(gdt))
	for i, e := range gdt {
		binary.LittleEndian.PutUint64(b[i*8:], e)
	}
	if err := mem.WriteAt(b, gdtAddr); err != nil {
		return err
	}
	if err := writeIdentityPageTables(mem); err != nil {
		return err
	}
	sr, err := kvm.GetSregs(fd)
	if err != nil {
		return fmt.Errorf("KVM_GET_SREGS: %w", err)
	}
	sr.GDT = kvm.Descriptor{Base: gdtAddr, Limit: uint16(len(b) - 1)}
	sr.IDT = kvm.Descriptor{Base: 0, Limit: 0}
	sr.CS = seg(0x10, 0xB, 1, 0)
	data := seg(0x18, 0x3, 0, 1)
	sr.DS, sr.ES, sr.FS, sr.GS, sr.SS = data, data, data, data, data
	sr.CR3 = pml4Addr
	sr.CR4 = cr4PAE
	sr.CR0 = cr0PE | cr0ET | cr0PG
	sr.EFER = eferLME | eferLMA
	if err := kvm.SetSregs(fd, sr); err != nil {
		return fmt.Errorf("KVM_SET_SREGS: %w", err)
	}
	regs := &kvm.Regs{RIP: rip, RSI: rsi, RFLAGS: 2}
	if err := kvm.SetRegs(fd, regs); err != nil {
		return fmt.Errorf("KVM_SET_REGS: %w", err)
	}
	return nil
}

// setPVHMode puts vCPU fd in 32-bit protected mode, paging off, at entry
// with EBX = struct hvm_start_info, as the PVH boot ABI requires.
func setPVHMode(fd uintptr, mem *memory.Memory, entry uint32) error {
	gdt := pvh.CreateGDT()
	if err := mem.WriteAt(gdt.Bytes(), pvh.BootGDTStart); err != nil {
		return err
	}
	if err := pvh.InitSRegs(fd, gdt); err != nil {
		return fmt.Errorf("PVH segment setup: %w", err)
	}
	if err := pvh.InitRegs(fd, uint64(entry)); err != nil {
		return fmt.Errorf("PVH register setup: %w", err)
	}
	return nil
}
