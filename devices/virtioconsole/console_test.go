package virtioconsole_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/devices/virtioconsole"
	"github.com/govmm/govmm/dma"
)

// spaces are the address-space set-ups every data test runs under: no
// IOMMU, and an IOMMU whose IOVA pages are a permutation of guest pages.
func spaces() []struct {
	name     string
	dev, drv dma.AddressSpace
	iova     uint64
} {
	perm := virtiotest.NewPagePermutation(iovaBase, 16<<20, 4096, 7)
	return []struct {
		name     string
		dev, drv dma.AddressSpace
		iova     uint64
	}{{"identity", nil, nil, 0}, {"page-permutation", perm, perm, iovaBase}}
}

func TestIdentity(t *testing.T) {
	r := newRig(t, virtioconsole.New(newSink(), nil), nil, nil, 0)
	if got := r.drv.Cfg(2, 2); got != 0x1043 {
		t.Errorf("PCI device ID %#x, want 0x1043", got)
	}
	if got, want := r.drv.Features&^(virtio.FeatureVersion1|virtio.FeatureEventIdx|virtio.FeatureIndirectDesc), virtioconsole.FeatureEmergWrite; got != want {
		t.Errorf("device features %#x, want %#x", got, want)
	}
	for _, f := range []struct {
		name string
		off  uint64
		n    int
		want uint64
	}{
		{"cols", virtioconsole.ConfigCols, 2, 0},
		{"rows", virtioconsole.ConfigRows, 2, 0},
		{"max_nr_ports", virtioconsole.ConfigMaxNrPorts, 4, 1},
		{"emerg_wr", virtioconsole.ConfigEmergWr, 4, 0},
	} {
		if got := r.drv.ReadDeviceConfig(f.off, f.n); got != f.want {
			t.Errorf("%s = %d, want %d", f.name, got, f.want)
		}
	}
	if r.drv.DeviceCfgLen < virtioconsole.ConfigSize {
		t.Errorf("device configuration is %d bytes, want at least %d", r.drv.DeviceCfgLen, virtioconsole.ConfigSize)
	}
}

func TestOutput(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string // one readable buffer each
		write  bool     // add a device-writable buffer (ignored)
		indir  bool
	}{
		{"one byte", []string{"x"}, false, false},
		{"line", []string{"hello, hvc0\n"}, false, false},
		{"split", []string{"ab", "", "cdef", strings.Repeat("g", 5000)}, false, false},
		{"indirect", []string{"in", "direct"}, false, true},
		{"writable buffer ignored", []string{"data"}, true, false},
	}
	for _, sp := range spaces() {
		t.Run(sp.name, func(t *testing.T) {
			out := newSink()
			r := newRig(t, virtioconsole.New(out, nil), sp.dev, sp.drv, sp.iova)
			var want string
			for _, tc := range tests {
				var bufs []virtiotest.Buf
				for _, c := range tc.chunks {
					bufs = append(bufs, virtiotest.Buf{Data: []byte(c)})
					want += c
				}
				if tc.write {
					bufs = append(bufs, virtiotest.Buf{Write: true, Len: 16})
				}
				used, err := r.tx.Submit(bufs, tc.indir)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if used != 0 {
					t.Errorf("%s: used length %d, want 0", tc.name, used)
				}
				if got := out.String(); got != want {
					t.Fatalf("%s: output %q, want %q", tc.name, got, want)
				}
			}
		})
	}
}

// TestInput feeds host input and checks it reaches the driver's receive
// buffers, split across them when it does not fit, in order.
func TestInput(t *testing.T) {
	tests := []struct {
		name  string
		input string
		bufs  []uint32 // receive buffers posted, in order
	}{
		{"fits", "ls -l\n", []uint32{64}},
		{"exact", "abcd", []uint32{4}},
		{"split", "0123456789", []uint32{3, 3, 3, 64}},
		{"page", strings.Repeat("p", virtioconsole.InputChunk), []uint32{4096}},
		{"two chunks", strings.Repeat("q", virtioconsole.InputChunk+100), []uint32{1000, 4096, 4096}},
	}
	for _, sp := range spaces() {
		for _, tc := range tests {
			t.Run(sp.name+"/"+tc.name, func(t *testing.T) {
				pr, pw := io.Pipe()
				defer pw.Close()
				r := newRig(t, virtioconsole.New(newSink(), pr), sp.dev, sp.drv, sp.iova)
				posted := map[uint16]virtiotest.Buf{}
				for _, n := range tc.bufs {
					r.post(t, posted, n)
				}
				go io.WriteString(pw, tc.input)
				var got []byte
				for len(got) < len(tc.input) {
					got = append(got, r.receive(t, posted)...)
				}
				if string(got) != tc.input {
					t.Fatalf("driver received %q, want %q", got, tc.input)
				}
			})
		}
	}
}

