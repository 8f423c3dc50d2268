package virtionet

import (
	"os"
	"testing"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/dma"
	"golang.org/x/sys/unix"
)

// FuzzHeader decodes arbitrary headers: encoding round-trips, the checks
// never panic, and a receive header that passes FixReceive only carries
// flags and a GSO type the features allow.
func FuzzHeader(f *testing.F) {
	f.Add([]byte{1, 1, 54, 0, 0xa8, 5, 34, 0, 16, 0, 0, 0}, uint64(offloads), uint16(3000))
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0}, uint64(0), uint16(60))
	f.Add([]byte{1, 0x84, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0}, uint64(FeatureCsum|FeatureHostTSO6), uint16(100))
	f.Add([]byte{7, 3}, uint64(0), uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, features uint64, frameLen uint16) {
		h, err := DecodeHeader(b)
		if err != nil {
			if len(b) >= HeaderSize {
				t.Fatalf("%d bytes rejected: %v", len(b), err)
			}
			return
		}
		var out [HeaderSize]byte
		h.Encode(out[:])
		if string(out[:]) != string(b[:HeaderSize]) {
			t.Fatalf("round trip % x -> % x", b[:HeaderSize], out)
		}
		if err := h.CheckTransmit(features, int(frameLen)); err == nil {
			if h.Flags&HdrFNeedsCsum != 0 && (features&FeatureCsum == 0 || int(h.CsumStart)+int(h.CsumOffset)+2 > int(frameLen)) {
				t.Fatalf("accepted %+v with features %#x and frame %d", h, features, frameLen)
			}
			if h.GSOType != GSONone && features&(FeatureHostTSO4|FeatureHostTSO6) == 0 {
				t.Fatalf("accepted GSO %+v without HOST_TSO", h)
			}
		}
		if h.FixReceive(features) {
			if features&FeatureGuestCsum == 0 && h.Flags != 0 {
				t.Fatalf("flags %#x kept without GUEST_CSUM", h.Flags)
			}
			if h.GSOType != GSONone && features&(FeatureGuestTSO4|FeatureGuestTSO6) == 0 {
				t.Fatalf("GSO %+v delivered without GUEST_TSO", h)
			}
		}
	})
}

// fuzzNet returns a device on a non-blocking socketpair and the host's
// end.
func fuzzNet(t *testing.T) (*Net, int) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(os.NewFile(uintptr(fds[0]), "fuzz"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); unix.Close(fds[1]) })
	return n, fds[1]
}

func fuzzSeeds(f *testing.F) {
	const p = virtiotest.RawPayload
	W, N := virtio.DescFWrite, virtio.DescFNext
	hdr := make([]byte, HeaderSize)
	for _, s := range []struct {
		descs []virtio.Descriptor
		pay   []byte
	}{
		{[]virtio.Descriptor{{Addr: p, Len: 74}}, hdr},
		{[]virtio.Descriptor{{Addr: p, Len: 12, Flags: N, Next: 1}, {Addr: p + 12, Len: 100}}, []byte{1, 1, 54, 0, 0xa8, 5, 34, 0, 16, 0}},
		{[]virtio.Descriptor{{Addr: p, Len: 1536, Flags: W}}, nil},
		{[]virtio.Descriptor{{Addr: p, Len: 12, Flags: W | N, Next: 1}, {Addr: p + 0x1000, Len: 4096, Flags: W}}, nil},
		{[]virtio.Descriptor{{Addr: p, Len: 32, Flags: virtio.DescFIndirect}}, nil},
		{[]virtio.Descriptor{{Addr: p, Len: 8, Flags: W}}, nil},
		{[]virtio.Descriptor{{Addr: 1 << 40, Len: 2000, Flags: W}}, nil},
		{[]virtio.Descriptor{{Addr: p, Len: 1, Flags: N, Next: 0}}, nil},
	} {
		f.Add(virtiotest.RawInput(0, s.descs, s.pay), uint64(^uint64(0)), []byte("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\x02\x00\x00\x00\x00\x01\x88\xb5"), uint16(3))
	}
}

// FuzzTransmit feeds arbitrary transmit chains to the device: no panic,
// no hang, and every frame that reaches the back end has a header that
// passes CheckTransmit and is no larger than MaxFrameSize.
func FuzzTransmit(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, features uint64, _ []byte, _ uint16) {
		n, host := fuzzNet(t)
		features &= n.Features() | virtio.FeatureIndirectDesc | virtio.FeatureEventIdx
		mem, _, ring, err := virtiotest.RawQueue(data, features)
		if err != nil {
			t.Fatal(err)
		}
		cfg := ring.Config(features, dma.Identity{}, nil)
		cfg.Index = TransmitQueue
		q, err := virtio.NewQueue(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Activate(&virtio.Activation{Features: features, Queues: []*virtio.Queue{nil, q}, Memory: mem, DMA: dma.Identity{}}); err != nil {
			t.Fatal(err)
		}
		if err := n.Process(q); err != nil && err.Error() == "" {
			t.Fatal("empty error")
		}
		n.Reset()
		buf := make([]byte, HeaderSize+MaxFrameSize+1)
		for {
			k, err := unix.Read(host, buf)
			if err != nil {
				break
			}
			if k < HeaderSize || k > HeaderSize+MaxFrameSize {
				t.Fatalf("back end got a %d-byte datagram", k)
			}
			h, _ := DecodeHeader(buf[:k])
			if err := h.CheckTransmit(features, k-HeaderSize); err != nil {
				t.Fatalf("sent a frame whose header fails: %v", err)
			}
		}
	})
}

// FuzzReceive delivers frames of arbitrary content and size into
// arbitrary receive chains: no panic and no hang (the receiver is told to
// stop rather than wait for buffers).
func FuzzReceive(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, features uint64, frame []byte, pad uint16) {
		n, host := fuzzNet(t)
		features &= n.Features() | virtio.FeatureIndirectDesc | virtio.FeatureEventIdx
		_, q, _, err := virtiotest.RawQueue(data, features)
		if err != nil {
			t.Fatal(err)
		}
		// The frame, padded to vary its size up to 64 KiB.
		dgram := append(append([]byte(nil), frame...), make([]byte, int(pad))...)
		if _, err := unix.Write(host, dgram); err != nil {
			return // larger than the socket takes
		}
		r := newReceiver(n, q, features, nil)
		close(r.quit) // never wait for buffers
		if !r.pop(r.moreFrame) || len(r.held) == 0 {
			return
		}
		k, err := n.be.readFrame(r.buildFn, nil)
		if err != nil {
			return
		}
		if k != min(len(dgram), HeaderSize+MaxFrameSize+1) {
			t.Fatalf("read %d of a %d-byte datagram", k, len(dgram))
		}
		r.deliver(k)
		if s := n.Stats(); s.RxFrames+s.RxDropped > 1 {
			t.Fatalf("one frame counted as %+v", s)
		}
	})
}
