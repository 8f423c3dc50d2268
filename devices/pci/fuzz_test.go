package pci

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/govmm/govmm/devices/irq"
)

func rec(kind byte, b int, off uint16, size byte, val uint32, extra byte) []byte {
	r := []byte{kind, byte(b), byte(off), byte(off >> 8), size}
	r = binary.LittleEndian.AppendUint32(r, val)
	return append(r, extra)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func fuzzSeeds() [][]byte {
	const a, bb = 1, 2 // indexes of fuzzDevA and fuzzDevB in fuzzBDFs
	return [][]byte{
		// Enable decode on both devices, move BARs over each other.
		cat(rec(2, a, 0, 0, 3, 0), rec(2, bb, 0, 0, 3, 0),
			rec(3, bb, 0, 0, 0, 0xc0), rec(3, a, 0, 0, 0, 0xc0)),
		// Sizing with decode on, 64-bit halves.
		cat(rec(2, a, 0, 0, 2, 0), rec(3, a, 2, 0, 0, 1), rec(3, a, 3, 0, 0, 1),
			rec(3, a, 2, 0, 0x1000, 2), rec(3, a, 3, 0, 0x100, 0)),
		// CF8/CFC byte and word accesses.
		cat(rec(4, a, 0x04, 0, 0, 0), rec(6, a, 0, 0, 0x0007, 0), rec(5, a, 1, 1, 0, 0),
			rec(6, a, 2, 1, 0xffff, 0), rec(4, a, 0x3c, 0, 0, 0), rec(6, a, 1, 0, 0xff, 0)),
		// MSI and MSI-X programming and triggers.
		cat(rec(2, a, 0, 0, 6, 0), rec(1, a, 0x4e, 1, 0x11, 0), rec(8, a, 0x0c, 2, 0, 0),
			rec(7, a, 0, 0, 0, 1), rec(1, a, 0x70, 1, 0xc000, 0), rec(7, a, 0, 0, 0, 0)),
		// Malformed accesses.
		cat(rec(0, a, 0x3, 1, 0, 0), rec(1, a, 0x4, 4, ^uint32(0), 0), rec(1, 4, 0, 2, 0, 0),
			rec(9, a, 1, 0, 6, 0), rec(9, a, 3, 1, 0, 1)),
		// Remapping through the multi-function neighbour's I/O BAR.
		cat(rec(2, 3, 0, 0, 1, 0), rec(3, 3, 0, 0, 0xc011, 0), rec(2, a, 0, 0, 1, 0), rec(3, a, 1, 0, 0xc011, 0)),
	}
}

// FuzzSegment plays random configuration accesses (ECAM, CF8/CFC, raw
// ports), BAR and Command writes, MSI/MSI-X table accesses and triggers
// against a segment and checks its invariants after every step.
func FuzzSegment(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) > 1500 {
			prog = prog[:1500]
		}
		r := newFuzzRig(t)
		r.run(t, prog)
	})
}

// TestFuzzSeeds runs the fuzz seeds as an ordinary test.
func TestFuzzSeeds(t *testing.T) {
	for _, s := range fuzzSeeds() {
		r := newFuzzRig(t)
		r.run(t, s)
	}
}

// TestRandomPrograms plays seeded pseudo-random programs through the fuzz
// harness, so every run exercises far more than the seeds.
func TestRandomPrograms(t *testing.T) {
	const seed = 1
	rng := rand.New(rand.NewPCG(uint64(seed), 2))
	n := 150
	if testing.Short() {
		n = 30
	}
	for range n {
		prog := make([]byte, rng.IntN(1500))
		for i := range prog {
			prog[i] = byte(rng.Uint32())
		}
		newFuzzRig(t).run(t, prog)
	}
}

// FuzzParseCapabilities walks arbitrary configuration images: it must
// terminate, never panic, and only report capabilities inside the image,
// at DWORD-aligned offsets in the right area.
func FuzzParseCapabilities(f *testing.F) {
	cs := newTestDev(f, &recSender{}).ConfigSpace
	f.Add(cs.Bytes())
	f.Add(cs.Bytes()[:256])
	loop := make([]byte, ConfigSize)
	loop[RegStatus] = StatusCapabilitiesList
	loop[RegCapabilitiesPtr] = 0x40
	loop[0x41] = 0x40
	binary.LittleEndian.PutUint32(loop[0x100:], 0x100<<20|1)
	f.Add(loop)
	f.Fuzz(func(t *testing.T, cfg []byte) {
		caps, _ := ParseCapabilities(cfg)
		for _, c := range caps {
			lo, hi := firstStandardCapSlot, CompatSize
			if c.Extended {
				lo, hi = firstExtendedCapSlot, min(len(cfg), ConfigSize)
			}
			if c.Offset < lo || c.Offset+2 > hi || c.Offset%4 != 0 {
				t.Fatalf("capability %+v outside [%#x, %#x) or unaligned", c, lo, hi)
			}
		}
		if len(caps) > 48+(ConfigSize-CompatSize)/4 {
			t.Fatalf("%d capabilities: the walk did not stop at a loop", len(caps))
		}
	})
}

