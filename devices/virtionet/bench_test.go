package virtionet

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/dma"
	"github.com/govmm/govmm/memory"
	"golang.org/x/sys/unix"
)

// benchRig is a device on a socketpair with one queue over a plain ring
// whose available ring always offers descriptor 0.
type benchRig struct {
	n    *Net
	host int
	q    *virtio.Queue
	ram  []byte
	idx  []byte // the available idx
}

func newBenchRig(b *testing.B, index int, as dma.AddressSpace, d virtio.Descriptor) *benchRig {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	n, err := New(os.NewFile(uintptr(fds[0]), "bench"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close(); unix.Close(fds[1]) })
	ram := make([]byte, 4<<20)
	mem, _ := memory.New(memory.Region{GPA: 0, Data: ram})
	ring := virtiotest.NewRing(mem, as, 0, 256)
	ring.SetDesc(0, d)
	for range 256 {
		ring.Publish(0)
	}
	ring.SetAvailIdx(0)
	cfg := ring.Config(n.Features(), as, nil)
	cfg.Index = index
	q, err := virtio.NewQueue(cfg)
	if err != nil {
		b.Fatal(err)
	}
	gpa, _, _ := as.Translate(ring.Avail+2, 2, dma.Write)
	return &benchRig{n: n, host: fds[1], q: q, ram: ram, idx: ram[gpa : gpa+2]}
}

// BenchmarkTransmit1500 sends one 1500-byte frame (plus its header, one
// buffer as Linux's start_xmit builds it) from the available ring through
// writev to the back end, and the host reads it back.
func BenchmarkTransmit1500(b *testing.B) {
	for _, tc := range []struct {
		name string
		as   dma.AddressSpace
	}{{"identity", dma.Identity{}}, {"page-permutation", virtiotest.NewPagePermutation(0, 0, 1024, 4)}} {
		b.Run(tc.name, func(b *testing.B) {
			r := newBenchRig(b, TransmitQueue, tc.as, virtio.Descriptor{Addr: 0x10ff0, Len: HeaderSize + 1500})
			if err := r.n.Activate(&virtio.Activation{Features: r.n.Features(), Queues: []*virtio.Queue{nil, r.q}}); err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 2048)
			b.SetBytes(1500)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				binary.LittleEndian.PutUint16(r.idx, uint16(i+1))
				if err := r.n.Process(r.q); err != nil {
					b.Fatal(err)
				}
				if k, err := unix.Read(r.host, buf); err != nil || k != HeaderSize+1500 {
					b.Fatalf("host read %d, %v", k, err)
				}
			}
		})
	}
}

// BenchmarkReceive1500 delivers one 1500-byte frame the host wrote into
// a 1536-byte mergeable receive buffer (Linux's usual size): one readv
// straight into guest memory, the header fixed up, the used ring
// updated. The steps are those of the receive goroutine, run inline.
func BenchmarkReceive1500(b *testing.B) {
	for _, tc := range []struct {
		name string
		as   dma.AddressSpace
	}{{"identity", dma.Identity{}}, {"page-permutation", virtiotest.NewPagePermutation(0, 0, 1024, 4)}} {
		b.Run(tc.name, func(b *testing.B) {
			r := newBenchRig(b, ReceiveQueue, tc.as, virtio.Descriptor{Addr: 0x10f00, Len: 1536, Flags: virtio.DescFWrite})
			rx := newReceiver(r.n, r.q, r.n.Features(), nil)
			dgram := make([]byte, HeaderSize+1500)
			b.SetBytes(1500)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, err := unix.Write(r.host, dgram); err != nil {
					b.Fatal(err)
				}
				binary.LittleEndian.PutUint16(r.idx, uint16(i+1))
				if !rx.gather() {
					b.Fatal("no buffer")
				}
				k, err := r.n.be.readFrame(rx.buildFn, nil)
				if err != nil || k != len(dgram) {
					b.Fatalf("read %d, %v", k, err)
				}
				if !rx.deliver(k) {
					b.Fatal("deliver")
				}
			}
			if s := r.n.Stats(); s.RxFrames != uint64(b.N) {
				b.Fatalf("stats %+v", s)
			}
		})
	}
}
