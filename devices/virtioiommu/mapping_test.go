package virtioiommu

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const rw = MapFRead | MapFWrite

func TestMapChecks(t *testing.T) {
	withResv := testConfig()
	withResv.Reserved = []Region{{0x100000, 0x1fffff}}
	small := testConfig()
	small.MaxMappings = 2
	tests := []struct {
		name     string
		cfg      *Config
		features uint64
		req      []byte
		want     Status
	}{
		{name: "ok", req: mapReq(1, 0x10000, 0x10fff, 0x80000, MapFRead), want: StatusOK},
		{name: "write only", req: mapReq(1, 0x10000, 0x10fff, 0x80000, MapFWrite), want: StatusOK},
		{name: "large", req: mapReq(1, 1<<40, 1<<40+1<<30-1, 1<<30, rw), want: StatusOK},
		{name: "unknown flag bit 3", req: mapReq(1, 0x10000, 0x10fff, 0x80000, MapFRead|8), want: StatusInval},
		{name: "MMIO", req: mapReq(1, 0x10000, 0x10fff, 0xc0000000, rw|MapFMMIO), want: StatusOK},
		{name: "MMIO without F_MMIO", features: allFeats &^ FeatureMMIO, req: mapReq(1, 0x10000, 0x10fff, 0xc0000000, rw|MapFMMIO), want: StatusInval},
		{name: "no permission", req: mapReq(1, 0x10000, 0x10fff, 0x80000, 0), want: StatusInval},
		{name: "MMIO only", req: mapReq(1, 0x10000, 0x10fff, 0x80000, MapFMMIO), want: StatusInval},
		{name: "no domain", req: mapReq(9, 0x10000, 0x10fff, 0x80000, MapFRead), want: StatusNoEnt},
		{name: "no domain, bad flag", req: mapReq(9, 0x10000, 0x10fff, 0x80000, 16), want: StatusInval},
		{name: "bypass domain", req: mapReq(2, 0x10000, 0x10fff, 0x80000, MapFRead), want: StatusInval},
		{name: "end before start", req: mapReq(1, 0x11000, 0x10fff, 0x80000, MapFRead), want: StatusInval},
		{name: "one byte", req: mapReq(1, 0x10000, 0x10000, 0x80000, MapFRead), want: StatusRange},
		{name: "start unaligned", req: mapReq(1, 0x10800, 0x11fff, 0x80000, MapFRead), want: StatusRange},
		{name: "end unaligned", req: mapReq(1, 0x10000, 0x10ffe, 0x80000, MapFRead), want: StatusRange},
		{name: "phys unaligned", req: mapReq(1, 0x10000, 0x10fff, 0x80010, MapFRead), want: StatusRange},
		{name: "past input range", req: mapReq(1, 1<<48-0x1000, 1<<48+0xfff, 0x80000, MapFRead), want: StatusRange},
		{name: "at input range end", req: mapReq(1, 1<<48-0x1000, 1<<48-1, 0x80000, MapFRead), want: StatusOK},
		{name: "whole space", req: mapReq(1, 0, maxU64, 0, MapFRead), want: StatusRange},
		{name: "phys wraps", req: mapReq(1, 0x10000, 0x11fff, maxU64-0xfff, MapFRead), want: StatusRange},
		{name: "phys ends at 2^64", req: mapReq(1, 0x10000, 0x10fff, maxU64-0xfff, MapFRead), want: StatusOK},
		{name: "MSI window", req: mapReq(1, 0xfee00000, 0xfeefffff, 0xfee00000, rw), want: StatusInval},
		{name: "MSI window first page", req: mapReq(1, 0xfe000000, 0xfee00fff, 0x1000000, rw), want: StatusInval},
		{name: "MSI window last page", req: mapReq(1, 0xfeeff000, 0xfeefffff, 0x1000000, rw), want: StatusInval},
		{name: "around MSI window", req: mapReq(1, 0, 0xffffffff, 0, rw), want: StatusInval},
		{name: "below MSI window", req: mapReq(1, 0, 0xfedfffff, 0, rw), want: StatusOK},
		{name: "above MSI window", req: mapReq(1, 0xfef00000, 1<<48-1, 0xfef00000, rw), want: StatusOK},
		{name: "reserved region", cfg: &withResv, req: mapReq(1, 0x1ff000, 0x200fff, 0x80000, rw), want: StatusInval},
		{name: "next to reserved region", cfg: &withResv, req: mapReq(1, 0x200000, 0x200fff, 0x80000, rw), want: StatusOK},
		{name: "over the limit", cfg: &small, req: mapReq(1, 0x30000, 0x30fff, 0x80000, rw), want: StatusNoMem},
		{name: "head reserved ignored", req: with(mapReq(1, 0x10000, 0x10fff, 0x80000, MapFRead), 2, 7), want: StatusOK},
		{name: "without MAP_UNMAP", features: allFeats &^ FeatureMapUnmap, req: mapReq(1, 0x10000, 0x10fff, 0x80000, MapFRead), want: StatusUnsupp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			if tc.cfg != nil {
				cfg = *tc.cfg
			}
			h := newHarness(t, cfg, tc.features)
			h.must(StatusOK, attachReq(1, eps0, 0))
			h.must(StatusOK, attachReq(2, eps1, AttachFBypass))
			if tc.cfg == &small {
				h.must(StatusOK, mapReq(1, 0x10000, 0x10fff, 0x80000, rw))
				h.must(StatusOK, mapReq(1, 0x20000, 0x20fff, 0x80000, rw))
			}
			before := h.mappings(1)
			h.must(tc.want, tc.req)
			checkInvariants(t, h.d)
			after := h.mappings(1)
			if grew := len(after) - len(before); grew != map[bool]int{true: 1, false: 0}[tc.want == StatusOK] {
				t.Fatalf("mappings %v -> %v", before, after)
			}
		})
	}
}