// FuzzMSIX plays random Message Control, Command and table/PBA accesses
// and triggers against an MSI-X capability and checks: every message sent
// belongs to a vector that was deliverable, the vector hook always agrees
// with Message, read-only table bits stay zero, and no vector stays
// pending once it is deliverable.
func FuzzMSIX(f *testing.F) {
	f.Add([]byte{0, 0x80, 1, 0x04, 2, 0x0c, 0, 3, 1, 0, 3, 1})
	f.Add([]byte{0, 0xc0, 1, 0x04, 3, 5, 2, 0x5c, 0, 0, 0x40, 3, 5})
	f.Add([]byte{2, 0x00, 0xff, 0xff, 0xff, 0xff, 4, 0xe3, 2, 0x1c, 0xfe, 1, 0, 4})
	f.Fuzz(func(t *testing.T, prog []byte) {
		s := &recSender{}
		cs, _ := NewConfigSpace(Header{VendorID: 1})
		_ = cs.AddBAR(0, BAR{Type: BARMem32, Size: 0x1000, Handler: &barHandler{}})
		m, err := AddMSIX(cs, MSIXConfig{Vectors: 70, TableOffset: 0, PBABAR: 0, PBAOffset: 0x800}, s)
		if err != nil {
			t.Fatal(err)
		}
		type st struct {
			msg    irq.MSI
			masked bool
		}
		last := map[int]st{}
		m.SetVectorHook(func(v int, msg irq.MSI, masked bool) { last[v] = st{msg, masked} })
		deliverable := func(v int) bool {
			_, masked := m.Message(v)
			return !masked && cs.Command()&CmdBusMaster != 0
		}
		for len(prog) >= 3 {
			kind, a, bv := prog[0], int(prog[1]), prog[2]
			prog = prog[3:]
			switch kind % 5 {
			case 0:
				cs.WriteConfig(m.Offset()+MSIXControl+1, []byte{bv})
			case 1:
				cs.WriteConfig(RegCommand, []byte{bv & CmdBusMaster})
			case 2:
				m.WriteBAR(0, uint64(a)*17%0x480, []byte{bv, bv, bv, bv}[:1+int(bv)%4])
			case 3:
				v := a % 71
				wasOK := v < 70 && deliverable(v)
				want, _ := m.Message(v)
				err := m.Trigger(v)
				sent := s.take()
				if wasOK && (err != nil || len(sent) != 1 || sent[0] != want) {
					t.Fatalf("deliverable vector %d: err %v, sent %v, want %v", v, err, sent, want)
				}
				if !wasOK && len(sent) != 0 {
					t.Fatalf("vector %d not deliverable but sent %v", v, sent)
				}
			case 4:
				m.ReadBAR(0, uint64(a)*9%0x900, make([]byte, 1+int(bv)%8))
			}
			for _, msg := range s.take() {
				// Deliveries on unmask: the vector must now be unmasked.
				found := false
				for v := range 70 {
					if got, masked := m.Message(v); got == msg && !masked {
						found = true
					}
				}
				if !found {
					t.Fatalf("message %+v sent for no unmasked vector", msg)
				}
			}
			for v := range 70 {
				msg, masked := m.Message(v)
				if l := last[v]; l.msg != msg || l.masked != masked {
					t.Fatalf("vector %d: hook last said %+v, Message says %+v %v", v, l, msg, masked)
				}
				if m.Pending(v) && deliverable(v) {
					t.Fatalf("vector %d pending although deliverable", v)
				}
				var e [16]byte
				m.ReadBAR(0, uint64(v)*16, e[:])
				if e[0]&3 != 0 || e[12]&^1 != 0 || e[13]|e[14]|e[15] != 0 {
					t.Fatalf("vector %d entry has read-only bits set: % x", v, e)
				}
			}
		}
	})
}
