package virtionet_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/devices/virtionet"
	"github.com/govmm/govmm/dma"
	"golang.org/x/sys/unix"
)

const allOffloads = virtionet.FeatureCsum | virtionet.FeatureGuestCsum | virtionet.FeatureHostTSO4 |
	virtionet.FeatureHostTSO6 | virtionet.FeatureGuestTSO4 | virtionet.FeatureGuestTSO6

// spaces are the address-space set-ups the data tests run under.
func spaces() []setup {
	perm := virtiotest.NewPagePermutation(iovaBase, 16<<20, 8192, 3)
	return []setup{{}, {dev: perm, drv: perm, iova: iovaBase}}
}

func spaceName(s setup) string {
	if s.dev == nil {
		return "identity"
	}
	return "page-permutation"
}

func TestIdentity(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	for _, tc := range []struct {
		name     string
		opts     virtionet.Options
		features uint64
	}{
		{"default", virtionet.Options{MAC: mac}, virtionet.FeatureMAC | virtionet.FeatureStatus | virtionet.FeatureMrgRxBuf | allOffloads},
		{"no offloads", virtionet.Options{MAC: mac, NoOffloads: true}, virtionet.FeatureMAC | virtionet.FeatureStatus | virtionet.FeatureMrgRxBuf},
		{"no mergeable", virtionet.Options{MAC: mac, NoMergeRxBuffers: true}, virtionet.FeatureMAC | virtionet.FeatureStatus | allOffloads},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, setup{opts: tc.opts})
			if got := r.drv.Cfg(2, 2); got != 0x1041 {
				t.Errorf("PCI device ID %#x, want 0x1041", got)
			}
			if got := r.drv.Cfg(0x0a, 2); got != 0x0200 {
				t.Errorf("PCI class %#x, want 0x0200 (Ethernet)", got)
			}
			if got := r.drv.Features & 0xffffff; got != tc.features {
				t.Errorf("device features %#x, want %#x", got, tc.features)
			}
			var got net.HardwareAddr
			for i := range 6 {
				got = append(got, byte(r.drv.ReadDeviceConfig(virtionet.ConfigMAC+uint64(i), 1)))
			}
			if got.String() != mac.String() {
				t.Errorf("mac %v, want %v", got, mac)
			}
			if st := r.drv.ReadDeviceConfig(virtionet.ConfigStatus, 2); st != uint64(virtionet.StatusLinkUp) {
				t.Errorf("status %#x, want LINK_UP", st)
			}
			if p := r.drv.ReadDeviceConfig(virtionet.ConfigMaxVirtqueuePairs, 2); p != 1 {
				t.Errorf("max_virtqueue_pairs %d", p)
			}
			if n := r.drv.Read(r.drv.Common+virtio.CommonNumQueues, 2); n != 2 {
				t.Errorf("num_queues %d, want 2", n)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts virtionet.Options
		err  string
	}{
		{"short MAC", virtionet.Options{MAC: net.HardwareAddr{2, 0, 0}}, "not 6 bytes"},
		{"multicast MAC", virtionet.Options{MAC: net.HardwareAddr{1, 0, 0x5e, 0, 0, 1}}, "multicast"},
		{"zero MAC", virtionet.Options{MAC: make(net.HardwareAddr, 6)}, "zero"},
		{"queue size", virtionet.Options{QueueSize: 100}, "power of 2"},
		{"queue size 1", virtionet.Options{QueueSize: 1}, "power of 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := socketPair(t)
			n, err := virtionet.New(f, tc.opts)
			if err == nil {
				n.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %q does not mention %q", err, tc.err)
			}
		})
	}
	t.Run("tap name too long", func(t *testing.T) {
		if n, err := virtionet.Open(strings.Repeat("x", 20), virtionet.Options{}); err == nil {
			n.Close()
			t.Fatal("Open accepted a 20-byte interface name")
		}
	})
	t.Run("regular file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "frames")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := virtionet.New(f, virtionet.Options{}); err == nil {
			n.Close()
			t.Fatal("New accepted a regular file")
		}
	})
}

