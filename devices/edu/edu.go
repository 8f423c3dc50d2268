// Package edu models the "edu" educational PCI device (1234:11e8) that QEMU
// and kvm-unit-tests use to exercise IOMMUs: a small DMA engine that copies
// between guest memory and a 4 KiB on-device buffer, with every guest
// address an IOVA resolved through the device's dma.AddressSpace. It is a
// test device: a guest (or a test) programs it through BAR0 to make a DMA to
// an address of its choosing, mapped or not.
//
// BAR0 (1 MiB, 32-bit memory) registers, offsets in bytes:
//
//	0x00 R   identification 0x010000ed
//	0x04 RW  liveness check: reads back the bitwise inverse of the last write
//	0x24 R   interrupt status
//	0x60 W   raise interrupt: ORs the value into the status and fires MSI
//	0x64 W   acknowledge interrupt: clears those status bits
//	0x80 RW  DMA source address (64 bits)
//	0x88 RW  DMA destination address (64 bits)
//	0x90 RW  DMA count in bytes (at most 4096)
//	0x98 RW  DMA command: bit 0 start, bit 1 direction (0: guest to
//	         buffer, 1: buffer to guest), bit 2 raise interrupt 0x100 when
//	         done. Reads back with bit 0 clear once the transfer ended.
//	0xA0 R   DMA error: 0 after a good transfer, 1 after a faulted one
//	0x40000  the 4 KiB DMA buffer (device-side addresses 0x40000-0x40FFF)
//
// Unlike QEMU's, the engine runs synchronously inside the command write, and
// device-side addresses outside the buffer end the transfer with an error.
package edu

import (
	"encoding/binary"
	"sync"

	"github.com/govmm/govmm/devices/irq"
	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/memory"
)

// Identity of the device.
const (
	VendorID = 0x1234
	DeviceID = 0x11e8

	barSize    = 1 << 20
	bufBase    = 0x40000
	bufSize    = 4096
	ident      = 0x010000ed
	cmdStart   = 1 << 0
	cmdToGuest = 1 << 1
	cmdIRQ     = 1 << 2
	irqDMA     = 0x100
)

// Edu is the device. It implements pci.Device.
type Edu struct {
	cs   *pci.ConfigSpace
	msi  *pci.MSI
	mem  *memory.Memory
	as   dma.AddressSpace
	mu   sync.Mutex
	live uint32
	irqs uint32
	src  uint64
	dst  uint64
	cnt  uint64
	cmd  uint64
	derr uint32
	buf  [bufSize]byte
}

// New returns an edu device doing DMA into mem through as and signalling
// completion through an MSI sent by sender.
func New(mem *memory.Memory, as dma.AddressSpace, sender irq.MSISender) (*Edu, error) {
	cs, err := pci.NewConfigSpace(pci.Header{VendorID: VendorID, DeviceID: DeviceID, Class: 0x00FF00, RevisionID: 0x10})
	if err != nil {
		return nil, err
	}
	d := &Edu{cs: cs, mem: mem, as: as}
	if err := cs.AddBAR(0, pci.BAR{Type: pci.BARMem32, Size: barSize, Handler: regs{d}}); err != nil {
		return nil, err
	}
	if d.msi, err = pci.AddMSI(cs, pci.MSIConfig{Vectors: 1}, sender); err != nil {
		return nil, err
	}
	return d, nil
}

// Config returns the configuration space (pci.Device).
func (d *Edu) Config() *pci.ConfigSpace { return d.cs }

// SetAddressSpace replaces the address space DMA goes through.
func (d *Edu) SetAddressSpace(as dma.AddressSpace) {
	d.mu.Lock()
	d.as = as
	d.mu.Unlock()
}

type regs struct{ d *Edu }

func (r regs) Read(off uint64, data []byte) {
	clear(data)
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if off >= bufBase && off < bufBase+bufSize {
		copy(data, d.buf[off-bufBase:])
		return
	}
	var v uint64
	switch off {
	case 0x00:
		v = ident
	case 0x04:
		v = uint64(^d.live)
	case 0x24:
		v = uint64(d.irqs)
	case 0x80:
		v = d.src
	case 0x88:
		v = d.dst
	case 0x90:
		v = d.cnt
	case 0x98:
		v = d.cmd
	case 0xA0:
		v = uint64(d.derr)
	default:
		return
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	copy(data, b[:])
}

func (r regs) Write(off uint64, data []byte) {
	d := r.d
	var b [8]byte
	copy(b[:], data)
	v := binary.LittleEndian.Uint64(b[:])
	d.mu.Lock()
	if off >= bufBase && off < bufBase+bufSize {
		copy(d.buf[off-bufBase:], data)
		d.mu.Unlock()
		return
	}
	fire := false
	switch off {
	case 0x04:
		d.live = uint32(v)
	case 0x60:
		d.irqs |= uint32(v)
		fire = true
	case 0x64:
		d.irqs &^= uint32(v)
	case 0x80:
		d.src = setReg(d.src, data)
	case 0x84:
		d.src = d.src&0xFFFFFFFF | uint64(uint32(v))<<32
	case 0x88:
		d.dst = setReg(d.dst, data)
	case 0x8C:
		d.dst = d.dst&0xFFFFFFFF | uint64(uint32(v))<<32
	case 0x90:
		d.cnt = v
	case 0x98:
		d.cmd = v
		if v&cmdStart != 0 {
			d.transfer()
			d.cmd &^= cmdStart
			if v&cmdIRQ != 0 {
				d.irqs |= irqDMA
				fire = true
			}
		}
	}
	d.mu.Unlock()
	if fire && d.msi != nil {
		_ = d.msi.Trigger(0) // disabled MSI or bus master off: no interrupt
	}
}

// setReg writes the low 4 or all 8 bytes of a 64-bit register.
func setReg(old uint64, data []byte) uint64 {
	if len(data) >= 8 {
		return binary.LittleEndian.Uint64(data)
	}
	var b [4]byte
	copy(b[:], data)
	return old&^0xFFFFFFFF | uint64(binary.LittleEndian.Uint32(b[:]))
}

// transfer runs the DMA the registers describe. Device-side addresses must
// lie in the buffer; guest-side addresses go through the address space.
func (d *Edu) transfer() {
	d.derr = 1
	n := d.cnt
	if n == 0 || n > bufSize {
		return
	}
	if d.cmd&cmdToGuest != 0 {
		if d.src < bufBase || d.src+n > bufBase+bufSize {
			return
		}
		if dma.WriteAt(d.as, d.mem, d.buf[d.src-bufBase:d.src-bufBase+n], d.dst) != nil {
			return
		}
	} else {
		if d.dst < bufBase || d.dst+n > bufBase+bufSize {
			return
		}
		if dma.ReadAt(d.as, d.mem, d.buf[d.dst-bufBase:d.dst-bufBase+n], d.src) != nil {
			return
		}
	}
	d.derr = 0
}
