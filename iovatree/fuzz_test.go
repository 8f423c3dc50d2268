package iovatree

import (
	"math/rand/v2"
	"testing"
)

// FuzzTreeOps is the differential test: random operation sequences, decoded
// from the fuzzer's bytes, are applied to a Tree and to the reference
// model, comparing every result and checking every structural invariant
// after each operation.
func FuzzTreeOps(f *testing.F) {
	for _, seed := range opSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := runOps(data); err != nil {
			t.Fatal(err)
		}
	})
}

// opSeeds returns hand-made operation strings covering each operation and
// the edges of the address space.
func opSeeds() [][]byte {
	return [][]byte{
		{},
		{0, 0x01, 0x00, 0x02, 3, 2, 0x01}, // insert [0x1000, +0x1000), find it
		{0, 0x80, 0x40, 0x00, 3, 0, 0x80, 0x40, 0x00, 3},       // same range twice: overlap
		{0, 0x80, 0x81, 0x00, 3, 2, 0x80},                      // a mapping that ends at 2^64-1
		{0, 0x80, 0x80, 0x00, 3, 4, 0x00, 0x87},                // remove up to the end of the space
		{9, 0x00, 0xff, 0x00, 0x00, 0x00, 5, 0x00, 0x80, 0x00}, // 4080 pages, then remove everything
		{9, 0x00, 0xff, 0x00, 0x00, 0x01, 4, 0x05, 0x3f, 3, 0x05, 0x3f},
		{9, 0x00, 0x40, 0x00, 0x00, 0x00, 8, 0x00, 0xbf, 0x00, 0x00, 0x01},
		{9, 0x00, 0x40, 0x01, 0x00, 0x00, 10, 0x00, 0x80, 0x00, 0x02, 0x00, 0x01, 0x80, 0x00},
		{0, 0x41, 0x05, 0x45, 0x01, 1, 6, 0x01, 7, 0x00, 0x01}, // byte-sized mapping, reverse lookup
		{0, 0xc0, 1, 2, 3, 4, 5, 6, 7, 8, 0xc0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc0, 1, 1, 1, 1, 1, 1, 1, 1, 1},
		{0, 0x00, 0x80, 0x07, 0x00, 0x00, 0x00}, // size 0, 2^64-1, wrap, bad perm
	}
}

// TestRandomOps runs the differential test on longer pseudo-random
// operation strings than the fuzzer's seeds (deterministic seeds, so a
// failure reproduces).
func TestRandomOps(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 20
	}
	for seed := range n {
		rng := rand.New(rand.NewPCG(uint64(seed), 0x10a7ee))
		data := make([]byte, 400+rng.IntN(4000))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		if err := runOps(data); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}
