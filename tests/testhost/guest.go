package testhost

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// VMM selects the virtual machine monitor that boots a Guest inside L1.
type VMM int

const (
	// GoVMM is this module's ./cmd/govmm, built once per process:
	//
	//	govmm run --kernel K --initrd I --cmdline C --memory M --cpus N --serial stdio EXTRA...
	GoVMM VMM = iota
	// QEMU is the machine's own qemu-system-x86_64 (bookworm's 7.2 is fine
	// inside L1: it runs on L1's real KVM), on the same guest:
	//
	//	qemu-system-x86_64 -enable-kvm -M q35 -cpu host -smp N -m M
	//	  -nodefaults -no-user-config -display none -no-reboot
	//	  -chardev stdio,id=s0,signal=off -serial chardev:s0
	//	  -kernel K -initrd I -append C EXTRA...
	//
	// Later -machine options merge with "-M q35", e.g. EXTRA "-M",
	// "kernel-irqchip=split" for an intel-iommu device.
	QEMU
)

// String returns "govmm" or "qemu".
func (v VMM) String() string {
	switch v {
	case GoVMM:
		return "govmm"
	case QEMU:
		return "qemu"
	}
	return "VMM(" + strconv.Itoa(int(v)) + ")"
}

// Guest is one L2 boot: a VMM, a kernel, and a busybox initramfs built
// around Init. Zero fields take the defaults given with them.
type Guest struct {
	VMM VMM

	// Kernel is one of Host.Kernel's kernels. Its bzImage is booted, or
	// with PVH its extracted vmlinux through the PVH entry point.
	Kernel Kernel
	PVH    bool

	// Init is the initramfs's /init, normally a "#!/bin/sh" script; it
	// should end the guest with "poweroff -f". Modules (names as modprobe
	// takes them) are resolved with Kernel's modules.dep and put in the
	// initramfs with /load-modules.sh to insmod them.
	Init    string
	Modules []string

	// Cmdline is the guest kernel command line; default DefaultCmdline.
	Cmdline string
	// CPUs is the number of vCPUs (default 1); Memory the guest RAM as
	// "512M", "1G", ... (default "1G"; L1 has Config.L1Memory in all).
	CPUs   int
	Memory string

	// ExtraArgs are appended to the VMM command line.
	ExtraArgs []string

	// Files are written into the work directory, which the VMM runs in and
	// sees as /tmp/w: Files["disk.img"] is /tmp/w/disk.img. HostFiles are
	// this machine's files placed there the same way (hard-linked when
	// possible, else copied). Names are relative, slash-separated and
	// must not leave the directory. Guests of one session share the
	// directory; the same name with different content is an error.
	Files     map[string][]byte
	HostFiles map[string]string

	// Marker, when set, is looked for on the serial console; the time from
	// the VMM's start to its first appearance is Result.ToMarker. It must
	// not occur in anything printed before the moment it stands for (such
	// as the kernel command line, which the kernel echoes).
	Marker string

	// ExitMarker, when set, is console output after which the VMM must
	// exit within ExitGrace (default DefaultExitGrace), e.g. a line /init
	// prints right before "poweroff -f". A VMM that does not is killed,
	// and Result.Hung and Result.TimedOut are set: a guest that powered
	// off under a VMM that did not notice fails quickly, not at Timeout.
	ExitMarker string
	ExitGrace  time.Duration

	// Timeout bounds the VMM run inside L1 (default DefaultGuestTimeout);
	// the VMM is killed when it expires and Result.TimedOut is set.
	Timeout time.Duration

	// Setup, when set, is a shell script run in L1 (in the work directory,
	// as root) right before the VMM starts: e.g. creating a tap device and
	// starting a server on its host end. After runs right after the VMM
	// exits; its output is Result.After. Both are bounded by the session's
	// timeout only: keep them short and make background jobs end.
	Setup string
	After string

	// L1 configures the test host for Host.Run. Host.RunSeq takes its
	// own L1Options and ignores this field.
	L1 L1Options
}

// Defaults for Guest fields left zero.
const (
	DefaultCmdline      = "console=ttyS0 panic=-1"
	DefaultMemory       = "1G"
	DefaultGuestTimeout = 3 * time.Minute
	DefaultExitGrace    = time.Minute
)

