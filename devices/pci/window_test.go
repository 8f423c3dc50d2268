package pci

import "testing"

func TestAllocator(t *testing.T) {
	type op struct {
		alloc      bool // else free
		size, algn uint64
		base       uint64 // expected (alloc) or freed (free)
		ok         bool
	}
	tests := []struct {
		name string
		w    Window
		ops  []op
	}{
		{"first fit with alignment", Window{0x1000, 0x10000}, []op{
			{true, 0x1000, 0x1000, 0x1000, true},
			{true, 0x4000, 0x4000, 0x4000, true},
			{true, 0x1000, 0x1000, 0x2000, true}, // the hole below 0x4000
			{true, 0x1000, 0x1000, 0x3000, true},
			{true, 0x8000, 0x8000, 0x8000, true},
			{true, 0x1000, 0x1000, 0x10000, true}, // the last page
			{true, 0x1000, 0x1000, 0, false},      // full
		}},
		{"free makes room", Window{0, 0x3000}, []op{
			{true, 0x1000, 0x1000, 0, true},
			{true, 0x1000, 0x1000, 0x1000, true},
			{true, 0x1000, 0x1000, 0x2000, true},
			{false, 0, 0, 0x1000, true},
			{true, 0x1000, 0x1000, 0x1000, true},
		}},
		{"too large", Window{0x1000, 0x1000}, []op{{true, 0x2000, 0x2000, 0, false}}},
		{"alignment beyond the window", Window{0x1000, 0x2000}, []op{{true, 0x1000, 0x4000, 0, false}}},
		{"empty window", Window{}, []op{{true, 16, 16, 0, false}}},
		{"top of the address space", Window{^uint64(0) - 0x1fff, 0x2000}, []op{
			{true, 0x1000, 0x1000, ^uint64(0) - 0x1fff, true},
			{true, 0x1000, 0x1000, ^uint64(0) - 0xfff, true},
			{true, 0x1000, 0x1000, 0, false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := allocator{w: tc.w}
			for n, o := range tc.ops {
				if !o.alloc {
					a.free(o.base)
					continue
				}
				base, ok := a.alloc(o.size, o.algn)
				if ok != o.ok || (ok && base != o.base) {
					t.Errorf("op %d: alloc(%#x, %#x) = %#x, %v; want %#x, %v", n, o.size, o.algn, base, ok, o.base, o.ok)
				}
			}
		})
	}
}
