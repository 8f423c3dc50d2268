package checker

import (
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// naive is the obvious model of an areaSet: a sorted slice.
type naive []Mapping

func (n naive) firstOverlap(first, last uint64) (Mapping, bool) {
	for _, m := range n {
		if m.IOVA <= last && first <= m.Last() {
			return m, true
		}
	}
	return Mapping{}, false
}

func TestAreaSetAgainstModel(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var s areaSet
	var model naive
	// Addresses from a small set of pages, including the top of the space,
	// so that overlaps and boundaries are common.
	addr := func() uint64 {
		if r.IntN(8) == 0 {
			return ^uint64(0) - r.Uint64N(8)*0x1000 - 0xfff
		}
		return r.Uint64N(256) * 0x1000
	}
	for i := range 20000 {
		first := addr()
		size := uint64(0x1000) << r.IntN(4)
		if first+size-1 < first {
			size = -first
		}
		last := first + size - 1
		got, ok := s.firstOverlap(first, last)
		want, wok := model.firstOverlap(first, last)
		if ok != wok || got != want {
			t.Fatalf("step %d: firstOverlap(%#x, %#x) = %v %v, want %v %v", i, first, last, got, ok, want, wok)
		}
		if ok { // remove it
			s.remove(got.IOVA)
			model = slices.DeleteFunc(model, func(m Mapping) bool { return m.IOVA == got.IOVA })
		} else { // insert the new range
			m := Mapping{IOVA: first, Size: size, Addr: uint64(i)}
			s.insert(m)
			at := sort.Search(len(model), func(j int) bool { return model[j].IOVA >= first })
			model = slices.Insert(model, at, m)
		}
		probe := addr() + r.Uint64N(0x1000)
		got, ok = s.containing(probe)
		want, wok = model.firstOverlap(probe, probe)
		if ok != wok || got != want {
			t.Fatalf("step %d: containing(%#x) = %v %v, want %v %v", i, probe, got, ok, want, wok)
		}
		if s.len() != len(model) {
			t.Fatalf("step %d: len %d, want %d", i, s.len(), len(model))
		}
	}
	if diff := cmp.Diff([]Mapping(model), s.appendAll(nil)); diff != "" {
		t.Fatalf("final contents (-model +set):\n%s", diff)
	}
	// Removing what is not there changes nothing.
	n := s.len()
	s.remove(0x123)
	s.remove(^uint64(0))
	if s.len() != n {
		t.Errorf("removing absent keys changed len from %d to %d", n, s.len())
	}
}
