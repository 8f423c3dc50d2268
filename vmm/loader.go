package vmm

import (
	"fmt"

	"github.com/bobuhiro11/gokvm/pvh"
	"github.com/govmm/govmm/memory"
)

// bootImage is what is placed in guest RAM before the first vCPU runs.
type bootImage struct {
	kernel  *Kernel
	initrd  []byte
	cmdline string
	rsdp    uint64
	layout  Layout
}

// load copies the kernel, initrd and command line into guest RAM, writes the
// boot structures (zero page or hvm_start_info) and sets the boot vCPU's
// registers.
func (b *bootImage) load(mem *memory.Memory, bspFd uintptr) error {
	cmd := append([]byte(b.cmdline), 0)
	if err := mem.WriteAt(cmd, cmdlineAddr); err != nil {
		return fmt.Errorf("command line: %w", err)
	}
	var initrdAddr uint64
	if len(b.initrd) > 0 {
		a, err := b.kernel.initrdPlacement(b.layout, uint64(len(b.initrd)))
		if err != nil {
			return err
		}
		if err := mem.WriteAt(b.initrd, a); err != nil {
			return fmt.Errorf("initrd: %w", err)
		}
		initrdAddr = a
	}
	e820 := b.layout.E820()
	k := b.kernel
	switch k.Format {
	case BzImage:
		if err := mem.WriteAt(k.data[k.setupSize:], kernelAddr); err != nil {
			return fmt.Errorf("kernel: %w", err)
		}
		zp, err := k.zeroPage(cmdlineAddr, initrdAddr, uint64(len(b.initrd)), b.rsdp, e820)
		if err != nil {
			return fmt.Errorf("zero page: %w", err)
		}
		if err := mem.WriteAt(zp, zeroPageAddr); err != nil {
			return fmt.Errorf("zero page: %w", err)
		}
		// The 64-bit entry point is 0x200 bytes into the protected-mode kernel.
		return setLongMode(bspFd, mem, kernelAddr+0x200, zeroPageAddr)
	case PVH:
		for _, p := range k.loads {
			seg, err := mem.Slice(p.Paddr, p.Memsz)
			if err != nil {
				return fmt.Errorf("kernel segment: %w", err)
			}
			n := copy(seg, k.data[p.Off:p.Off+p.Filesz])
			clear(seg[n:])
		}
		si := pvh.NewStartInfo(b.rsdp, cmdlineAddr)
		si.MemMapPAddr = pvhMemMapAddr
		si.MemMapEntries = uint32(len(e820))
		if len(b.initrd) > 0 {
			si.NrModules = 1
			si.ModlistPAddr = pvhModAddr
			mod, err := pvh.NewModListEntry(initrdAddr, uint64(len(b.initrd)), 0).Bytes()
			if err != nil {
				return err
			}
			if err := mem.WriteAt(mod, pvhModAddr); err != nil {
				return err
			}
		}
		for i, e := range e820 {
			ent, err := pvh.NewMemMapTableEntry(e.Addr, e.Size, e.Type).Bytes()
			if err != nil {
				return err
			}
			if err := mem.WriteAt(ent, pvhMemMapAddr+uint64(i)*uint64(len(ent))); err != nil {
				return err
			}
		}
		sib, err := si.Bytes()
		if err != nil {
			return err
		}
		if err := mem.WriteAt(sib, pvhInfoAddr); err != nil {
			return err
		}
		return setPVHMode(bspFd, mem, k.entry)
	}
	return fmt.Errorf("unknown kernel format %v", k.Format)
}
