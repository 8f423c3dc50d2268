package virtiotest

import (
	"fmt"
	"sync"

	"github.com/govmm/govmm/devices/bus"
	"github.com/govmm/govmm/devices/irq"
	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/memory"
	"golang.org/x/sys/unix"
)

// Guest-physical layout of a Machine.
const (
	ECAMBase   = 0xe000_0000    // ECAM window of bus 0
	MMIO32Base = 0xc000_0000    // 32-bit BAR window, 256 MiB
	MMIO64Base = 0x10_0000_0000 // 64-bit BAR window (at 64 GiB), 1 GiB
	MSIAddress = 0xfee0_0000    // MSI-X message address the Driver programs
)

const (
	msiDataTag = 0x4000 // Message Data = msiDataTag | vector
	mmio32Size = 0x1000_0000
	mmio64Size = 0x4000_0000
	pageSize   = uint64(4096)
	pageMask   = pageSize - 1
	ramFlags   = unix.MAP_PRIVATE | unix.MAP_ANONYMOUS
	ramProt    = unix.PROT_READ | unix.PROT_WRITE
)

// Machine is the part of a VM a virtio device sees: guest RAM at GPA 0,
// the MMIO bus, one PCI segment (bus 0, ECAM at ECAMBase) and an MSI
// recorder standing in for the interrupt controller.
type Machine struct {
	Mem  *memory.Memory
	MMIO *bus.Bus
	Seg  *pci.Segment
	MSI  *MSIRecorder
	ram  []byte
}

// NewMachine returns a machine with ramSize bytes of RAM (rounded up to a
// page) at GPA 0. Close releases the RAM.
func NewMachine(ramSize uint64) (*Machine, error) {
	ramSize = (ramSize + pageMask) &^ pageMask
	ram, err := unix.Mmap(-1, 0, int(ramSize), ramProt, ramFlags)
	if err != nil {
		return nil, fmt.Errorf("virtiotest: mmap %d bytes of guest RAM: %w", ramSize, err)
	}
	mem, err := memory.New(memory.Region{GPA: 0, Data: ram})
	if err != nil {
		unix.Munmap(ram)
		return nil, err
	}
	m := &Machine{Mem: mem, MMIO: &bus.Bus{}, MSI: NewMSIRecorder(), ram: ram}
	m.Seg, err = pci.NewSegment(pci.SegmentConfig{
		ECAMBase: ECAMBase, BusStart: 0, BusEnd: 0, MMIO: m.MMIO,
		MMIO32: pci.Window{Base: MMIO32Base, Size: mmio32Size},
		MMIO64: pci.Window{Base: MMIO64Base, Size: mmio64Size},
	})
	if err != nil {
		unix.Munmap(ram)
		return nil, err
	}
	base, size := m.Seg.ECAMWindow()
	if err := m.MMIO.Insert(base, size, m.Seg.ECAM()); err != nil {
		unix.Munmap(ram)
		return nil, err
	}
	return m, nil
}

// Close unmaps guest RAM; the machine must not be used afterwards. Close
// every device (virtio.Transport.Close) first: their goroutines read RAM.
func (m *Machine) Close() error { return unix.Munmap(m.ram) }

// RAM returns the host bytes of guest RAM (GPA 0 upwards).
func (m *Machine) RAM() []byte { return m.ram }

// MSIRecorder is an irq.MSISender that records every message and lets a
// test wait for the next one of a given vector. Safe for concurrent use.
type MSIRecorder struct {
	mu     sync.Mutex
	counts map[uint32]int // by Message Data
	waits  map[uint32]chan struct{}
	err    error
}

// NewMSIRecorder returns an empty recorder.
func NewMSIRecorder() *MSIRecorder {
	return &MSIRecorder{counts: map[uint32]int{}, waits: map[uint32]chan struct{}{}}
}

// SendMSI records m; it fails (and records nothing) after SetError.
func (r *MSIRecorder) SendMSI(m irq.MSI) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.counts[m.Data]++
	if ch, ok := r.waits[m.Data]; ok {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return nil
}

// SetError makes SendMSI fail with err (nil restores it).
func (r *MSIRecorder) SetError(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// Count returns how many messages MSI-X vector v (as programmed by a
// Driver) sent.
func (r *MSIRecorder) Count(v int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[msiData(v)]
}

// signal returns a channel that receives (coalesced) every message of
// vector v from now on.
func (r *MSIRecorder) signal(v int) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := msiData(v)
	ch, ok := r.waits[d]
	if !ok {
		ch = make(chan struct{}, 1)
		r.waits[d] = ch
	}
	return ch
}

func msiData(v int) uint32 { return msiDataTag | uint32(v) }
