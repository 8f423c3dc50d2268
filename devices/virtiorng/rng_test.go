package virtiorng_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/devices/virtiorng"
	"github.com/govmm/govmm/dma"
)

const iovaBase = 0x40_0000_0000

// counter is a deterministic entropy source: 0, 1, 2, ... (mod 251).
type counter struct{ n int }

func (c *counter) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c.n % 251)
		c.n++
	}
	return len(p), nil
}

func expected(from, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte((from + i) % 251)
	}
	return p
}

func setup(t *testing.T, dev *virtiorng.RNG, devAS dma.AddressSpace, drvAS dma.AddressSpace, iova uint64) (*virtiotest.Machine, *virtiotest.Queue) {
	t.Helper()
	m, err := virtiotest.NewMachine(32 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	tr, err := virtio.New(dev, virtio.Config{Memory: m.Mem, MSI: m.MSI, DMA: devAS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	bdf := pci.BDF{Device: 6}
	if err := m.Seg.Add(bdf, tr); err != nil {
		t.Fatal(err)
	}
	if drvAS == nil {
		drvAS, iova = dma.Identity{}, 16<<20
	}
	drv, err := m.Probe(bdf, drvAS, iova, 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := drv.Init(^uint64(0)); err != nil {
		t.Fatal(err)
	}
	q, err := drv.SetupQueue(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	drv.DriverOK()
	if q.Size != virtiorng.QueueSize || drv.DeviceCfgLen != 0 {
		t.Fatalf("queue size %d, config %d bytes", q.Size, drv.DeviceCfgLen)
	}
	return m, q
}

func TestFill(t *testing.T) {
	perm := virtiotest.NewPagePermutation(iovaBase, 16<<20, 4096, 5)
	tests := []struct {
		name string
		bufs []uint32
		read bool // a device-readable buffer first (ignored)
		used uint32
	}{
		{"one byte", []uint32{1}, false, 1},
		{"page straddling buffers", []uint32{4000, 5000, 3}, false, 9003},
		{"readable buffer ignored", []uint32{64}, true, 64},
		{"capped", []uint32{virtiorng.MaxRequest - 10, 100}, false, virtiorng.MaxRequest},
	}
	for _, sp := range []struct {
		name     string
		dev, drv dma.AddressSpace
		iova     uint64
	}{{"identity", nil, nil, 0}, {"page permutation", perm, perm, iovaBase}} {
		for _, indirect := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/indirect=%v", sp.name, indirect), func(t *testing.T) {
				_, q := setup(t, virtiorng.NewFrom(&counter{}), sp.dev, sp.drv, sp.iova)
				from := 0
				for _, tc := range tests {
					var bufs []virtiotest.Buf
					if tc.read {
						bufs = append(bufs, virtiotest.Buf{Data: []byte("ignored")})
					}
					for _, n := range tc.bufs {
						bufs = append(bufs, virtiotest.Buf{Write: true, Len: n})
					}
					used, err := q.Submit(bufs, indirect)
					if err != nil {
						t.Fatal(err)
					}
					if used != tc.used {
						t.Fatalf("%s: used %d, want %d", tc.name, used, tc.used)
					}
					var got []byte
					for _, b := range bufs {
						if b.Write {
							p, err := q.Contents(b)
							if err != nil {
								t.Fatal(err)
							}
							got = append(got, p...)
						}
					}
					if !bytes.Equal(got[:used], expected(from, int(used))) {
						t.Fatalf("%s: wrong bytes", tc.name)
					}
					if rest := got[used:]; bytes.Count(rest, []byte{virtiotest.Poison}) != len(rest) {
						t.Fatalf("%s: bytes written past the used length", tc.name)
					}
					from += int(used)
				}
			})
		}
	}
}

// TestFault: a buffer the IOMMU refuses ends the request there.
func TestFault(t *testing.T) {
	perm := virtiotest.NewPagePermutation(iovaBase, 16<<20, 4096, 5)
	fa := &virtiotest.Faulting{AS: perm}
	_, q := setup(t, virtiorng.NewFrom(&counter{}), fa, perm, iovaBase)
	bufs := []virtiotest.Buf{{Write: true, Len: 100}, {Write: true, Len: 100}}
	if _, err := q.Add(bufs, false); err != nil {
		t.Fatal(err)
	}
	fa.SetFault(bufs[1].IOVA, bufs[1].IOVA+100, dma.Write)
	q.Kick()
	_, used, err := q.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if used != 100 {
		t.Fatalf("used %d, want 100", used)
	}
	if p, _ := q.Contents(bufs[0]); !bytes.Equal(p, expected(0, 100)) {
		t.Fatal("first buffer not filled")
	}
}

// TestCryptoRand: the default source fills buffers with bytes that are
// not all equal (a 1-in-2^(8*4095) false failure).
func TestCryptoRand(t *testing.T) {
	_, q := setup(t, virtiorng.New(), nil, nil, 0)
	bufs := []virtiotest.Buf{{Write: true, Len: 4096}}
	if used, err := q.Submit(bufs, false); err != nil || used != 4096 {
		t.Fatalf("used %d, %v", used, err)
	}
	p, _ := q.Contents(bufs[0])
	if bytes.Count(p, p[:1]) == len(p) {
		t.Fatal("buffer holds one repeated byte")
	}
}
