package pci

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/govmm/govmm/devices/bus"
	"github.com/govmm/govmm/devices/irq"
)

// recSender records the MSIs it is asked to send.
type recSender struct {
	mu   sync.Mutex
	msgs []irq.MSI
	err  error
}

func (s *recSender) SendMSI(m irq.MSI) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.msgs = append(s.msgs, m)
	return nil
}

func (s *recSender) take() []irq.MSI {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.msgs
	s.msgs = nil
	return m
}

// barHandler is a BAR handler that reads its tag in every byte and
// counts accesses.
type barHandler struct {
	tag    byte
	mu     sync.Mutex
	writes []uint64
}

func (h *barHandler) Read(off uint64, data []byte) { fill(data, h.tag) }
func (h *barHandler) Write(off uint64, data []byte) {
	h.mu.Lock()
	h.writes = append(h.writes, off)
	h.mu.Unlock()
}

// msixBAR serves an MSI-X table and PBA in BAR 0, zeros elsewhere.
type msixBAR struct{ d *testDev }

func (h *msixBAR) Read(off uint64, data []byte) {
	if !h.d.msix.ReadBAR(0, off, data) {
		fill(data, 0)
	}
}
func (h *msixBAR) Write(off uint64, data []byte) { h.d.msix.WriteBAR(0, off, data) }

// testDev is a function with one of every BAR type, MSI, MSI-X and a PCI
// Express capability. It records observer calls.
type testDev struct {
	*ConfigSpace
	msi      *MSI
	msix     *MSIX
	handlers [NumBARs]bus.Handler
	mu       sync.Mutex
	events   []string
}

func (d *testDev) BARMapped(i int, base uint64, mapped bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events = append(d.events, fmt.Sprintf("bar%d %v %#x", i, map[bool]string{true: "map", false: "unmap"}[mapped], base))
}

func (d *testDev) CommandChanged(old, new uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.events = append(d.events, fmt.Sprintf("cmd %#x->%#x", old, new))
}

func (d *testDev) takeEvents() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.events
	d.events = nil
	return e
}

// Layout of testDev's BARs.
var testBARs = []struct {
	index int
	bar   BAR
}{
	{0, BAR{Type: BARMem32, Size: 0x1000}}, // MSI-X table at 0, PBA at 0x800
	{1, BAR{Type: BARIO, Size: 0x20}},
	{2, BAR{Type: BARMem64, Size: 1 << 20, Prefetchable: true}}, // 2 and 3
	{4, BAR{Type: BARMem64, Size: 1 << 33}},                     // 4 and 5, larger than 4 GiB
}

func newTestDev(t testing.TB, sender irq.MSISender) *testDev {
	t.Helper()
	cs, err := NewConfigSpace(Header{VendorID: 0x1b36, DeviceID: 0x0005, Class: ClassOther, InterruptPin: 1, SubsystemVendorID: 0x1af4, SubsystemID: 0x1100})
	if err != nil {
		t.Fatal(err)
	}
	d := &testDev{ConfigSpace: cs}
	for _, b := range testBARs {
		bb := b.bar
		if b.index == 0 {
			bb.Handler = &msixBAR{d}
		} else {
			bb.Handler = &barHandler{tag: byte(0xa0 + b.index)}
		}
		d.handlers[b.index] = bb.Handler
		if err := cs.AddBAR(b.index, bb); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := AddPCIExpress(cs); err != nil {
		t.Fatal(err)
	}
	if d.msi, err = AddMSI(cs, MSIConfig{Vectors: 4, PerVectorMask: true}, sender); err != nil {
		t.Fatal(err)
	}
	if d.msix, err = AddMSIX(cs, MSIXConfig{Vectors: 8, TableBAR: 0, TableOffset: 0, PBABAR: 0, PBAOffset: 0x800}, sender); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AddExtendedCapability(ExtCapIDVendorSpecific, 1, []byte{1, 2, 3, 4}, nil); err != nil {
		t.Fatal(err)
	}
	return d
}

// rig is a segment wired to buses the way the VMM wires it, with a guest
// that reaches it only through those buses.
type rig struct {
	seg      *Segment
	mmio, io *bus.Bus
	cio      *ConfigIO
	resets   []uint8
	mapErrs  []error
	sender   *recSender
}

const (
	testECAM = 0xe000_0000
)

var (
	testMMIO32 = Window{Base: 0xc000_0000, Size: 0x1000_0000}
	testMMIO64 = Window{Base: 0x100_0000_0000, Size: 0x10_0000_0000}
	testIO     = Window{Base: 0xc000, Size: 0x1000}
)

func newRig(t testing.TB, busStart, busEnd uint8) *rig {
	t.Helper()
	r := &rig{mmio: &bus.Bus{}, io: &bus.Bus{}, sender: &recSender{}}
	seg, err := NewSegment(SegmentConfig{
		ECAMBase: testECAM, BusStart: busStart, BusEnd: busEnd,
		MMIO: r.mmio, IO: r.io,
		MMIO32: testMMIO32, MMIO64: testMMIO64, IOPorts: testIO,
		OnMapError: func(err error) { r.mapErrs = append(r.mapErrs, err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.seg = seg
	base, size := seg.ECAMWindow()
	if err := r.mmio.Insert(base, size, seg.ECAM()); err != nil {
		t.Fatal(err)
	}
	r.cio = NewConfigIO(seg, func(v uint8) { r.resets = append(r.resets, v) })
	if err := r.io.Insert(ConfigIOPort, ConfigIOSize, r.cio); err != nil {
		t.Fatal(err)
	}
	return r
}

func le(data []byte) uint32 {
	var b [4]byte
	copy(b[:], data)
	return binary.LittleEndian.Uint32(b[:])
}

func leBytes(v uint32, n int) []byte {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return b[:n]
}

// Guest configuration accessors through ECAM.
func (r *rig) read(b BDF, reg, n int) uint32 {
	data := make([]byte, n)
	r.mmio.Read(testECAM+ECAMOffset(b, reg), data)
	return le(data)
}

func (r *rig) write(b BDF, reg, n int, v uint32) {
	r.mmio.Write(testECAM+ECAMOffset(b, reg), leBytes(v, n))
}

// Guest configuration accessors through CF8/CFC.
func (r *rig) cf8Read(b BDF, reg, n int) uint32 {
	r.io.Write(ConfigIOPort, leBytes(ConfigAddress(b, reg), 4))
	data := make([]byte, n)
	r.io.Read(ConfigIOPort+4+uint64(reg&3), data)
	return le(data)
}

func (r *rig) cf8Write(b BDF, reg, n int, v uint32) {
	r.io.Write(ConfigIOPort, leBytes(ConfigAddress(b, reg), 4))
	r.io.Write(ConfigIOPort+4+uint64(reg&3), leBytes(v, n))
}

// lookupHandler returns the handler mapped at addr on bus b, with its
// offset, or nil.
func lookupHandler(b *bus.Bus, addr uint64) (bus.Handler, uint64) {
	h, off, ok := b.Lookup(addr)
	if !ok {
		return nil, 0
	}
	return h, off
}

// linuxBARSize decodes a BAR size from the value read back after writing
// all ones, the way Linux's pci_size() does: the lowest set bit of the
// address mask.
func linuxBARSize(readback uint64, mask uint64) uint64 {
	size := readback & mask
	if size == 0 {
		return 0
	}
	return size & ^(size - 1)
}

var errSend = errors.New("send failed")
