package testhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// l1Modules are loaded in L1, in this order: KVM for AMD SVM (the whole
// point), virtio-pci and 9p for the shared directories, then what host
// consumers need (tun/tap and vhost-net, VFIO).
var l1Modules = []string{
	"irqbypass", "ccp", "kvm", "kvm-amd",
	"virtio", "virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
	"netfs", "fscache", "9pnet", "9pnet_virtio", "9p",
	"tun", "tap", "vfio", "vfio_iommu_type1", "vfio_virqfd", "vfio-pci-core", "vfio-pci",
	"vhost_iotlb", "vhost", "vhost_net",
}

// VFIOBDF is the PCI address, in L1, of the device L1Options.VFIODev adds:
// slot 0x10 on L0's bus 0.
const VFIOBDF = "0000:00:10.0"

// l1Init is L1's /init. Its parameters come from L1's kernel command line
// (the kernel hands unknown name=value words to init as environment):
// th_script (the script, relative to the work share), th_cache (the cache
// path), th_vfio and th_vfio_model (the device to bind to vfio-pci).
//
// It mounts this machine's root read-only over 9p at /host and the work
// directory read-write at /host/tmp/w, gives the chroot its own /proc,
// /sys, /dev (devtmpfs: /dev/kvm, /dev/vfio/*, /dev/vhost-net), /dev/pts,
// /dev/shm and tmpfs on /tmp, /run and /var/tmp (the cache is bind-mounted
// back when it lives under one of those), runs the script there, writes its
// exit status to the work directory's .rc and powers off (poweroff -f,
// then SysRq o if that did not work).
const l1Init = `#!/bin/sh
# govmm test host: L1 /init
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "testhost-l1: $*"; }
up() { cut -d' ' -f1 /proc/uptime; }
finish() {
	[ -d /w ] && echo "$1" >/w/.rc
	sync
	say "exit status $1, uptime $(up)s, powering off"
	umount /host/tmp/w /w 2>/dev/null
	poweroff -f
	sleep 10
	echo o >/proc/sysrq-trigger
	sleep 1000
}
say "kernel up after $(up)s"
/load-modules.sh || say "WARNING: some modules failed to load"
[ -c /dev/kvm ] || say "WARNING: no /dev/kvm"

o=trans=virtio,version=9p2000.L,msize=262144
mkdir -p /w /host
mount -t 9p -o $o work /w || { say "ERROR: cannot mount the work share"; rmdir /w; finish 125; }
mount -t 9p -o $o,ro host /host || { say "ERROR: cannot mount the host root"; finish 125; }
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /host/dev/shm
# the cache stays visible even where a tmpfs below hides it
case $th_cache in /tmp/* | /run/* | /var/tmp/*) mkdir -p /cache && mount -o bind "/host$th_cache" /cache ;; esac
mount -t tmpfs -o mode=1777 tmpfs /host/tmp
[ -d /host/run ] && mount -t tmpfs -o mode=755 tmpfs /host/run
[ -d /host/var/tmp ] && mount -t tmpfs -o mode=1777 tmpfs /host/var/tmp
mkdir -p /host/tmp/w
mount -o bind /w /host/tmp/w || { say "ERROR: cannot bind the work share"; finish 125; }
if [ -d /cache ]; then
	mkdir -p "/host$th_cache" && mount -o move /cache "/host$th_cache" || { say "ERROR: cannot expose the cache"; finish 125; }
fi

VFIO_ENV=
if [ -n "$th_vfio" ]; then
	d=/sys/bus/pci/devices/$th_vfio
	[ -e $d ] || { say "ERROR: no PCI device $th_vfio"; finish 125; }
	[ -e $d/driver ] && echo $th_vfio >$d/driver/unbind
	echo vfio-pci >$d/driver_override
	echo $th_vfio >/sys/bus/pci/drivers_probe
	grp=$(basename "$(readlink $d/iommu_group)")
	drv=$(basename "$(readlink $d/driver)")
	if [ "$drv" != vfio-pci ] || [ ! -c /dev/vfio/$grp ]; then
		say "ERROR: binding $th_vfio to vfio-pci failed (driver=$drv group=$grp)"
		finish 125
	fi
	printf 'model=%s\nbdf=%s\nvendor=%s\ndevice=%s\ndriver=%s\ngroup=%s\ndev=/dev/vfio/%s\n' \
		"$th_vfio_model" $th_vfio $(cat $d/vendor) $(cat $d/device) $drv $grp $grp >/w/vfio.txt
	say "$th_vfio_model $th_vfio bound to vfio-pci, iommu group $grp"
	VFIO_ENV="GOVMM_TESTHOST_VFIO_BDF=$th_vfio GOVMM_TESTHOST_VFIO_GROUP=$grp"
fi

say "running /tmp/w/$th_script at uptime $(up)s"
cd /
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp TMPDIR=/tmp \
	TERM=dumb LANG=C.UTF-8 GOVMM_TESTHOST=1 GOVMM_TESTHOST_CACHE=$th_cache GOVMM_TESTHOST_WORK=/tmp/w $VFIO_ENV \
	chroot /host /bin/sh -c 'cd /tmp/w && exec /bin/sh "$1"' sh "/tmp/w/$th_script" </dev/null
finish $?
`

