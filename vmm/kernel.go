package vmm

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/bobuhiro11/gokvm/bootparam"
	"github.com/bobuhiro11/gokvm/pvh"
)

// ErrBadKernel is wrapped by every error about a kernel image that cannot be
// booted: missing, truncated, not a Linux bzImage or PVH ELF.
var ErrBadKernel = errors.New("bad kernel image")

// KernelFormat is how a kernel image is booted.
type KernelFormat int

// Kernel formats.
const (
	// BzImage is booted through the Linux 64-bit boot protocol
	// (Documentation/arch/x86/boot.rst), entering startup_64 in long mode.
	BzImage KernelFormat = iota + 1
	// PVH is an ELF vmlinux with a XEN_ELFNOTE_PHYS32_ENTRY note, entered in
	// 32-bit protected mode with EBX pointing at struct hvm_start_info.
	PVH
)

// String returns a short human-readable form of the value.
func (f KernelFormat) String() string {
	switch f {
	case BzImage:
		return "bzImage"
	case PVH:
		return "PVH ELF"
	}
	return "unknown"
}

// Kernel is a parsed, validated kernel image ready to be placed in guest RAM.
type Kernel struct {
	Format KernelFormat
	data   []byte
	// bzImage
	hdr       bootparam.SetupHeader
	setupSize int
	// PVH
	entry uint32
	loads []*elf.Prog
	// end is the first guest-physical byte above the loaded kernel's
	// footprint (for bzImage, the decompression footprint init_size).
	end uint64
}

// Boot protocol constants.
const (
	hdrOffset       = 0x1F1
	xlfKernel64     = 1 << 0 // XLF_KERNEL_64: has the 64-bit entry at +0x200
	minProtocol     = 0x020C // 2.12: xloadflags
	loaderUndefined = 0xFF
	canUseHeap      = 0x80
	rsdpOffset      = 0x070 // boot_params.acpi_rsdp_addr
)

// LoadKernel reads and validates the kernel image at path.
func LoadKernel(path string) (*Kernel, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKernel, err)
	}
	return ParseKernel(data)
}

// ParseKernel validates a kernel image held in memory.
func ParseKernel(data []byte) (*Kernel, error) {
	if len(data) >= 4 && bytes.Equal(data[:4], []byte(elf.ELFMAG)) {
		return parsePVH(data)
	}
	return parseBzImage(data)
}

func parseBzImage(data []byte) (*Kernel, error) {
	if len(data) < 0x270 {
		return nil, fmt.Errorf("%w: %d bytes is too short for a bzImage or ELF", ErrBadKernel, len(data))
	}
	bp, err := bootparam.New(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: not a Linux bzImage (%v)", ErrBadKernel, err)
	}
	h := bp.Hdr
	if h.Version < minProtocol {
		return nil, fmt.Errorf("%w: boot protocol %d.%02d is older than 2.12", ErrBadKernel, h.Version>>8, h.Version&0xff)
	}
	if h.XloadFlags&xlfKernel64 == 0 {
		return nil, fmt.Errorf("%w: bzImage has no 64-bit entry point (XLF_KERNEL_64 clear)", ErrBadKernel)
	}
	ss := int(h.SetupSects)
	if ss == 0 {
		ss = 4
	}
	setup := (ss + 1) * 512
	want := setup + int(h.SysSize)*16
	if len(data) < want {
		return nil, fmt.Errorf("%w: truncated bzImage: %d bytes, header says %d", ErrBadKernel, len(data), want)
	}
	return &Kernel{
		Format: BzImage, data: data, hdr: h, setupSize: setup,
		end: kernelAddr + uint64(max(h.InitSize, uint32(len(data)-setup))),
	}, nil
}

func parsePVH(data []byte) (*Kernel, error) {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: bad ELF: %v", ErrBadKernel, err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("%w: ELF is %v/%v, want ELFCLASS64/EM_X86_64", ErrBadKernel, f.Class, f.Machine)
	}
	k := &Kernel{Format: PVH, data: data}
	found := false
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_NOTE:
			if e, err := pvh.ParsePVHEntry(bytes.NewReader(data), p); err == nil {
				k.entry, found = e, true
			}
		case elf.PT_LOAD:
			if p.Filesz > p.Memsz || p.Off+p.Filesz > uint64(len(data)) || p.Off+p.Filesz < p.Off {
				return nil, fmt.Errorf("%w: truncated ELF: segment at file offset %#x, %#x bytes", ErrBadKernel, p.Off, p.Filesz)
			}
			if p.Paddr < kernelAddr || p.Paddr+p.Memsz < p.Paddr || p.Paddr+p.Memsz > LowRAMEnd {
				return nil, fmt.Errorf("%w: ELF segment [%#x, +%#x) is outside [1 MiB, 3 GiB)", ErrBadKernel, p.Paddr, p.Memsz)
			}
			k.loads = append(k.loads, p)
			k.end = max(k.end, p.Paddr+p.Memsz)
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: ELF has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); boot the bzImage instead", ErrBadKernel)
	}
	if len(k.loads) == 0 {
		return nil, fmt.Errorf("%w: ELF has no loadable segments", ErrBadKernel)
	}
	return k, nil
}

// maxCmdline returns the longest command line the kernel accepts, in bytes
// without the terminating NUL.
func (k *Kernel) maxCmdline() int {
	if k.Format == BzImage && k.hdr.CmdlineSize != 0 {
		return int(min(k.hdr.CmdlineSize, cmdlineMax-1))
	}
	return cmdlineMax - 1
}

// initrdPlacement returns where an initrd of size bytes goes: page-aligned,
// as high as possible below the top of low RAM and the kernel's
// initrd_addr_max, above the kernel's footprint.
func (k *Kernel) initrdPlacement(l Layout, size uint64) (uint64, error) {
	top := l.LowRAM
	if k.Format == BzImage && k.hdr.InitrdAddrMax != 0 {
		top = min(top, uint64(k.hdr.InitrdAddrMax)+1)
	}
	floor := (k.end + 2*MiB - 1) &^ (2*MiB - 1)
	if size > top || (top-size)&^(4*KiB-1) < floor {
		return 0, fmt.Errorf("initrd of %d MiB does not fit between the kernel (ends at %#x) and %#x: give the guest more --memory", size>>20, floor, top)
	}
	return (top - size) &^ (4*KiB - 1), nil
}

// zeroPage builds struct boot_params for a bzImage boot.
func (k *Kernel) zeroPage(cmdline uint32, initrd, initrdSize uint64, rsdp uint64, e820 []e820Entry) ([]byte, error) {
	bp := &bootparam.BootParam{Hdr: k.hdr}
	bp.Hdr.TypeOfLoader = loaderUndefined
	bp.Hdr.LoadFlags |= canUseHeap
	bp.Hdr.HeapEndPtr = 0xFE00
	bp.Hdr.CmdlinePtr = cmdline
	bp.Hdr.RamdiskImage = uint32(initrd)
	bp.Hdr.RamdiskSize = uint32(initrdSize)
	for _, e := range e820 {
		bp.AddE820Entry(e.Addr, e.Size, e.Type)
	}
	b, err := bp.Bytes()
	if err != nil {
		return nil, err
	}
	binary.LittleEndian.PutUint64(b[rsdpOffset:], rsdp)
	return b, nil
}
