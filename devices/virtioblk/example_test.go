package virtioblk_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/devices/virtioblk"
	"github.com/govmm/govmm/dma"
)

// Example attaches a 1 MiB image, then reads its capacity and serial and
// writes and reads back a sector the way Linux's virtio_blk does.
func Example() {
	dir, _ := os.MkdirTemp("", "virtioblk")
	defer os.RemoveAll(dir)
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, make([]byte, 1<<20), 0o600); err != nil {
		panic(err)
	}
	blk, err := virtioblk.Open(img, virtioblk.Options{Serial: "govmm-0"})
	if err != nil {
		panic(err)
	}
	defer blk.Close()

	m, _ := virtiotest.NewMachine(32 << 20)
	defer m.Close()
	tr, err := virtio.New(blk, virtio.Config{Memory: m.Mem, MSI: m.MSI})
	if err != nil {
		panic(err)
	}
	defer tr.Close()
	bdf := pci.BDF{Device: 4}
	if err := m.Seg.Add(bdf, tr); err != nil {
		panic(err)
	}

	drv, _ := m.Probe(bdf, dma.Identity{}, 16<<20, 8<<20)
	if _, err := drv.Init(^uint64(0)); err != nil {
		panic(err)
	}
	q, _ := drv.SetupQueue(0, 0)
	drv.DriverOK()
	fmt.Println("capacity:", drv.ReadDeviceConfig(virtioblk.ConfigCapacity, 8), "sectors")

	request := func(typ uint32, sector uint64, data []byte, in uint32) []virtiotest.Buf {
		h := make([]byte, virtioblk.HeaderSize)
		binary.LittleEndian.PutUint32(h, typ)
		binary.LittleEndian.PutUint64(h[8:], sector)
		bufs := []virtiotest.Buf{{Data: h}}
		if data != nil {
			bufs = append(bufs, virtiotest.Buf{Data: data})
		}
		if in > 0 {
			bufs = append(bufs, virtiotest.Buf{Write: true, Len: in})
		}
		bufs = append(bufs, virtiotest.Buf{Write: true, Len: 1})
		if _, err := q.Submit(bufs, false); err != nil {
			panic(err)
		}
		return bufs
	}

	id := request(virtioblk.TypeGetID, 0, nil, virtioblk.SerialLen)
	serial, _ := q.Contents(id[1])
	fmt.Printf("serial: %s\n", serial[:7])

	sector := make([]byte, 512)
	copy(sector, "hello from the guest")
	w := request(virtioblk.TypeOut, 9, sector, 0)
	st, _ := q.Contents(w[2])
	fmt.Println("write status:", st[0])

	r := request(virtioblk.TypeIn, 9, nil, 512)
	data, _ := q.Contents(r[1])
	fmt.Printf("read back: %s\n", data[:20])

	onDisk := make([]byte, 20)
	f, _ := os.Open(img)
	f.ReadAt(onDisk, 9*512)
	f.Close()
	fmt.Printf("image: %s\n", onDisk)
	// Output:
	// capacity: 2048 sectors
	// serial: govmm-0
	// write status: 0
	// read back: hello from the guest
	// image: hello from the guest
}
