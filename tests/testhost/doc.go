// Package testhost boots real Linux guests under govmm (or QEMU, for
// comparison) for the project's integration tests, on machines whose own
// /dev/kvm cannot run them.
//
// # Why
//
// /dev/kvm on the project's development and CI machines is a software KVM:
// guest kernel-mode code runs about 1000 times slower than native, and stock
// kernels stop with "KVM internal error ... emulation failure" on cmpxchg16b
// and xrstor. A stock Linux guest cannot boot on it. QEMU's TCG accelerator,
// however, emulates AMD SVM with nested paging, so a Linux booted under TCG
// loads kvm-amd and gets a real, fast /dev/kvm:
//
//	L0  this machine: trixie's qemu-system-x86_64 (QEMU 10) -machine q35,accel=tcg
//	    -cpu EPYC,+svm,+npt -smp 1 -m 2G, from a private root in the cache
//	└─ L1  Debian bookworm's generic 6.1 kernel + busybox initramfs; kvm-amd, 9p,
//	       virtio, vfio and vhost loaded; this machine's / mounted read-only
//	   └─ chroot of this machine's root: /bin/sh /tmp/w/l1.sh
//	      └─ L2  govmm run --kernel ... (or qemu-system-x86_64 -enable-kvm ...)
//
// Everything the VMM needs in L1 (the govmm binary built from this module,
// the kernels, the machine's own QEMU) is visible at the same path as here.
// Each TCG run uses one host CPU for its whole length: run guest tests one
// after another (the machines have two CPUs).
//
// # Use
//
//	func TestMain(m *testing.M) { os.Exit(testhost.Main(m)) }
//
//	func TestSomething(t *testing.T) {
//		h := testhost.New(t) // prepares the cache once per process; Skip with -short
//		res, err := h.Run(t.Context(), testhost.Guest{
//			VMM:        testhost.GoVMM, // or testhost.QEMU: same kernel, same initramfs
//			Kernel:     h.Kernel(testhost.KernelTrixieCloud),
//			Init:       "#!/bin/sh\necho hello\npoweroff -f\n",
//			Cmdline:    "console=ttyS0 panic=-1",
//			CPUs:       2,
//			ExitMarker: "hello", // then the VMM has a minute to exit
//		})
//		if err != nil {
//			t.Fatal(err) // the test host failed, not the guest
//		}
//		if res.ExitCode != 0 || !strings.Contains(res.Serial, "hello") {
//			t.Fatalf("guest failed:\n%s", res.Tail(40))
//		}
//	}
//
// Run boots one L1 per call (about 6 s) and the guest in it; RunSeq boots
// several guests in one L1; RunL1 runs any shell script in L1 (for tests of
// VFIO or vhost set-ups). A Result carries the serial console, the VMM's
// standard error and exit status, timings, and the L1 log; the work
// directory is removed when the test passes and kept, with its path logged,
// when it fails.
//
// # Kernels and the cache
//
// All software comes from Debian packages, fetched with apt-get download and
// unpacked with dpkg-deb -x into the cache ($GOVMM_TESTHOST_CACHE, else
// $XDG_CACHE_HOME/govmm/testhost, else ~/.cache/govmm/testhost; about 1 GB):
//
//   - KernelL1: bookworm linux-image-6.1.0-N-amd64-unsigned, L1 itself, and
//     an L2 with 9p and e1000e.
//   - KernelBookwormCloud: bookworm linux-image-6.1.0-N-cloud-amd64-unsigned.
//   - KernelTrixieCloud: trixie linux-image-6.12.*-cloud-amd64-unsigned.
//   - busybox-static (bookworm), for every initramfs.
//   - trixie's qemu-system-x86 and its dependency closure (about 90
//     packages), unpacked into a private root and run through its own
//     dynamic loader as L0. Bookworm's QEMU 7.2 as L0 corrupts the L2
//     guest's state now and then under the emulated SVM (about 1 boot in 5
//     of the 6.12 kernel dies early with garbage in RFLAGS); QEMU 10 does
//     not. Nothing is installed into the machine's root.
//
// Bookworm packages come through the machine's own apt configuration
// (refreshed once with apt-get update when a package has no candidate).
// Trixie is read through a private one-line sources file in the cache
// whose archive URI is taken, at run time, from the machine's configured
// Debian source (DebianURI; override with $GOVMM_TESTHOST_DEBIAN_URI), with
// private lists refreshed once a day; the installed archive keyring
// verifies it. For every kernel the cache also holds modules.dep (depmod
// -b: Debian's kernel packages ship none) and the vmlinux ELF decompressed
// from the bzImage's payload (LocatePayload, ExtractVmlinux) for PVH boots.
// A package that cannot be fetched again (offline, archive moved on) is
// used from the cache with a warning; $GOVMM_TESTHOST_OFFLINE=1 skips the
// package tools entirely.
//
// Programs the harness needs on this machine, never installed by it
// (New fails naming the package): apt, dpkg, kmod (depmod), lz4, zstd,
// xz-utils, gzip, qemu-system-x86 (QEMU guests in L1) and the Go
// toolchain. The initramfs images are written by NewcWriter, so neither
// cpio nor mknod privileges are needed for them. Run as root all the same:
// apt-get writes into the cache as root, and L1 reads this machine's whole
// root through QEMU's 9p export.
//
// # Inside L1
//
// L1's /init mounts this machine's root read-only over 9p (msize 256 KiB),
// the work directory read-write at /tmp/w, its own proc, sysfs, devtmpfs
// (with /dev/kvm), devpts and tmpfs on /tmp, /run, /var/tmp and /dev/shm (the
// cache is bind-mounted back when it lives under one of those), then runs
// the script in a chroot with stdin /dev/null. The script's exit status
// comes back through a file in the work directory (L1Result.Status); L1 then
// powers off (poweroff -f, SysRq o as a fallback). L1's kernel boots with
// panic=-1 and L0 with -no-reboot, so a crash ends the run at once.
//
// # Time limits
//
// Every external program runs with a hard timeout, in its own process group
// that is sent SIGTERM and then SIGKILL when the timeout or the caller's
// context expires, and that the kernel kills if the test process dies. L0
// QEMU's limit is the sum of the guests' timeouts plus two minutes; each VMM
// inside L1 is killed after its Guest.Timeout, or a Guest.ExitGrace after
// Guest.ExitMarker appeared (a guest that powered off under a VMM that did
// not notice fails in a minute, not at the timeout). Only processes the harness
// started are ever signalled (by PID, never by name; L0 QEMU is also checked
// through its own pidfile).
//
// # Timing
//
// Inside L1, a small launcher (built from internal/vmmrun) starts each VMM
// and reads its standard output. It takes L1's monotonic clock just before
// starting the VMM, when the bytes completing Guest.Marker are read from
// the VMM's output pipe, and when the VMM's exit is collected:
// Result.ToMarker and Result.ToExit. Both VMMs are measured the same way on
// the same (emulated) machine, so the figures compare VMMs; they are not
// native boot times, since L1 and L2 both run under TCG.
//
// # Environment
//
// GOVMM_TESTHOST_CACHE, _DEBIAN_URI, _REFRESH (seconds), _OFFLINE,
// _L0_QEMU=host (the machine's QEMU as L0), _QEMU (an L0 QEMU binary),
// _QEMU_EXTRA (extra L0 arguments), _L1_MEM, _L1_APPEND, _GOVMM (a prebuilt
// govmm), _WORKDIR, _KEEP (keep work directories), _VERBOSE (L1's console
// on standard error while it runs): see Config.
package testhost
