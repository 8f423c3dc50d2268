package vtd_test

import (
	"encoding/binary"
	"fmt"

	"github.com/govmm/govmm/devices/vtd"
	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/memory"
	"github.com/govmm/govmm/notifier"
)

// guest plays the guest's part for the examples: it writes tables into RAM
// and programs the unit's registers.
type guest struct {
	mem  *memory.Memory
	unit *vtd.Unit
}

func (g guest) put(gpa, v uint64) { g.mem.Store64(gpa, v) }

func (g guest) writeReg(off uint64, v uint64, size int) {
	b := make([]byte, size)
	if size == 4 {
		binary.LittleEndian.PutUint32(b, uint32(v))
	} else {
		binary.LittleEndian.PutUint64(b, v)
	}
	g.unit.Write(off, b)
}

func (g guest) readReg32(off uint64) uint32 {
	var b [4]byte
	g.unit.Read(off, b[:])
	return binary.LittleEndian.Uint32(b[:])
}

// buildTables maps IOVA 0x1000 to GPA 0x200000 (read/write) for device
// 00:03.0 in domain 5: a root table at 0x10000, its context table at
// 0x11000, and a 4-level second-level table at 0x12000.
func (g guest) buildTables() {
	const dev = 0x18                      // bus 0, device 3, function 0
	g.put(0x10000, 0x11000|1)             // root[bus 0]: context table, present
	g.put(0x11000+dev*16+8, 2|5<<8)       // context: AW=2 (4 levels), DID 5
	g.put(0x11000+dev*16, 0x12000|1)      // context: table pointer, TT=0, present
	g.put(0x12000, 0x13000|3)             // level 4, entry 0: R|W
	g.put(0x13000, 0x14000|3)             // level 3, entry 0
	g.put(0x14000, 0x15000|3)             // level 2, entry 0
	g.put(0x15000+1*8, 0x200000|3)        // level 1, entry 1: IOVA 0x1000
	g.writeReg(vtd.RegRTADDR, 0x10000, 8) // root table address
	g.writeReg(vtd.RegGCMD, 1<<30, 4)     // SRTP: latch it
	g.writeReg(vtd.RegGCMD, 1<<31, 4)     // TE: translate
}

// Example enables translation through the unit's registers, the way a
// guest driver does, and translates a device's DMA address.
func Example() {
	mem, _ := memory.New(memory.Region{GPA: 0, Data: make([]byte, 4<<20)})
	cfg, _ := vtd.ParseConfig("aw-bits=48,caching-mode=on")
	unit, err := vtd.New(cfg, mem, nil)
	if err != nil {
		panic(err)
	}
	g := guest{mem, unit}
	g.buildTables()
	fmt.Printf("GSTS %#x\n", g.readReg32(vtd.RegGSTS))

	as := unit.AddressSpace(0x18) // the device's dma.AddressSpace
	gpa, n, err := as.Translate(0x1234, 0x10000, dma.Read)
	fmt.Printf("IOVA 0x1234 -> GPA %#x, %#x bytes contiguous, %v\n", gpa, n, err)
	_, _, err = as.Translate(0x5000, 8, dma.Write)
	fmt.Println(err)
	fmt.Printf("FSTS %#x\n", g.readReg32(vtd.RegFSTS))
	// Output:
	// GSTS 0xc0000000
	// IOVA 0x1234 -> GPA 0x200234, 0xdcc bytes contiguous, <nil>
	// dma: write of IOVA 0x5000 faulted: VT-d fault reason 0x5 (write not permitted), requester 00:03.0
	// FSTS 0x2
}

// ExampleAddressSpace_Register follows the guest's mappings of one device
// with a MAP/UNMAP notifier, as a VFIO consumer does: the current mappings
// are replayed, and an invalidation after a change is notified as a diff.
func ExampleAddressSpace_Register() {
	mem, _ := memory.New(memory.Region{GPA: 0, Data: make([]byte, 4<<20)})
	unit, _ := vtd.New(vtd.DefaultConfig(), mem, nil)
	g := guest{mem, unit}
	g.buildTables()

	as := unit.AddressSpace(0x18)
	print := notifier.Func(func(ev notifier.Event) error {
		if ev.Kind == notifier.Map {
			fmt.Printf("map [%#x, +%#x) -> %#x %s\n", ev.IOVA, ev.Size, ev.Addr, ev.Perm)
		} else {
			fmt.Printf("%s [%#x, +%#x)\n", ev.Kind, ev.IOVA, ev.Size)
		}
		return nil
	})
	if _, err := as.Register(print, notifier.Map|notifier.Unmap, 0, ^uint64(0)); err != nil {
		panic(err)
	}
	// The guest moves IOVA 0x1000 to GPA 0x300000 and invalidates that
	// page with the IOTLB registers: IVA = the page, IOTLB = IVT, PSI,
	// DID 5.
	g.put(0x15000+1*8, 0x300000|3)
	g.writeReg(vtd.RegIVA, 0x1000, 8)
	g.writeReg(vtd.RegIOTLB, 1<<63|3<<60|5<<32, 8)
	// Output:
	// map [0x1000, +0x1000) -> 0x200000 rw
	// unmap [0x1000, +0x1000)
	// map [0x1000, +0x1000) -> 0x300000 rw
}

// ExampleParseConfig shows the values a VMM puts in the DMAR table and the
// capability registers an option string gives.
func ExampleParseConfig() {
	cfg, err := vtd.ParseConfig("aw-bits=39,device-iotlb=on")
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg)
	fmt.Printf("DRHD base %#x, window %#x bytes, HAW %d\n", vtd.RegisterBase, vtd.RegisterWindowSize, cfg.HAW())
	fmt.Printf("CAP %#016x ECAP %#016x\n", cfg.CAP(), cfg.ECAP())
	_, err = vtd.ParseConfig("aw-bits=57")
	fmt.Println(err)
	// Output:
	// aw-bits=39,caching-mode=on,device-iotlb=on,pt=on
	// DRHD base 0xfed90000, window 0x1000 bytes, HAW 39
	// CAP 0x0012078c22260286 ECAP 0x0000000000000f46
	// vtd: invalid configuration: aw-bits=57, want 39 or 48
}