func TestDefaultMAC(t *testing.T) {
	seen := map[string]string{}
	for _, name := range []string{"tap0", "tap1", "govmm-net0", ""} {
		m := virtionet.DefaultMAC(name)
		if len(m) != 6 || m[0] != 0x02 {
			t.Errorf("%q: %v is not locally administered unicast", name, m)
		}
		if m.String() != virtionet.DefaultMAC(name).String() {
			t.Errorf("%q: not deterministic", name)
		}
		if other, dup := seen[m.String()]; dup {
			t.Errorf("%q and %q share %v", name, other, m)
		}
		seen[m.String()] = name
	}
	f, _ := socketPair(t)
	n, err := virtionet.New(f, virtionet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if n.MAC().String() != virtionet.DefaultMAC(n.Name()).String() {
		t.Fatalf("MAC %v, want DefaultMAC(%q)", n.MAC(), n.Name())
	}
}

func TestLinkStatus(t *testing.T) {
	r := newRig(t, setup{})
	before := r.m.MSI.Count(0)
	gen := r.drv.ConfigGeneration()
	r.net.SetLink(false)
	if st := r.drv.ReadDeviceConfig(virtionet.ConfigStatus, 2); st != 0 {
		t.Fatalf("status %#x after link down", st)
	}
	if r.m.MSI.Count(0) != before+1 || r.drv.ConfigGeneration() == gen {
		t.Fatal("no configuration change notification")
	}
	r.net.SetLink(false) // no change: no notification
	r.net.SetLink(true)
	if st := r.drv.ReadDeviceConfig(virtionet.ConfigStatus, 2); st != uint64(virtionet.StatusLinkUp) {
		t.Fatalf("status %#x after link up", st)
	}
	if got := r.m.MSI.Count(0); got != before+2 {
		t.Fatalf("%d configuration interrupts, want %d", got-before, 2)
	}
}

// TestTransmit sends frames as Linux's start_xmit lays them out and
// checks what reaches the back end, byte for byte, and what is dropped.
func TestTransmit(t *testing.T) {
	csum := virtionet.Header{Flags: virtionet.HdrFNeedsCsum, CsumStart: 34, CsumOffset: 16}
	tso := virtionet.Header{Flags: virtionet.HdrFNeedsCsum, GSOType: virtionet.GSOTCPv4, HdrLen: 54, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	tests := []struct {
		name  string
		want  uint64 // driver features (0: all)
		hdr   []byte
		frame []byte
		split []int
		indir bool
		sent  bool
	}{
		{"minimal", 0, hdrBytes(virtionet.Header{}), frame(60, 1), nil, false, true},
		{"MTU frame", 0, hdrBytes(virtionet.Header{}), frame(1514, 2), nil, false, true},
		{"header in its own buffer", 0, hdrBytes(virtionet.Header{}), frame(1514, 3), []int{12}, false, true},
		{"scattered", 0, hdrBytes(virtionet.Header{}), frame(3000, 4), []int{5, 20, 1000, 1}, false, true},
		{"indirect", 0, hdrBytes(virtionet.Header{}), frame(1000, 5), []int{12, 100}, true, true},
		{"partial checksum", 0, hdrBytes(csum), frame(100, 6), nil, false, true},
		{"TSO frame", 0, hdrBytes(tso), frame(65000, 7), []int{12, 4084}, false, true},
		{"max frame", 0, hdrBytes(tso), frame(virtionet.MaxFrameSize, 8), nil, false, true},
		{"too large", 0, hdrBytes(tso), frame(virtionet.MaxFrameSize+1, 9), nil, false, false},
		{"short header", 0, make([]byte, 11), nil, nil, false, false},
		{"checksum not negotiated", virtio.FeatureVersion1, hdrBytes(csum), frame(100, 10), nil, false, false},
		{"TSO not negotiated", virtio.FeatureVersion1 | virtionet.FeatureCsum, hdrBytes(tso), frame(3000, 11), nil, false, false},
		{"checksum outside frame", 0, hdrBytes(virtionet.Header{Flags: virtionet.HdrFNeedsCsum, CsumStart: 90, CsumOffset: 16}), frame(100, 12), nil, false, false},
		{"UFO", 0, hdrBytes(virtionet.Header{Flags: virtionet.HdrFNeedsCsum, GSOType: virtionet.GSOUDP, GSOSize: 1000}), frame(3000, 13), nil, false, false},
		{"unknown flag", 0, hdrBytes(virtionet.Header{Flags: 0x80}), frame(100, 14), nil, false, false},
	}
	for _, sp := range spaces() {
		t.Run(spaceName(sp), func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					s := sp
					s.want = tc.want
					r := newRig(t, s)
					before := r.net.Stats()
					head := r.transmit(t, tc.hdr, tc.frame, tc.split, tc.indir)
					h, n, err := r.tx.Wait()
					if err != nil || h != head || n != 0 {
						t.Fatalf("used %d (%d bytes), %v; want %d, 0 bytes", h, n, err, head)
					}
					after := r.net.Stats()
					if tc.sent {
						gotHdr, gotFrame := r.peer.recv(t)
						wantHdr, _ := virtionet.DecodeHeader(tc.hdr)
						if gotHdr != wantHdr || !bytes.Equal(gotFrame, tc.frame) {
							t.Fatalf("back end got header %+v and %d bytes, want %+v and %d bytes", gotHdr, len(gotFrame), wantHdr, len(tc.frame))
						}
						if after.TxFrames != before.TxFrames+1 || after.TxBytes != before.TxBytes+uint64(len(tc.frame)) {
							t.Fatalf("stats %+v", after)
						}
						return
					}
					if after.TxDropped != before.TxDropped+1 {
						t.Fatalf("TxDropped %d, want %d", after.TxDropped, before.TxDropped+1)
					}
					// Nothing was sent: the next frame is the first the
					// back end sees.
					next := frame(64, 99)
					r.transmit(t, hdrBytes(virtionet.Header{}), next, nil, false)
					if _, got := r.peer.recv(t); !bytes.Equal(got, next) {
						t.Fatal("a dropped frame reached the back end")
					}
				})
			}
		})
	}
}

