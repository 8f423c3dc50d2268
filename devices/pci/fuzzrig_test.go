package pci

import (
	"encoding/binary"
	"testing"

	"github.com/govmm/govmm/devices/bus"
)

// fuzzRig is a segment with a host bridge, two full test devices and a
// multi-function neighbour, plus an independent model of what the guest
// did, used to check the segment's invariants after every access.
type fuzzRig struct {
	*rig
	devs    map[BDF]*ConfigSpace
	full    map[BDF]*testDev
	handler map[bus.Handler]barID // every BAR handler, to recognise them on the buses
	pending map[barID]bool        // model: 64-bit BAR whose upper half is still to come
	seen    map[uint64]bool       // every address a BAR was ever decoded at, per bus kind
	ro      map[BDF][]byte        // read-only bytes at start (0 where writable)
	rom     map[BDF][]byte        // 0xff where a byte is entirely read-only
	w1c     map[BDF][]byte
	latch   uint32
}

type barID struct {
	bdf BDF
	bar int
}

var (
	fuzzBridge = BDF{}
	fuzzDevA   = BDF{Device: 1}
	fuzzDevB   = BDF{Device: 2}
	fuzzFn     = BDF{Device: 2, Function: 3}
	fuzzBDFs   = []BDF{fuzzBridge, fuzzDevA, fuzzDevB, fuzzFn, {Device: 3}, {Device: 1, Function: 1}, {Device: 31, Function: 7}}
)

func newFuzzRig(t testing.TB) *fuzzRig {
	r := &fuzzRig{
		rig:     newRig(t, 0, 0),
		devs:    map[BDF]*ConfigSpace{},
		full:    map[BDF]*testDev{},
		handler: map[bus.Handler]barID{},
		pending: map[barID]bool{},
		seen:    map[uint64]bool{},
		ro:      map[BDF][]byte{},
		rom:     map[BDF][]byte{},
		w1c:     map[BDF][]byte{},
	}
	add := func(b BDF, d Device) {
		if err := r.seg.Add(b, d); err != nil {
			t.Fatal(err)
		}
		r.devs[b] = d.Config()
	}
	add(fuzzBridge, NewHostBridge())
	for _, b := range []BDF{fuzzDevA, fuzzDevB} {
		d := newTestDev(t, r.sender)
		add(b, d)
		r.full[b] = d
		for i, h := range d.handlers {
			if h != nil {
				r.handler[h] = barID{b, i}
			}
		}
	}
	fn, _ := NewConfigSpace(Header{VendorID: 0x8086, DeviceID: 0x1234, Class: ClassOther})
	h := &barHandler{tag: 0x77}
	if err := fn.AddBAR(0, BAR{Type: BARIO, Size: 16, Handler: h}); err != nil {
		t.Fatal(err)
	}
	add(fuzzFn, fn)
	r.handler[h] = barID{fuzzFn, 0}
	for b, cs := range r.devs {
		data := cs.Bytes()
		wm, w1c := cs.Masks(0, ConfigSize)
		rom := specReadOnly(t, cs)
		for i := range data {
			rom[i] |= ^(wm[i] | w1c[i]) // and whatever the function declares read-only
		}
		if d, ok := r.full[b]; ok { // MSI Pending Bits: set by the device
			for i := range 4 {
				rom[d.msi.Offset()+MSIPending+i] = 0
			}
		}
		r.ro[b], r.rom[b], r.w1c[b] = data, rom, w1c
	}
	return r
}