// l1Initramfs returns L1's initramfs, building it into cache/l1 when no
// image for this init, module list, kernel and busybox exists yet. Images
// unused for a week are removed.
func l1Initramfs(ctx context.Context, cache string, l1 Kernel, busybox string, logf func(string, ...any)) (string, error) {
	h := sha256.New()
	for _, s := range []string{"govmm-testhost-l1-v1", l1Init, strings.Join(l1Modules, " "), l1.Dir, busybox} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	dir := filepath.Join(cache, "l1")
	out := filepath.Join(dir, "initrd-"+hex.EncodeToString(h.Sum(nil))[:16]+".cpio.gz")
	if _, err := os.Stat(out); err == nil {
		now := time.Now()
		os.Chtimes(out, now, now)
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	logf("building the L1 initramfs %s", out)
	if _, err := (Initramfs{Init: l1Init, Busybox: busybox, ModulesDir: l1.ModulesDir, Modules: l1Modules}).Build(ctx, out); err != nil {
		return "", err
	}
	old, _ := filepath.Glob(filepath.Join(dir, "initrd-*.cpio.gz"))
	for _, f := range old {
		if info, err := os.Stat(f); err == nil && f != out && time.Since(info.ModTime()) > 7*24*time.Hour {
			os.Remove(f)
		}
	}
	return out, nil
}

// L1Options configure the test host's L1 (the TCG machine with emulated
// AMD SVM that runs the VMM under test on a real KVM).
type L1Options struct {
	// IOMMU gives L0 an emulated Intel IOMMU (-device
	// intel-iommu,caching-mode=on,intremap=on, kernel-irqchip=split) and L1
	// intel_iommu=on: what real VFIO in L1 needs.
	IOMMU bool
	// VFIODev adds the emulated PCI device model VFIODev (a QEMU -device
	// value without bus/addr, e.g. "e1000e" or "nvme,serial=x,drive=..."),
	// at VFIOBDF, and binds it to vfio-pci in L1 before the guests run.
	// Implies IOMMU. Network models get a restricted user netdev.
	VFIODev string
	// Memory is L1's RAM as a QEMU -m size; "" = Config.L1Memory ("2G").
	Memory string
	// Append is extra L1 kernel command line, after Config.L1Append.
	Append string
}

var vfioDevRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+(,[A-Za-z0-9_.=:/-]+)*$`)

// l0Params are the inputs of one L0 QEMU command line.
type l0Params struct {
	kernel, initrd string // L1's bzImage and initramfs
	script         string // the L1 script, relative to work
	cache          string
	work           string
	pidfile        string
	memory         string
	append         string // extra L1 command line
	iommu          bool
	vfioDev        string
	vfioNetdev     bool // the VFIO model takes netdev=
	extra          []string
}

// l0Args returns L0 QEMU's arguments (without the program): q35 under TCG
// with an EPYC CPU that has SVM and nested paging, one vCPU, no reboot (a
// panic or reboot in L1 ends QEMU), L1's console on standard output, this
// machine's root read-only and the work directory read-write over 9p, and
// a monitor socket in the work directory.
func l0Args(p l0Params) []string {
	machine := "q35,accel=tcg"
	cmdline := "console=ttyS0 panic=-1 quiet th_script=" + p.script + " th_cache=" + p.cache
	args := []string{"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"}
	if p.iommu || p.vfioDev != "" {
		machine += ",kernel-irqchip=split"
		cmdline += " intel_iommu=on"
		// before any other PCI device
		args = append(args, "-device", "intel-iommu,caching-mode=on,intremap=on")
	}
	if p.vfioDev != "" {
		model, _, _ := strings.Cut(p.vfioDev, ",")
		dev := p.vfioDev + ",addr=0x10"
		if p.vfioNetdev {
			dev += ",netdev=thvfio0"
			args = append(args, "-netdev", "user,id=thvfio0,restrict=on")
		}
		args = append(args, "-device", dev)
		cmdline += " th_vfio=" + VFIOBDF + " th_vfio_model=" + model
	}
	if p.append != "" {
		cmdline += " " + p.append
	}
	args = append(args,
		"-machine", machine,
		"-cpu", "EPYC,+svm,+npt,check=off",
		"-smp", "1",
		"-m", p.memory,
		"-chardev", "stdio,id=ser0,signal=off",
		"-serial", "chardev:ser0",
		"-kernel", p.kernel,
		"-initrd", p.initrd,
		"-append", cmdline,
		"-virtfs", "local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap",
		"-virtfs", "local,path="+strings.ReplaceAll(p.work, ",", ",,")+",mount_tag=work,security_model=none",
		"-pidfile", p.pidfile,
	)
	if mon := filepath.Join(p.work, l0MonitorName); len(mon) < 108 {
		// For dumpL0State; a longer path cannot be a socket address.
		args = append(args, "-monitor", "unix:"+strings.ReplaceAll(mon, ",", ",,")+",server=on,wait=off")
	}
	return append(args, p.extra...)
}