// TestMapOverlap: crosvm's test_map_overlap shapes and more, against a
// mapping of [0x10000, 0x13fff].
func TestMapOverlap(t *testing.T) {
	tests := []struct {
		name        string
		first, last uint64
		want        Status
	}{
		{"same", 0x10000, 0x13fff, StatusInval},
		{"inside", 0x11000, 0x11fff, StatusInval},
		{"containing", 0xf000, 0x14fff, StatusInval},
		{"over the start", 0xe000, 0x10fff, StatusInval},
		{"over the end", 0x13000, 0x15fff, StatusInval},
		{"last page", 0x13000, 0x13fff, StatusInval},
		{"adjacent below", 0xe000, 0xffff, StatusOK},
		{"adjacent above", 0x14000, 0x14fff, StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testConfig(), 0)
			h.must(StatusOK, attachReq(1, eps0, 0))
			h.must(StatusOK, mapReq(1, 0x10000, 0x13fff, 0x90000, MapFRead))
			h.must(tc.want, mapReq(1, tc.first, tc.last, 0x200000, rw))
			checkInvariants(t, h.d)
		})
	}
}

// TestUnmapSpecExamples runs the seven UNMAP examples of virtio 1.3
// §5.13.6.6, each from a blank address space, with a 1-byte granule as the
// specification writes them, and scaled to 4 KiB pages.
func TestUnmapSpecExamples(t *testing.T) {
	type r = [2]uint64
	tests := []struct {
		name  string
		maps  []r
		unmap r
		want  Status
		left  []r // mappings left
	}{
		{"1 empty", nil, r{0, 4}, StatusOK, nil},
		{"2 exact", []r{{0, 9}}, r{0, 9}, StatusOK, nil},
		{"3 two", []r{{0, 4}, {5, 9}}, r{0, 9}, StatusOK, nil},
		{"4 split", []r{{0, 9}}, r{0, 4}, StatusRange, []r{{0, 9}}},
		{"5 first of two", []r{{0, 4}, {5, 9}}, r{0, 4}, StatusOK, []r{{5, 9}}},
		{"6 beyond", []r{{0, 4}}, r{0, 9}, StatusOK, nil},
		{"7 hole", []r{{0, 4}, {10, 14}}, r{0, 14}, StatusOK, nil},
	}
	for _, unit := range []uint64{1, 0x1000} {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/unit=%#x", tc.name, unit), func(t *testing.T) {
				cfg := testConfig()
				cfg.PageSizeMask = unit
				h := newHarness(t, cfg, 0)
				h.must(StatusOK, attachReq(1, eps0, 0))
				scale := func(x r) r { return r{x[0] * unit, (x[1]+1)*unit - 1} }
				for _, m := range tc.maps {
					m = scale(m)
					h.must(StatusOK, mapReq(1, m[0], m[1], 0x100000+m[0], MapFRead))
				}
				u := scale(tc.unmap)
				h.must(tc.want, unmapReq(1, u[0], u[1]))
				checkInvariants(t, h.d)
				var want [][4]uint64
				for _, m := range tc.left {
					m = scale(m)
					want = append(want, [4]uint64{m[0], m[1], 0x100000 + m[0], uint64(MapFRead)})
				}
				if diff := cmp.Diff(want, h.mappings(1)); diff != "" {
					t.Fatalf("mappings left (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestUnmapChecks(t *testing.T) {
	tests := []struct {
		name     string
		features uint64
		req      []byte
		want     Status
		left     int // of the 3 mappings [0x10000-0x11fff] [0x12000-0x12fff] [0x20000-0x2ffff]
	}{
		{name: "all", req: unmapReq(1, 0, maxU64), want: StatusOK, left: 0},
		{name: "one", req: unmapReq(1, 0x12000, 0x12fff), want: StatusOK, left: 2},
		{name: "two adjacent", req: unmapReq(1, 0x10000, 0x12fff), want: StatusOK, left: 1},
		{name: "hole only", req: unmapReq(1, 0x13000, 0x1ffff), want: StatusOK, left: 3},
		{name: "byte range around nothing", req: unmapReq(1, 0x13001, 0x13002), want: StatusOK, left: 3},
		{name: "split at start", req: unmapReq(1, 0x11000, 0x12fff), want: StatusRange, left: 3},
		{name: "split at end", req: unmapReq(1, 0x12000, 0x20fff), want: StatusRange, left: 3},
		{name: "split both", req: unmapReq(1, 0x11000, 0x20fff), want: StatusRange, left: 3},
		{name: "inside one", req: unmapReq(1, 0x21000, 0x21fff), want: StatusRange, left: 3},
		{name: "QEMU [0x10, 0xfff] inside a mapping", req: unmapReq(1, 0x10010, 0x10fff), want: StatusRange, left: 3},
		{name: "reserved set", req: with(unmapReq(1, 0, maxU64), 24, 1), want: StatusInval, left: 3},
		{name: "reserved last byte", req: with(unmapReq(1, 0, maxU64), 27, 0x40), want: StatusInval, left: 3},
		{name: "no domain", req: unmapReq(9, 0, maxU64), want: StatusNoEnt, left: 3},
		{name: "bypass domain", req: unmapReq(2, 0, maxU64), want: StatusInval, left: 3},
		{name: "end before start", req: unmapReq(1, 0x20000, 0x10000), want: StatusInval, left: 3},
		{name: "without MAP_UNMAP", features: allFeats &^ FeatureMapUnmap, req: unmapReq(1, 0, maxU64), want: StatusUnsupp, left: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, testConfig(), tc.features)
			h.must(StatusOK, attachReq(1, eps0, 0))
			h.must(StatusOK, attachReq(2, eps1, AttachFBypass))
			if tc.features == 0 {
				h.must(StatusOK, mapReq(1, 0x10000, 0x11fff, 0x100000, rw))
				h.must(StatusOK, mapReq(1, 0x12000, 0x12fff, 0x200000, MapFRead))
				h.must(StatusOK, mapReq(1, 0x20000, 0x2ffff, 0x300000, MapFWrite))
			} else {
				h.d.mu.Lock()
				dom := h.d.domains[1]
				for _, m := range [][3]uint64{{0x10000, 0x2000, 0x100000}, {0x12000, 0x1000, 0x200000}, {0x20000, 0x10000, 0x300000}} {
					if err := dom.tree.Insert(mapping(m[0], m[1], m[2], rw)); err != nil {
						t.Fatal(err)
					}
					h.d.nMappings++
				}
				h.d.mu.Unlock()
			}
			h.must(tc.want, tc.req)
			checkInvariants(t, h.d)
			if got := len(h.mappings(1)); got != tc.left {
				t.Fatalf("%d mappings left, want %d", got, tc.left)
			}
		})
	}
}

// TestQEMUMapUnmap is QEMU's qtest map_unmap sequence, on 4 KiB pages
// (QEMU's own test maps bytes 0..4 because QEMU does not check alignment).
func TestQEMUMapUnmap(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	const p = 0x1000
	runSteps(t, h, []step{
		{attachReq(1, eps0, 0), StatusOK},
		{mapReq(0, 0, p-1, 0xa1000, MapFRead), StatusNoEnt}, // MAP on a missing domain
		{mapReq(1, 0, p-1, 0xa1000, MapFRead), StatusOK},    //
		{mapReq(1, 0, p-1, 0xa1000, MapFRead), StatusInval}, // overlapping MAP
		{unmapReq(3, 0, p-1), StatusNoEnt},                  // UNMAP on an unknown domain
		{unmapReq(1, 0x10, p-1), StatusRange},               // UNMAP [0x10, 0xfff]
		{unmapReq(1, 0, p-1), StatusOK},                     //
		{unmapReq(1, 0, 4*p), StatusOK},                     // example 1
		{mapReq(1, 0, 10*p-1, 0, MapFRead), StatusOK},       // example 2
		{unmapReq(1, 0, 10*p-1), StatusOK},                  //
		{mapReq(1, 0, 5*p-1, 0, MapFRead), StatusOK},        // example 3
		{mapReq(1, 5*p, 10*p-1, 0, MapFRead), StatusOK},     //
		{unmapReq(1, 0, 10*p-1), StatusOK},                  //
		{mapReq(1, 0, 10*p-1, 0, MapFRead), StatusOK},       // example 4
		{unmapReq(1, 0, 5*p-1), StatusRange},                //
		{mapReq(1, 0, p-1, 0, MapFRead), StatusInval},       // MAP over a range that is still mapped
		{unmapReq(1, 0, 10*p-1), StatusOK},                  //
		{mapReq(1, 0, 5*p-1, 0, MapFRead), StatusOK},        // example 5
		{mapReq(1, 5*p, 10*p-1, 0, MapFRead), StatusOK},     //
		{unmapReq(1, 0, 5*p-1), StatusOK},                   //
		{unmapReq(1, 5*p, 10*p-1), StatusOK},                //
		{mapReq(1, 0, 5*p-1, 0, MapFRead), StatusOK},        // example 6
		{unmapReq(1, 0, 10*p-1), StatusOK},                  //
		{mapReq(1, 0, 5*p-1, 0, MapFRead), StatusOK},        // example 7
		{mapReq(1, 10*p, 15*p-1, 0, MapFRead), StatusOK},    //
		{unmapReq(1, 0, 15*p-1), StatusOK},                  //
	})
	if n := len(h.mappings(1)); n != 0 {
		t.Fatalf("%d mappings left", n)
	}
}

// TestCrosvmMappingInfo is crosvm's test_mapping_info: a mapping whose size
// overflows, or of zero size, is refused.
func TestCrosvmMappingInfo(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	h.must(StatusOK, attachReq(1, eps0, 0))
	runSteps(t, h, []step{
		{mapReq(1, 0x1000, 0xfff, 0, MapFRead), StatusInval},              // zero (negative) size
		{mapReq(1, maxU64-0xfff, maxU64, 0, MapFRead), StatusRange},       // beyond the input range
		{mapReq(1, 0x1000, 0x2fff, maxU64&^0xfff, MapFRead), StatusRange}, // physical end overflows
	})
	if n := len(h.mappings(1)); n != 0 {
		t.Fatalf("%d mappings", n)
	}
}

// TestCrosvmRemoveMap is crosvm's test_remove_map: an unmap that partially
// overlaps a mapping fails and leaves the number of mappings unchanged.
func TestCrosvmRemoveMap(t *testing.T) {
	h := newHarness(t, testConfig(), 0)
	h.must(StatusOK, attachReq(1, eps0, 0))
	h.must(StatusOK, mapReq(1, 0x1000, 0x4fff, 0x10000, MapFRead))
	h.must(StatusOK, mapReq(1, 0x5000, 0x5fff, 0x20000, MapFRead))
	for _, u := range [][2]uint64{{0x1000, 0x1fff}, {0x2000, 0x5fff}, {0x4000, 0x6fff}, {0, 0x3fff}} {
		h.must(StatusRange, unmapReq(1, u[0], u[1]))
		if s := h.d.Stats(); s.Mappings != 2 {
			t.Fatalf("after unmap %x: %d mappings", u, s.Mappings)
		}
	}
	h.must(StatusOK, unmapReq(1, 0x1000, 0x5fff))
	if s := h.d.Stats(); s.Mappings != 0 {
		t.Fatalf("%d mappings left", s.Mappings)
	}
}