// specReadOnly returns, per byte, the bits of cs that the PCI
// specifications make read-only whatever a device declares: the type 0
// header's identity and reserved bits, the Command and Status bits that
// are not RW or RW1C, capability IDs and next pointers, and the read-only
// fields of MSI and MSI-X.
func specReadOnly(t testing.TB, cs *ConfigSpace) []byte {
	ro := make([]byte, ConfigSize)
	set := func(off, size int, mask uint32) {
		for i := range size {
			ro[off+i] |= byte(mask >> (8 * i))
		}
	}
	set(RegVendorID, 4, ^uint32(0))
	set(RegCommand, 2, 0xfab8) // bits 3–5, 7, 9, 11–15
	set(RegStatus, 2, 0x06ff)  // all but the RW1C error bits
	set(RegRevisionID, 4, ^uint32(0))
	set(RegLatencyTimer, 3, ^uint32(0)) // latency timer (PCIe), header type, BIST
	set(RegCardbusCIS, 12, ^uint32(0))  // CardBus CIS, subsystem IDs, no ROM
	set(RegCapabilitiesPtr, 8, ^uint32(0))
	set(RegInterruptPin, 3, ^uint32(0))
	caps, err := ParseCapabilities(cs.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range caps {
		if c.Extended {
			set(c.Offset, 4, ^uint32(0))
			continue
		}
		set(c.Offset, 2, 0xffff)
		switch c.ID {
		case CapIDMSI:
			set(c.Offset+MSIControl, 2, ^uint32(0x0071))
			set(c.Offset+MSIAddressLo, 1, 3)
		case CapIDMSIX:
			set(c.Offset+MSIXControl, 2, 0x3fff)
			set(c.Offset+MSIXTable, 8, ^uint32(0))
		}
	}
	return ro
}

// noteWrite updates the model for a guest write that reached b.
func (r *fuzzRig) noteWrite(b BDF, reg, n int) {
	cs, ok := r.devs[b]
	if !ok {
		return
	}
	overlaps := func(lo, size int) bool { return reg < lo+size && lo < reg+n }
	for i := range NumBARs {
		decl, ok := cs.BAR(i)
		if !ok || decl.Type != BARMem64 {
			continue
		}
		id := barID{b, i}
		switch lo := RegBAR0 + 4*i; {
		case overlaps(RegCommand, 2):
			r.pending[id] = false
		case overlaps(lo+4, 4):
			r.pending[id] = false
		case overlaps(lo, 4):
			r.pending[id] = true
		}
	}
}

// modelAccess reports which function and register a configuration access
// reaches, by the PCI rules, independently of the segment code.
func modelAccess(reg, n int) bool {
	return (n == 1 || n == 2 || n == 4) && reg >= 0 && reg < ConfigSize && reg%4+n <= 4
}

func (r *fuzzRig) ecam(write bool, off uint64, n int, val uint64) {
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(val >> (8 * i))
	}
	addr := testECAM + off%(1<<20)
	b := BDF{Device: uint8(off>>15) & 31, Function: uint8(off>>12) & 7}
	reg := int(off & 0xfff)
	if !write {
		r.mmio.Read(addr, data)
		_, present := r.devs[b]
		if !present || !(modelAccess(reg, n) || (n == 8 && reg%8 == 0)) {
			for _, x := range data {
				if x != 0xff {
					panic("read of an absent function or a bad access is not all ones")
				}
			}
		}
		return
	}
	r.mmio.Write(addr, data)
	switch {
	case n == 8 && reg%8 == 0:
		r.noteWrite(b, reg, 4)
		r.noteWrite(b, reg+4, 4)
	case modelAccess(reg, n):
		r.noteWrite(b, reg, n)
	}
}

func (r *fuzzRig) cfc(write bool, k uint64, n int, val uint64) {
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(val >> (8 * i))
	}
	k %= 4
	if !write {
		r.io.Read(ConfigIOPort+4+k, data)
		return
	}
	r.io.Write(ConfigIOPort+4+k, data)
	if r.latch&ConfigAddressEnable == 0 || int(k)+n > 4 || (n != 1 && n != 2 && n != 4) {
		return
	}
	if r.latch>>16&0xff != 0 {
		return // bus 1+: not in this segment
	}
	b := BDF{Device: uint8(r.latch>>11) & 31, Function: uint8(r.latch>>8) & 7}
	r.noteWrite(b, int(r.latch&0xfc)+int(k), n)
}

