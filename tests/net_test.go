package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govmm/govmm/tests/testhost"
)

// The tap's two ends, link-local so nothing outside the test host could
// ever be addressed.
const (
	netHostAddr  = "169.254.77.1"
	netGuestAddr = "169.254.77.2"
	netTap       = "gtap0"
)

// The listener in L1 reads its input from a pipe that stays open: busybox
// nc closes the whole connection when its standard input ends.

// netInit brings eth0 up, pings the host end of the tap, and sends 2 MiB
// of random data to a listener there, reporting the data's checksum.
const netInit = initPrologue + `mount -t tmpfs tmpfs /tmp
dmesg -n 1
/load-modules.sh
for i in 1 2 3 4 5 6 7 8 9 10; do [ -e /sys/class/net/eth0 ] && break; sleep 1; done
echo "GOVMM-NET-INIT"
echo "@mac $(cat /sys/class/net/eth0/address)"
ip link set lo up
ip link set eth0 up
ip addr add @guest/24 dev eth0
ping -c 3 -W 5 @host >/dev/null 2>&1; echo "@ping-rc $?"
dd if=/dev/urandom of=/tmp/x bs=1M count=2 2>/dev/null
echo "@sha $(sha256sum /tmp/x | cut -d' ' -f1)"
timeout 60 nc @host @port < /tmp/x; echo "@nc-rc $?"
sleep 2
echo "@poweroff"
poweroff -f
`

// TestVirtioNet gives Debian 6.12 and 6.1 guests a virtio-net interface on a
// tap in the test host: the guest must ping the tap's host end and send it
// 2 MiB that arrive intact (the host side checks the checksum).
func TestVirtioNet(t *testing.T) {
	h := testhost.New(t)
	cache, err := testhost.DefaultCacheDir(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	busybox := filepath.Join(cache, "busybox-pkg", "bin", "busybox")
	kernels := []string{testhost.KernelTrixieCloud, testhost.KernelBookwormCloud}
	var guests []testhost.Guest
	for i, k := range kernels {
		port := fmt.Sprint(5550 + i)
		init := strings.NewReplacer("@guest", netGuestAddr, "@host", netHostAddr, "@port", port).Replace(netInit)
		mods := []string{"virtio_net"}
		if k == testhost.KernelBookwormCloud {
			mods = append([]string{"virtio_pci"}, mods...)
		}
		guests = append(guests, testhost.Guest{
			VMM: testhost.GoVMM, Kernel: h.Kernel(k), Init: init, Modules: mods,
			Cmdline: "console=ttyS0 panic=-1", CPUs: 2, Memory: "512M",
			ExtraArgs: []string{"--net", "tap=" + netTap + ",mac=52:54:00:12:34:5" + fmt.Sprint(i)},
			Setup: fmt.Sprintf(`ip link show %[1]s >/dev/null 2>&1 || ip tuntap add dev %[1]s mode tap
ip addr replace %[2]s/24 dev %[1]s
ip link set %[1]s up
%[3]s sleep 600 | %[3]s nc -l -p %[4]s > net-%[5]d.bin &`, netTap, netHostAddr, busybox, port, i),
			After:  "sleep 1; ip -s link show " + netTap,
			Marker: "GOVMM-NET-INIT", ExitMarker: "@poweroff", Timeout: 5 * time.Minute,
		})
	}
	checkGuests(t, h, kernels, guests, func(i int, res *testhost.Result, r guestReport) []string {
		var p []string
		if want := fmt.Sprintf("52:54:00:12:34:5%d", i); r.value("mac") != want {
			p = append(p, fmt.Sprintf("eth0 MAC %q, want %s", r.value("mac"), want))
		}
		if r.value("ping-rc") != "0" {
			p = append(p, fmt.Sprintf("ping of %s failed (rc %q)", netHostAddr, r.value("ping-rc")))
		}
		b, err := os.ReadFile(filepath.Join(res.L1.Work, fmt.Sprintf("net-%d.bin", i)))
		if err != nil {
			p = append(p, err.Error())
		}
		sum := sha256.Sum256(b)
		if got, want := hex.EncodeToString(sum[:]), r.value("sha"); len(b) != 2<<20 || got != want {
			p = append(p, fmt.Sprintf("the host received %d bytes with sha256 %s; the guest sent 2 MiB with %s (nc rc %q)", len(b), got, want, r.value("nc-rc")))
		}
		return p
	})
}
