package virtioconsole_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/govmm/govmm/devices/pci"
	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
	"github.com/govmm/govmm/devices/virtioconsole"
	"github.com/govmm/govmm/dma"
)

// Example attaches a console whose output goes to stdout and whose input
// is a fixed string, then plays the guest: it writes a line to hvc0 and
// reads what was typed.
func Example() {
	con := virtioconsole.New(os.Stdout, strings.NewReader("root\n"))
	defer con.Close()

	m, _ := virtiotest.NewMachine(32 << 20)
	defer m.Close()
	tr, err := virtio.New(con, virtio.Config{Memory: m.Mem, MSI: m.MSI})
	if err != nil {
		panic(err)
	}
	defer tr.Close()
	bdf := pci.BDF{Device: 7}
	if err := m.Seg.Add(bdf, tr); err != nil {
		panic(err)
	}
	drv, _ := m.Probe(bdf, dma.Identity{}, 16<<20, 1<<20)
	if _, err := drv.Init(^uint64(0)); err != nil {
		panic(err)
	}
	rx, _ := drv.SetupQueue(virtioconsole.ReceiveQueue, 0)
	tx, _ := drv.SetupQueue(virtioconsole.TransmitQueue, 0)
	drv.DriverOK()

	if _, err := tx.Submit([]virtiotest.Buf{{Data: []byte("login: ")}}, false); err != nil {
		panic(err)
	}
	in := []virtiotest.Buf{{Write: true, Len: 64}}
	n, err := rx.Submit(in, false)
	typed, _ := rx.Contents(in[0])
	fmt.Printf("%q %v\n", typed[:n], err)
	// Output:
	// login: "root\n" <nil>
}