// check verifies the invariants: read-only bytes unchanged, RW1C bits
// never set by the guest, BAR registers keep their type bits and size
// alignment, and each BAR is on its bus exactly where and when the
// registers and decode bits say (unless another range holds the place).
func (r *fuzzRig) check(t testing.TB) {
	type rng struct{ base, size uint64 }
	mapped := map[bool][]rng{} // by "is I/O"
	ecamBase, ecamSize := r.seg.ECAMWindow()
	mapped[false] = append(mapped[false], rng{ecamBase, ecamSize})
	mapped[true] = append(mapped[true], rng{ConfigIOPort, ConfigIOSize})
	for b, cs := range r.devs {
		data, ro, rom, w1c := cs.Bytes(), r.ro[b], r.rom[b], r.w1c[b]
		for i := 0; i < ConfigSize; i += 8 { // 8 bytes at a time; bytes on failure
			d, m, c := binary.LittleEndian.Uint64(data[i:]), binary.LittleEndian.Uint64(rom[i:]), binary.LittleEndian.Uint64(w1c[i:])
			if d&m == binary.LittleEndian.Uint64(ro[i:])&m && d&c == 0 {
				continue
			}
			for j := i; j < i+8; j++ {
				if data[j]&rom[j] != ro[j]&rom[j] {
					t.Fatalf("%v: read-only byte %#x changed from %#x to %#x", b, j, ro[j], data[j])
				}
				if data[j]&w1c[j] != 0 { // all start clear; only the guest clears them
					t.Fatalf("%v: RW1C bits %#x of byte %#x were set", b, data[j]&w1c[j], j)
				}
			}
		}
		for i := range NumBARs {
			if base, ok := r.seg.BARMapping(b, i); ok {
				decl, _ := cs.BAR(i)
				mapped[decl.Type == BARIO] = append(mapped[decl.Type == BARIO], rng{base, decl.Size})
			}
		}
	}
	for b, cs := range r.devs {
		cmd := cs.Command()
		for i := range NumBARs {
			decl, ok := cs.BAR(i)
			if !ok {
				continue
			}
			id := barID{b, i}
			lo := cs.Uint32(RegBAR0 + 4*i)
			var addr uint64
			var on bool
			var bs *bus.Bus
			var spaceLast uint64
			switch decl.Type {
			case BARIO:
				if lo&3 != 1 || lo>>16 != 0 || uint64(lo&^3)&(decl.Size-1) != 0 {
					t.Fatalf("%v BAR %d I/O register %#x breaks the sizing rules (size %#x)", b, i, lo, decl.Size)
				}
				addr, on, bs, spaceLast = uint64(lo&^3), cmd&CmdIOSpace != 0, r.io, 0xffff
			case BARMem32:
				if lo&0xf != decl.flags() || uint64(lo&^0xf)&(decl.Size-1) != 0 {
					t.Fatalf("%v BAR %d mem32 register %#x breaks the sizing rules (size %#x)", b, i, lo, decl.Size)
				}
				addr, on, bs, spaceLast = uint64(lo&^0xf), cmd&CmdMemorySpace != 0, r.mmio, 0xffff_ffff
			case BARMem64:
				hi := cs.Uint32(RegBAR0 + 4*i + 4)
				addr = uint64(lo&^0xf) | uint64(hi)<<32
				if lo&0xf != decl.flags() || addr&(decl.Size-1) != 0 {
					t.Fatalf("%v BAR %d mem64 registers %#x:%#x break the sizing rules (size %#x)", b, i, hi, lo, decl.Size)
				}
				on, bs, spaceLast = cmd&CmdMemorySpace != 0, r.mmio, ^uint64(0)
			}
			want := on && !r.pending[id] && addr != 0 && addr+decl.Size-1 < spaceLast
			base, isMapped := r.seg.BARMapping(b, i)
			h, off := lookupHandler(bs, addr)
			switch {
			case isMapped && !want:
				t.Fatalf("%v BAR %d mapped at %#x although decode=%v pending=%v addr=%#x", b, i, base, on, r.pending[id], addr)
			case isMapped && (base != addr || h != decl.Handler || off != 0):
				t.Fatalf("%v BAR %d mapped at %#x but registers say %#x (bus has %v+%#x)", b, i, base, addr, h, off)
			case want && !isMapped:
				conflict := false
				for _, m := range mapped[decl.Type == BARIO] {
					if m.base <= addr+decl.Size-1 && addr <= m.base+m.size-1 {
						conflict = true
					}
				}
				if !conflict {
					t.Fatalf("%v BAR %d wants [%#x, +%#x) which is free, but is not mapped", b, i, addr, decl.Size)
				}
			}
			if isMapped {
				r.seen[base] = true
			}
		}
	}
	// No stale mapping: every address a BAR was ever decoded at resolves
	// to nothing, to a non-BAR range, or to a BAR mapped over it now.
	for a := range r.seen {
		for _, bs := range []*bus.Bus{r.mmio, r.io} {
			h, off := lookupHandler(bs, a)
			id, isBAR := r.handler[h]
			if h == nil || !isBAR {
				continue
			}
			base, ok := r.seg.BARMapping(id.bdf, id.bar)
			if !ok || base != a-off {
				t.Fatalf("stale mapping of %v BAR %d at %#x", id.bdf, id.bar, a)
			}
		}
	}
}