// QEMUBinary is the QEMU that Guest.VMM == QEMU runs inside L1 (from the
// machine's root, which L1 shares read-only).
const QEMUBinary = "qemu-system-x86_64"

// normalize fills defaults and checks g, without touching the disk.
func (g Guest) normalize() (Guest, error) {
	if g.VMM != GoVMM && g.VMM != QEMU {
		return g, fmt.Errorf("testhost: unknown %v", g.VMM)
	}
	if g.Kernel.BzImage == "" {
		return g, errors.New("testhost: Guest.Kernel is not set (use Host.Kernel)")
	}
	if !strings.HasPrefix(g.Init, "#!") {
		return g, errors.New("testhost: Guest.Init must start with \"#!\"")
	}
	if g.Cmdline == "" {
		g.Cmdline = DefaultCmdline
	}
	if g.CPUs == 0 {
		g.CPUs = 1
	}
	if g.CPUs < 0 || g.CPUs > 255 {
		return g, fmt.Errorf("testhost: Guest.CPUs = %d, want 1..255", g.CPUs)
	}
	if g.Memory == "" {
		g.Memory = DefaultMemory
	}
	if !validSize(g.Memory) {
		return g, fmt.Errorf("testhost: Guest.Memory = %q, want a size such as 512M or 1G", g.Memory)
	}
	if g.Timeout == 0 {
		g.Timeout = DefaultGuestTimeout
	}
	if g.Timeout < time.Second {
		return g, fmt.Errorf("testhost: Guest.Timeout = %v is too short", g.Timeout)
	}
	if g.ExitGrace == 0 {
		g.ExitGrace = DefaultExitGrace
	}
	if g.ExitGrace < 0 {
		return g, fmt.Errorf("testhost: Guest.ExitGrace = %v is negative", g.ExitGrace)
	}
	for name := range g.Files {
		if err := checkWorkName(name); err != nil {
			return g, err
		}
	}
	for name := range g.HostFiles {
		if err := checkWorkName(name); err != nil {
			return g, err
		}
	}
	return g, nil
}

// validSize accepts a decimal number with an optional K, M, G or T suffix.
func validSize(s string) bool {
	if n := len(s); n > 0 && strings.IndexByte("KMGTkmgt", s[n-1]) >= 0 {
		s = s[:n-1]
	}
	if s == "" {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

// checkWorkName accepts a relative, clean, slash-separated name inside the
// work directory that does not collide with the harness's own files.
func checkWorkName(name string) error {
	if name == "" || path.IsAbs(name) || path.Clean(name) != name || name == "." ||
		name == ".." || strings.HasPrefix(name, "../") || strings.ContainsAny(name, "\x00\\") {
		return fmt.Errorf("testhost: work file name %q must be a clean relative path inside the work directory", name)
	}
	first, _, _ := strings.Cut(name, "/")
	if reservedWorkName(first) {
		return fmt.Errorf("testhost: work file name %q is used by the test host itself", name)
	}
	return nil
}

// reservedWorkName reports the top-level names the harness writes.
func reservedWorkName(n string) bool {
	switch n {
	case "l1.sh", "l1.log", "l0.pid", ".rc", "vfio.txt":
		return true
	}
	return strings.HasPrefix(n, "l2-") || strings.HasPrefix(n, "initrd-")
}

// kernelImage is the file the VMM boots.
func (g Guest) kernelImage() string {
	if g.PVH {
		return g.Kernel.Vmlinux
	}
	return g.Kernel.BzImage
}

// argv is the VMM command line inside L1, with initrd the initramfs path
// as L1 sees it.
func (g Guest) argv(govmm, initrd string) []string {
	var a []string
	switch g.VMM {
	case GoVMM:
		a = []string{govmm, "run",
			"--kernel", g.kernelImage(),
			"--initrd", initrd,
			"--cmdline", g.Cmdline,
			"--memory", g.Memory,
			"--cpus", strconv.Itoa(g.CPUs),
			"--serial", "stdio"}
	case QEMU:
		a = []string{QEMUBinary, "-enable-kvm", "-M", "q35", "-cpu", "host",
			"-smp", strconv.Itoa(g.CPUs), "-m", g.Memory,
			"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
			"-chardev", "stdio,id=s0,signal=off", "-serial", "chardev:s0",
			"-kernel", g.kernelImage(), "-initrd", initrd, "-append", g.Cmdline}
	}
	return append(a, g.ExtraArgs...)
}