// TestTransmitFault: a frame whose buffer the IOMMU refuses is dropped,
// and the queue keeps working.
func TestTransmitFault(t *testing.T) {
	perm := virtiotest.NewPagePermutation(iovaBase, 16<<20, 8192, 3)
	fa := &virtiotest.Faulting{AS: perm}
	r := newRig(t, setup{dev: fa, drv: perm, iova: iovaBase})
	bufs := []virtiotest.Buf{{Data: hdrBytes(virtionet.Header{})}, {Data: frame(200, 1)}}
	if _, err := r.tx.Add(bufs, false); err != nil {
		t.Fatal(err)
	}
	fa.SetFault(bufs[1].IOVA, bufs[1].IOVA+200, dma.Read)
	r.tx.Kick()
	if _, _, err := r.tx.Wait(); err != nil {
		t.Fatal(err)
	}
	fa.SetFault(0, 0, dma.Read)
	next := frame(80, 2)
	r.transmit(t, hdrBytes(virtionet.Header{}), next, nil, false)
	if _, got := r.peer.recv(t); !bytes.Equal(got, next) {
		t.Fatal("wrong frame after a fault")
	}
	if _, _, err := r.tx.Wait(); err != nil { // counted before it is used
		t.Fatal(err)
	}
	if st := r.net.Stats(); st.TxDropped != 1 || st.TxFrames != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestTransmitBackpressure: when the back end has no room the device
// holds the frame (no drop) and resumes, in order, once there is.
func TestTransmitBackpressure(t *testing.T) {
	r := newRig(t, setup{sndbuf: 4096})
	const count = 40
	for i := range count {
		r.transmit(t, hdrBytes(virtionet.Header{}), frame(1000, byte(i)), nil, false)
	}
	for r.net.Stats().TxStalls == 0 {
		yield()
	}
	for i := range count {
		if _, got := r.peer.recv(t); !bytes.Equal(got, frame(1000, byte(i))) {
			t.Fatalf("frame %d out of order or corrupted", i)
		}
	}
	for range count {
		if _, _, err := r.tx.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if st := r.net.Stats(); st.TxFrames != count || st.TxDropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestResetWhileBlocked: a reset while a frame waits for room in the back
// end and the receiver waits for buffers completes, and the device works
// afterwards.
func TestResetWhileBlocked(t *testing.T) {
	r := newRig(t, setup{sndbuf: 4096})
	for i := range 40 {
		r.transmit(t, hdrBytes(virtionet.Header{}), frame(1000, byte(i)), nil, false)
	}
	for r.net.Stats().TxStalls == 0 {
		yield()
	}
	r.peer.send(t, virtionet.Header{}, frame(100, 1)) // no receive buffer posted
	r.drv.Reset()
	// Drain what was sent before the reset.
	for st := r.net.Stats(); st.TxFrames > 0; st.TxFrames-- {
		r.peer.recv(t)
	}
	r.start(t, ^uint64(0))
	r.postLinux(t, 4)
	got := r.receive(t)
	if !bytes.Equal(got.frame, frame(100, 1)) {
		t.Fatal("frame pending across the reset was not delivered")
	}
	next := frame(70, 5)
	r.transmit(t, hdrBytes(virtionet.Header{}), next, nil, false)
	if _, f := r.peer.recv(t); !bytes.Equal(f, next) {
		t.Fatal("transmit after reset")
	}
	if errs := r.errors(); len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
}

// TestReceive delivers frames into receive chains shaped as Linux posts
// them and checks header, data, num_buffers and used lengths.
func TestReceive(t *testing.T) {
	noMrg := virtionet.Options{NoMergeRxBuffers: true}
	tests := []struct {
		name    string
		opts    virtionet.Options
		want    uint64
		hdr     virtionet.Header
		size    int
		wantHdr virtionet.Header // NumBuffers filled in by the test when 0
		bufs    int              // buffers the frame spans
	}{
		{"small mergeable", virtionet.Options{}, 0, virtionet.Header{}, 60, virtionet.Header{}, 1},
		{"MTU mergeable", virtionet.Options{}, 0, virtionet.Header{}, 1514, virtionet.Header{}, 1},
		{"merged 3", virtionet.Options{}, 0, virtionet.Header{Flags: virtionet.HdrFNeedsCsum, GSOType: virtionet.GSOTCPv4, GSOSize: 1448, CsumStart: 34, CsumOffset: 16},
			4000, virtionet.Header{Flags: virtionet.HdrFNeedsCsum, GSOType: virtionet.GSOTCPv4, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}, 3},
		{"merged 64K", virtionet.Options{}, 0, virtionet.Header{Flags: virtionet.HdrFNeedsCsum, GSOType: virtionet.GSOTCPv6, GSOSize: 1428, CsumStart: 54, CsumOffset: 16},
			virtionet.MaxFrameSize, virtionet.Header{Flags: virtionet.HdrFNeedsCsum, GSOType: virtionet.GSOTCPv6, GSOSize: 1428, CsumStart: 54, CsumOffset: 16}, 43},
		{"small", noMrg, 0, virtionet.Header{}, 1518, virtionet.Header{NumBuffers: 1}, 1},
		{"small without offloads", noMrg, virtio.FeatureVersion1 | virtionet.FeatureMAC, virtionet.Header{}, 200, virtionet.Header{NumBuffers: 1}, 1},
		{"big packets", noMrg, 0, virtionet.Header{Flags: virtionet.HdrFNeedsCsum, GSOType: virtionet.GSOTCPv4, GSOSize: 1448, CsumStart: 34, CsumOffset: 16},
			60000, virtionet.Header{Flags: virtionet.HdrFNeedsCsum, GSOType: virtionet.GSOTCPv4, GSOSize: 1448, CsumStart: 34, CsumOffset: 16, NumBuffers: 1}, 1},
		{"data valid kept", virtionet.Options{}, 0, virtionet.Header{Flags: virtionet.HdrFDataValid}, 100, virtionet.Header{Flags: virtionet.HdrFDataValid}, 1},
		{"data valid cleared", virtionet.Options{}, virtio.FeatureVersion1 | virtionet.FeatureMrgRxBuf, virtionet.Header{Flags: virtionet.HdrFDataValid | virtionet.HdrFRSCInfo}, 100, virtionet.Header{}, 1},
	}
	for _, sp := range spaces() {
		for _, tc := range tests {
			t.Run(spaceName(sp)+"/"+tc.name, func(t *testing.T) {
				s := sp
				s.opts, s.want = tc.opts, tc.want
				r := newRig(t, s)
				r.postLinux(t, 64)
				f := frame(tc.size, byte(tc.size))
				r.peer.send(t, tc.hdr, f)
				got := r.receive(t)
				want := tc.wantHdr
				if want.NumBuffers == 0 {
					want.NumBuffers = uint16(tc.bufs)
				}
				if got.hdr != want {
					t.Errorf("header %+v, want %+v", got.hdr, want)
				}
				if !bytes.Equal(got.frame, f) {
					t.Errorf("frame of %d bytes, want %d", len(got.frame), len(f))
				}
				if len(got.lens) != tc.bufs {
					t.Errorf("frame spans %d buffers, want %d", len(got.lens), tc.bufs)
				}
				if st := r.net.Stats(); st.RxFrames != 1 || st.RxBytes != uint64(tc.size) || st.RxDropped != 0 {
					t.Errorf("stats %+v", st)
				}
			})
		}
	}
}

// TestReceiveDrops: frames the driver cannot take are dropped, counted,
// and the next frame is delivered normally.
func TestReceiveDrops(t *testing.T) {
	noMrg := virtionet.Options{NoMergeRxBuffers: true, NoOffloads: true}
	tests := []struct {
		name string
		opts virtionet.Options
		want uint64
		hdr  virtionet.Header
		raw  []byte // sent as is instead of hdr+frame when not nil
		size int
	}{
		{"shorter than a header", virtionet.Options{}, 0, virtionet.Header{}, []byte{1, 2, 3}, 0},
		{"larger than the chain", noMrg, 0, virtionet.Header{}, nil, 3000},
		{"needs checksum without GUEST_CSUM", virtionet.Options{}, virtio.FeatureVersion1 | virtionet.FeatureMrgRxBuf, virtionet.Header{Flags: virtionet.HdrFNeedsCsum}, nil, 100},
		{"TSO without GUEST_TSO4", virtionet.Options{}, virtio.FeatureVersion1 | virtionet.FeatureMrgRxBuf | virtionet.FeatureGuestCsum,
			virtionet.Header{Flags: virtionet.HdrFNeedsCsum, GSOType: virtionet.GSOTCPv4, GSOSize: 1000}, nil, 3000},
		{"UFO", virtionet.Options{}, 0, virtionet.Header{Flags: virtionet.HdrFNeedsCsum, GSOType: virtionet.GSOUDP, GSOSize: 1000}, nil, 3000},
		{"ECN", virtionet.Options{}, 0, virtionet.Header{Flags: virtionet.HdrFNeedsCsum, GSOType: virtionet.GSOTCPv4 | virtionet.GSOECN, GSOSize: 1000}, nil, 3000},
		{"larger than MaxFrameSize", virtionet.Options{}, 0, virtionet.Header{}, nil, virtionet.MaxFrameSize + 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, setup{opts: tc.opts, want: tc.want})
			r.lax = true
			r.postLinux(t, 64)
			if tc.raw != nil {
				if _, err := writeRaw(r.peer.fd, tc.raw); err != nil {
					t.Fatal(err)
				}
			} else {
				r.peer.send(t, tc.hdr, frame(tc.size, 1))
			}
			good := frame(90, 2)
			r.peer.send(t, virtionet.Header{}, good)
			got := r.receive(t)
			if !bytes.Equal(got.frame, good) {
				t.Fatalf("first delivered frame has %d bytes, want the 90-byte one", len(got.frame))
			}
			if st := r.net.Stats(); st.RxDropped != 1 || st.RxFrames != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestReceiveWaitsForBuffers: a frame that arrives before the driver
// posts buffers, or that needs more mergeable buffers than are posted,
// waits for the driver's kick instead of being dropped.
func TestReceiveWaitsForBuffers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		size   int
		first  int // buffers posted before the frame
		bufs   int // buffers the frame spans
		frames int
	}{
		{"no buffers", 100, 0, 1, 1},
		{"one of three", 4000, 1, 3, 1},
		{"two frames, one buffer", 1000, 1, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, setup{})
			if tc.first > 0 {
				r.postLinux(t, tc.first)
			}
			h := virtionet.Header{Flags: virtionet.HdrFNeedsCsum, GSOType: virtionet.GSOTCPv4, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
			if tc.size <= 1514 {
				h = virtionet.Header{}
			}
			for i := range tc.frames {
				r.peer.send(t, h, frame(tc.size, byte(i)))
			}
			// The frames are read (or wait in the socket) while the ring
			// lacks buffers; the driver posts the rest now.
			r.postLinux(t, tc.bufs*tc.frames-tc.first)
			for i := range tc.frames {
				got := r.receive(t)
				if !bytes.Equal(got.frame, frame(tc.size, byte(i))) || len(got.lens) != tc.bufs {
					t.Fatalf("frame %d: %d bytes in %d buffers", i, len(got.frame), len(got.lens))
				}
			}
			if st := r.net.Stats(); st.RxDropped != 0 || st.RxFrames != uint64(tc.frames) {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestReceiveBadBuffers: a chain too small for the header, or one the
// IOMMU refuses, is handed back empty and the frame goes to the next.
func TestReceiveBadBuffers(t *testing.T) {
	perm := virtiotest.NewPagePermutation(iovaBase, 16<<20, 8192, 3)
	fa := &virtiotest.Faulting{AS: perm}
	r := newRig(t, setup{dev: fa, drv: perm, iova: iovaBase})
	r.post(t, 8) // too small
	r.post(t, 1536)
	var bad virtiotest.Buf
	for _, b := range r.posted {
		if b[0].Len == 1536 {
			bad = b[0]
		}
	}
	fa.SetFault(bad.IOVA, bad.IOVA+1536, dma.Write)
	r.post(t, 1536)
	r.rx.Kick()
	f := frame(300, 4)
	r.peer.send(t, virtionet.Header{}, f)
	for i := range 2 {
		if got := r.receive(t); len(got.lens) != 1 || got.lens[0] != 0 {
			t.Fatalf("bad buffer %d: used lengths %v, want [0]", i, got.lens)
		}
	}
	if got := r.receive(t); !bytes.Equal(got.frame, f) {
		t.Fatal("frame not delivered to the good buffer")
	}
	if st := r.net.Stats(); st.RxBadBuffers != 2 || st.RxFrames != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPingPong exchanges many frames both ways at once, as a guest
// under load does, with interrupts and EVENT_IDX on.
func TestPingPong(t *testing.T) {
	for _, sp := range spaces() {
		t.Run(spaceName(sp), func(t *testing.T) {
			r := newRig(t, sp)
			const count = 300
			done := make(chan error, 1)
			go func() {
				for i := range count {
					if _, err := writeRaw(r.peer.fd, append(hdrBytes(virtionet.Header{}), frame(64+i, byte(i))...)); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			for i := range count {
				if i%32 == 0 {
					r.postLinux(t, 32)
					r.drv.ResetIOVA()
				}
				got := r.receive(t)
				if !bytes.Equal(got.frame, frame(64+i, byte(i))) {
					t.Fatalf("frame %d corrupted", i)
				}
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if errs := r.errors(); len(errs) != 0 {
				t.Fatal(errs)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	h := virtionet.Header{Flags: 1, GSOType: 4, HdrLen: 3, GSOSize: 5, CsumStart: 6, CsumOffset: 7, NumBuffers: 8}
	b := hdrBytes(h)
	if got := fmt.Sprintf("% x", b); got != "01 04 03 00 05 00 06 00 07 00 08 00" {
		t.Fatalf("encoding %s", got)
	}
	if _, err := virtionet.DecodeHeader(b[:11]); err == nil {
		t.Fatal("short header decoded")
	}
}

// TestBackendGone: when the host end goes away, frames the guest sends
// are dropped and counted; the device does not fail.
func TestBackendGone(t *testing.T) {
	r := newRig(t, setup{})
	r.postLinux(t, 8)
	if err := unix.Shutdown(r.peer.fd, unix.SHUT_RDWR); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		r.transmit(t, hdrBytes(virtionet.Header{}), frame(100, byte(i)), nil, false)
		if _, n, err := r.tx.Wait(); err != nil || n != 0 {
			t.Fatalf("used %d, %v", n, err)
		}
	}
	if st := r.net.Stats(); st.TxDropped != 3 || st.TxFrames != 0 {
		t.Fatalf("stats %+v", st)
	}
	if r.drv.Status()&virtio.StatusDeviceNeedsReset != 0 {
		t.Fatalf("device failed: %v", r.errors())
	}
}
