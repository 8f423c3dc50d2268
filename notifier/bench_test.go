package notifier

import (
	"fmt"
	"testing"
)

// counter is a cheap Notifier for benchmarks.
type counter struct{ n, bytes uint64 }

func (c *counter) Notify(ev Event) error {
	c.n++
	c.bytes += ev.Size
	return nil
}

// BenchmarkNotifyFanout measures one 4 KiB event delivered to 1, 4 and 16
// registrations; ns/op is per Notify call.
func BenchmarkNotifyFanout(b *testing.B) {
	for _, kind := range []Kind{Map, Unmap} {
		for _, regs := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("kind=%v/regs=%d", kind, regs), func(b *testing.B) {
				h := NewHub(1, nil)
				c := &counter{}
				for range regs {
					if _, err := h.Register(c, Map|Unmap, 0, max64); err != nil {
						b.Fatal(err)
					}
				}
				ev := Event{Kind: kind, IOVA: 0x7f000, Size: 0x1000, Addr: 0x40000000, Perm: PermRW}
				b.ReportAllocs()
				for b.Loop() {
					if err := h.Notify(ev); err != nil {
						b.Fatal(err)
					}
				}
				if c.n != uint64(b.N)*uint64(regs) {
					b.Fatalf("%d deliveries for %d ops", c.n, b.N)
				}
			})
		}
	}
}

// BenchmarkNotifySplit1GiB measures a Map of 1 GiB that starts 4 KiB past a
// 1 GiB boundary (19 blocks: 4 KiB, 8 KiB, ..., 512 MiB, then 4 KiB) to one
// registration.
func BenchmarkNotifySplit1GiB(b *testing.B) {
	h := NewHub(1, nil)
	c := &counter{}
	if _, err := h.Register(c, Map|Unmap, 0, max64); err != nil {
		b.Fatal(err)
	}
	ev := Event{Kind: Map, IOVA: 1<<30 + 0x1000, Size: 1 << 30, Addr: 0x100000000, Perm: PermRW}
	b.ReportAllocs()
	for b.Loop() {
		if err := h.Notify(ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(c.n)/float64(b.N), "blocks/op")
}

// BenchmarkSplit1GiB measures the Split iterator alone over the same range.
func BenchmarkSplit1GiB(b *testing.B) {
	var n uint64
	b.ReportAllocs()
	for b.Loop() {
		for _, size := range Split(1<<30+0x1000, 2<<30+0xfff) {
			n += size
		}
	}
	if n != uint64(b.N)<<30 {
		b.Fatalf("split covered %d bytes over %d ops", n, b.N)
	}
}

// BenchmarkReplay1M measures Register (and Unregister) with a replay of one
// million 4 KiB mappings, contiguous or with a hole after each.
func BenchmarkReplay1M(b *testing.B) {
	const entries = 1 << 20
	for _, stride := range []uint64{0x1000, 0x2000} {
		name := "contiguous"
		if stride != 0x1000 {
			name = "sparse"
		}
		b.Run(name, func(b *testing.B) {
			replay := func(yield func(Event) error) error {
				for i := range uint64(entries) {
					if err := yield(Event{Kind: Map, IOVA: i * stride, Size: 0x1000, Addr: 0x100000000 + i*0x1000, Perm: PermRW}); err != nil {
						return err
					}
				}
				return nil
			}
			h := NewHub(1, replay)
			c := &counter{}
			b.ReportAllocs()
			for b.Loop() {
				id, err := h.Register(c, Map|Unmap, 0, max64)
				if err != nil {
					b.Fatal(err)
				}
				h.Unregister(id)
			}
			if c.n != uint64(b.N)*entries {
				b.Fatalf("%d blocks replayed over %d ops", c.n, b.N)
			}
		})
	}
}
