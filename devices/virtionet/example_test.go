package virtionet_test

import (
	"fmt"
	"net"
	"os"

	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/devices/virtionet"
	"github.com/govmm/govmm/dma"
	"golang.org/x/sys/unix"
)

// Example runs the device on one end of a socketpair (a stand-in for a
// tap), plays Linux's virtio_net on the guest side and the host network
// on the other end, and exchanges one frame each way.
func Example() {
	fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	host := fds[1]
	defer unix.Close(host)
	mac := net.HardwareAddr{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}
	nd, err := virtionet.New(os.NewFile(uintptr(fds[0]), "socketpair"), virtionet.Options{MAC: mac})
	if err != nil {
		panic(err)
	}
	defer nd.Close()

	m, _ := virtiotest.NewMachine(32 << 20)
	defer m.Close()
	tr, err := virtio.New(nd, virtio.Config{Memory: m.Mem, MSI: m.MSI})
	if err != nil {
		panic(err)
	}
	defer tr.Close()
	bdf := pci.BDF{Device: 3}
	if err := m.Seg.Add(bdf, tr); err != nil {
		panic(err)
	}
	drv, _ := m.Probe(bdf, dma.Identity{}, 16<<20, 8<<20)
	features, err := drv.Init(^uint64(0))
	if err != nil {
		panic(err)
	}
	fmt.Println("mergeable receive buffers:", features&virtionet.FeatureMrgRxBuf != 0)
	rx, _ := drv.SetupQueue(virtionet.ReceiveQueue, 0)
	tx, _ := drv.SetupQueue(virtionet.TransmitQueue, 0)
	drv.DriverOK()

	// The guest sends a broadcast frame: header, then the frame.
	eth := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, mac...)
	eth = append(eth, 0x88, 0xb5, 'h', 'i')
	if _, err := tx.Submit([]virtiotest.Buf{{Data: make([]byte, virtionet.HeaderSize)}, {Data: eth}}, false); err != nil {
		panic(err)
	}
	buf := make([]byte, 2048)
	n, _ := unix.Read(host, buf)
	fmt.Printf("host got %d bytes: payload %q\n", n-virtionet.HeaderSize, buf[n-2:n])

	// The host answers; the guest has posted one mergeable buffer.
	in := []virtiotest.Buf{{Write: true, Len: 1536}}
	if _, err := rx.Add(in, false); err != nil {
		panic(err)
	}
	rx.Kick()
	unix.Write(host, append(make([]byte, virtionet.HeaderSize), eth...))
	_, used, _ := rx.Wait()
	got, _ := rx.Contents(in[0])
	h, _ := virtionet.DecodeHeader(got)
	fmt.Printf("guest got %d bytes in %d buffer(s)\n", used-virtionet.HeaderSize, h.NumBuffers)
	// Output:
	// mergeable receive buffers: true
	// host got 16 bytes: payload "hi"
	// guest got 16 bytes in 1 buffer(s)
}