// TestInputWaitsForBuffers: input typed before the driver posts any
// receive buffer, or before the driver is even loaded, is delivered once
// buffers appear; the reader is not read further meanwhile.
func TestInputWaitsForBuffers(t *testing.T) {
	for _, beforeDriver := range []bool{false, true} {
		t.Run(fmt.Sprintf("before-driver=%v", beforeDriver), func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pw.Close()
			con := virtioconsole.New(newSink(), pr)
			if beforeDriver {
				// The pipe write returns once the input goroutine holds
				// the chunk, with no device active.
				if _, err := io.WriteString(pw, "early"); err != nil {
					t.Fatal(err)
				}
			}
			r := newRig(t, con, nil, nil, 0)
			if !beforeDriver {
				if _, err := io.WriteString(pw, "early"); err != nil {
					t.Fatal(err)
				}
			}
			// The next write blocks until "early" is delivered: run it
			// aside and check the first buffer holds "early" only.
			done := make(chan error, 1)
			go func() { _, err := io.WriteString(pw, "late"); done <- err }()
			posted := map[uint16]virtiotest.Buf{}
			r.post(t, posted, 64)
			if got := string(r.receive(t, posted)); got != "early" {
				t.Fatalf("first buffer %q, want %q", got, "early")
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			r.post(t, posted, 64)
			if got := string(r.receive(t, posted)); got != "late" {
				t.Fatalf("second buffer %q, want %q", got, "late")
			}
		})
	}
}

// TestInputSurvivesReset: input pending when the driver resets the device
// is delivered after it comes back.
func TestInputSurvivesReset(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	r := newRig(t, virtioconsole.New(newSink(), pr), nil, nil, 0)
	if _, err := io.WriteString(pw, "kept"); err != nil {
		t.Fatal(err)
	}
	r.drv.Reset()
	r.start(t)
	posted := map[uint16]virtiotest.Buf{}
	r.post(t, posted, 16)
	if got := string(r.receive(t, posted)); got != "kept" {
		t.Fatalf("received %q after reset, want %q", got, "kept")
	}
}

// TestInputFault: a receive buffer the IOMMU refuses comes back empty and
// the input goes to the next buffer.
func TestInputFault(t *testing.T) {
	perm := virtiotest.NewPagePermutation(iovaBase, 16<<20, 4096, 9)
	fa := &virtiotest.Faulting{AS: perm}
	pr, pw := io.Pipe()
	defer pw.Close()
	r := newRig(t, virtioconsole.New(newSink(), pr), fa, perm, iovaBase)
	bad := []virtiotest.Buf{{Write: true, Len: 32}}
	badHead, err := r.rx.Add(bad, false)
	if err != nil {
		t.Fatal(err)
	}
	fa.SetFault(bad[0].IOVA, bad[0].IOVA+32, dma.Write)
	posted := map[uint16]virtiotest.Buf{badHead: bad[0]}
	r.post(t, posted, 32)
	if _, err := io.WriteString(pw, "hi"); err != nil {
		t.Fatal(err)
	}
	if got := r.receive(t, posted); len(got) != 0 {
		t.Fatalf("faulting buffer returned %q, want nothing", got)
	}
	if got := string(r.receive(t, posted)); got != "hi" {
		t.Fatalf("second buffer %q, want %q", got, "hi")
	}
	if fa.Faults() == 0 {
		t.Fatal("no fault recorded")
	}
}

// TestInputEOF: the end of the input is reported, not delivered.
func TestInputEOF(t *testing.T) {
	con := virtioconsole.New(newSink(), strings.NewReader(""))
	r := newRig(t, con, nil, nil, 0)
	posted := map[uint16]virtiotest.Buf{}
	r.post(t, posted, 16)
	// Output still works and proves the device is alive; the EOF is
	// recorded by the input goroutine.
	if _, err := r.tx.Submit([]virtiotest.Buf{{Data: []byte("x")}}, false); err != nil {
		t.Fatal(err)
	}
	for con.InputErr() == nil {
		yield()
	}
	if err := con.InputErr(); !errors.Is(err, io.EOF) {
		t.Fatalf("InputErr %v, want EOF", err)
	}
	if n, _ := r.rx.UsedIdx(); n != 0 {
		t.Fatalf("%d receive buffers used without input", n)
	}
}

func TestEmergWrite(t *testing.T) {
	out := newSink()
	r := newRig(t, virtioconsole.New(out, nil), nil, nil, 0)
	for _, c := range []byte("SOS") {
		r.drv.Write(r.drv.DeviceCfg+virtioconsole.ConfigEmergWr, 4, uint64(c))
	}
	r.drv.Write(r.drv.DeviceCfg+virtioconsole.ConfigCols, 2, 'x') // read-only: ignored
	if got := out.String(); got != "SOS" {
		t.Fatalf("output %q, want %q", got, "SOS")
	}
}

// TestOutputError: a failing writer does not stop the device; the error
// is kept.
func TestOutputError(t *testing.T) {
	out := newSink()
	out.err = errors.New("disk full")
	con := virtioconsole.New(out, nil)
	r := newRig(t, con, nil, nil, 0)
	for range 3 {
		if _, err := r.tx.Submit([]virtiotest.Buf{{Data: []byte("lost")}}, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := con.OutputErr(); err == nil || err.Error() != "disk full" {
		t.Fatalf("OutputErr %v", err)
	}
	if r.drv.Status()&virtio.StatusDeviceNeedsReset != 0 {
		t.Fatal("device needs reset after a writer error")
	}
}

// TestMalformedChain: a descriptor loop on transmitq stops the queue and
// sets DEVICE_NEEDS_RESET.
func TestMalformedChain(t *testing.T) {
	r := newRig(t, virtioconsole.New(newSink(), nil), nil, nil, 0)
	if err := r.tx.PutDescriptor(0, virtio.Descriptor{Addr: 16 << 20, Len: 1, Flags: virtio.DescFNext, Next: 0}); err != nil {
		t.Fatal(err)
	}
	if err := r.tx.Publish(0); err != nil {
		t.Fatal(err)
	}
	r.tx.Kick()
	for r.drv.Status()&virtio.StatusDeviceNeedsReset == 0 {
		yield()
	}
}
