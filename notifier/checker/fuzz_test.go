package checker

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/govmm/govmm/notifier"
)

// FuzzCheckers feeds both checkers a sequence of arbitrary events decoded
// from the input (12 bytes each) and checks that nothing panics and that the
// state stays coherent: mappings sorted and disjoint, Len and Lookup agree
// with Mappings, a refused event changes nothing (except an iommufd unmap
// stopped by ErrBisect, which removes only whole areas inside its range), an
// accepted Map is held afterwards, and the counters add up.
func FuzzCheckers(f *testing.F) {
	enc := func(evs ...notifier.Event) []byte {
		var b []byte
		for _, ev := range evs {
			b = append(b, byte(ev.Kind), byte(ev.Perm))
			b = binary.LittleEndian.AppendUint16(b, uint16(ev.IOVA>>12))
			b = binary.LittleEndian.AppendUint32(b, uint32(ev.Size))
			b = binary.LittleEndian.AppendUint32(b, uint32(ev.Addr))
		}
		return b
	}
	f.Add(enc(mapEv(0x1000, 0x2000, 0x5000), unmapEv(0x1000, 0x2000)))
	f.Add(enc(mapEv(0x1000, 0x1000, 0x5000), mapEv(0x2000, 0x2000, 0x6000), unmapEv(0x1000, 0x2000)))
	f.Add(enc(mapEv(0x1000, 0x3000, 0x5000), unmapEv(0x2000, 0x1000), unmapEv(0, 0x1801)))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		t1 := &Type1{Limit: 16}
		fd := &IOMMUFD{}
		var n uint64
		if len(data) > 12*64 {
			return // the checks are O(n) per event: keep executions and minimization fast
		}
		for len(data) >= 12 {
			ev := notifier.Event{
				Kind: notifier.Kind(data[0] % 5),
				Perm: notifier.Perm(data[1] % 5),
				IOVA: uint64(binary.LittleEndian.Uint16(data[2:])) << 12,
				Size: uint64(binary.LittleEndian.Uint32(data[4:])),
				Addr: uint64(binary.LittleEndian.Uint32(data[8:])),
			}
			if data[1]&0x80 != 0 { // reach the top of the space too
				ev.IOVA = ^ev.IOVA &^ 0xfff
			}
			data = data[12:]
			n++
			applyAndCheck(t, "type1", t1, ev, false)
			applyAndCheck(t, "iommufd", fd, ev, true)
		}
		for _, cs := range []Counts{t1.Counts(), fd.Counts()} {
			if cs.Maps+cs.Unmaps+cs.DevIOTLBUnmaps+cs.Other != n {
				t.Fatalf("counts %+v do not add up to %d events", cs, n)
			}
		}
	})
}

func applyAndCheck(t *testing.T, name string, c checkerUnderTest, ev notifier.Event, iommufd bool) {
	before := c.Mappings()
	err := c.Notify(ev)
	after := c.Mappings()
	for i, m := range after {
		if m.Size == 0 || m.IOVA+m.Size-1 < m.IOVA {
			t.Fatalf("%s: invalid mapping %v", name, m)
		}
		if i > 0 && after[i-1].Last() >= m.IOVA {
			t.Fatalf("%s: mappings %v and %v overlap or are out of order", name, after[i-1], m)
		}
		if got, ok := c.Lookup(m.IOVA); !ok || got != m {
			t.Fatalf("%s: Lookup(%#x) = %v %v, want %v", name, m.IOVA, got, ok, m)
		}
	}
	if c.Len() != len(after) {
		t.Fatalf("%s: Len %d, Mappings %d", name, c.Len(), len(after))
	}
	if err != nil {
		var v *Violation
		if !errors.As(err, &v) || v.Errno == 0 || v.Reason == nil {
			t.Fatalf("%s: %v: error %v is not a complete *Violation", name, ev, err)
		}
		if iommufd && errors.Is(err, ErrBisect) {
			// Only whole areas inside the range may have gone.
			for _, m := range before {
				if _, ok := c.Lookup(m.IOVA); !ok && (m.IOVA < ev.IOVA || m.Last() > ev.IOVA+ev.Size-1) {
					t.Fatalf("%s: %v removed %v, which is not inside it", name, ev, m)
				}
			}
			return
		}
		if !slices.Equal(before, after) {
			t.Fatalf("%s: refused %v changed the mappings:\n%s", name, ev, cmp.Diff(before, after))
		}
		return
	}
	if ev.Kind == notifier.Map {
		want := Mapping{IOVA: ev.IOVA, Size: ev.Size, Addr: ev.Addr, Perm: ev.Perm}
		if got, ok := c.Lookup(ev.IOVA); !ok || got != want {
			t.Fatalf("%s: accepted %v but holds %v %v", name, ev, got, ok)
		}
	}
	if ev.Kind == notifier.Unmap && ev.Size != 0 {
		for _, m := range after {
			if m.IOVA <= ev.IOVA+ev.Size-1 && ev.IOVA <= m.Last() && !(ev.IOVA == 0 && ev.Size == ^uint64(0)) {
				t.Fatalf("%s: accepted %v but still holds %v", name, ev, m)
			}
		}
	}
}