// run plays one fuzz program: 10-byte records of
// kind, target, offset (2 bytes), size, value (4 bytes), extra.
func (r *fuzzRig) run(t testing.TB, prog []byte) {
	sizes := []int{1, 2, 4, 4, 8, 3}
	for len(prog) >= 10 {
		rec := prog[:10]
		prog = prog[10:]
		b := fuzzBDFs[int(rec[1])%len(fuzzBDFs)]
		off := int(binary.LittleEndian.Uint16(rec[2:]) & 0xfff)
		n := sizes[int(rec[4])%len(sizes)]
		val := uint64(binary.LittleEndian.Uint32(rec[5:]))
		val |= val << 32
		switch rec[0] % 10 {
		case 0:
			r.ecam(false, ECAMOffset(b, off), n, 0)
		case 1:
			r.ecam(true, ECAMOffset(b, off), n, val)
		case 2: // directed: Command
			r.ecam(true, ECAMOffset(b, RegCommand), 2, val)
		case 3: // directed: a BAR register, with interesting values
			reg := RegBAR0 + 4*(off%NumBARs)
			v := []uint64{val, 0xffff_ffff, val & 0xffff_f000, 0}[rec[9]%4]
			r.ecam(true, ECAMOffset(b, reg), 4, v)
		case 4: // CONFIG_ADDRESS
			r.latch = uint32(val)
			if rec[9]&1 == 0 {
				r.latch = ConfigAddress(b, off)
			}
			r.io.Write(ConfigIOPort, leBytes(r.latch, 4))
		case 5:
			r.cfc(false, uint64(off), n, 0)
		case 6:
			r.cfc(true, uint64(off), n, val)
		case 7: // MSI / MSI-X triggers
			if d, ok := r.full[b]; ok {
				_ = d.msi.Trigger(int(rec[9]) % 5)
				_ = d.msix.Trigger(int(rec[9]) % 9)
			}
		case 8: // MSI-X table / PBA
			if d, ok := r.full[b]; ok {
				data := leBytes(uint32(val), min(n, 4))
				if rec[9]&1 == 0 {
					d.msix.WriteBAR(0, uint64(off)%0x900, data)
				} else {
					d.msix.ReadBAR(0, uint64(off)%0x900, data)
				}
			}
		case 9: // raw CF8-range port access
			data := leBytes(uint32(val), min(n, 4))
			if off%8 >= 4 {
				r.cfc(rec[9]&1 == 0, uint64(off%4), len(data), val)
			} else if rec[9]&1 == 0 {
				r.io.Write(ConfigIOPort+uint64(off%8), data)
				if off%8 == 0 && len(data) == 4 {
					r.latch = uint32(val)
				}
			} else {
				r.io.Read(ConfigIOPort+uint64(off%8), data)
			}
		}
		r.check(t)
	}
}
