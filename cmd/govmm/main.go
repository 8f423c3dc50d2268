// Command govmm runs a KVM virtual machine whose devices can sit behind an
// emulated Intel VT-d, a virtio-iommu, or either of the two in one VM.
//
// Usage:
//
//	govmm run --kernel K [--initrd I] [--cmdline S] [--memory 1G] [--cpus N] [--serial stdio|FILE]
//	          [--iommu vtd[,...]] [--iommu virtio[,...]] [--iommu-events FILE]
//	          [--disk PATH[,readonly][,iommu=vtd|virtio|none]]... [--net tap=NAME[,...][,iommu=...]]...
//	          [--device edu[,iommu=...]]... [--rng] [--console serial|virtio]
//
// With both IOMMUs, each device sits behind the one its iommu= option
// names, VT-d by default; the DMAR then lists VT-d's devices as device
// scopes and the VIOT the virtio-iommu's, so no device is claimed twice.
// Naming an IOMMU that is not configured, or two IOMMUs for one device, is
// a usage error.
//
// Exit status:
//
//	0  the guest powered the machine off
//	1  the guest or the VMM failed (triple fault, KVM error, ...); the reason
//	   and the vCPU registers are printed on standard error
//	2  usage error: a bad flag or a bad file, found before any VM is created
//	3  the guest reset the machine (the VM ends instead of rebooting)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/govmm/govmm/vmm"
)

// Exit codes.
const (
	exitPowerOff = 0
	exitError    = 1
	exitUsage    = 2
	exitReset    = 3
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usageText = `govmm runs a KVM virtual machine with guest-visible IOMMUs.

Usage:
  govmm run [flags]     boot a Linux kernel (see govmm run --help)
  govmm help            print this text

Exit status: 0 guest powered off, 1 guest or VM error, 2 usage error,
3 guest reset the machine.
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return runVM(args[1:], stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageText)
		return 0
	}
	fmt.Fprintf(stderr, "govmm: unknown command %q (want \"run\"; see govmm help)\n", args[0])
	return exitUsage
}

func runVM(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("govmm run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		kernel   = fs.String("kernel", "", "Linux kernel to boot: a bzImage (64-bit boot protocol) or an ELF vmlinux with a PVH entry note (required)")
		initrd   = fs.String("initrd", "", "initramfs image to load next to the kernel")
		cmdline  = fs.String("cmdline", "console=ttyS0", "kernel command line")
		memory   = fs.String("memory", "1G", "guest RAM, in bytes or with a K, M or G suffix (at least 64M, at most the host's RAM)")
		cpus     = fs.Int("cpus", 1, "number of vCPUs (1-255), each on its own host thread")
		serialTo = fs.String("serial", "stdio", "where the COM1 console goes: \"stdio\" (input from stdin, output to stdout) or a FILE to write output to")
		logLevel = fs.String("log-level", "info", "VMM diagnostics on stderr: debug, info, warn or error")
		events   = fs.String("iommu-events", "", "write every IOMMU notifier event (map, unmap, deviotlb_unmap) of every device, behind either IOMMU, as JSON lines to this file")
		devices  []vmm.DeviceConfig
		iommus   []string
		disks    []vmm.DiskConfig
		rng      = fs.Bool("rng", false, "add a virtio-rng device (guest /dev/hwrng)")
		console  = fs.String("console", "serial", "guest console device: \"serial\" (COM1, console=ttyS0) or \"virtio\" (virtio-console, console=hvc0; COM1 still prints early boot)")
		nets     []vmm.NetConfig
		cpuProf  = fs.String("cpuprofile", "", "write a pprof CPU profile of the VMM process (vCPU threads' exit handling and device goroutines) to this file")
	)
	fs.Func("net", "add a virtio-net interface on a host tap device (repeatable): tap=NAME[,mac=XX:XX:XX:XX:XX:XX][,iommu=vtd|virtio|none]", func(v string) error {
		n, err := vmm.ParseNet(v)
		if err != nil {
			return err
		}
		nets = append(nets, n)
		return nil
	})
	fs.Func("disk", "add a virtio-blk disk backed by a raw image (repeatable): PATH[,readonly][,iommu=vtd|virtio|none]", func(v string) error {
		d, err := vmm.ParseDisk(v)
		if err != nil {
			return err
		}
		disks = append(disks, d)
		return nil
	})
	fs.Func("iommu", "add a guest-visible IOMMU: \"vtd[,aw-bits=39|48,caching-mode=on|off,device-iotlb=on|off,pt=on|off]\" (Intel VT-d at 0xFED90000) or \"virtio[,aw-bits=N,granule=4k,domain-range=A-B,bypass=on|off]\" (virtio-iommu at 00:02.0); each kind at most once. Devices sit behind the one their iommu= option names; without it, behind the only IOMMU, or VT-d when both are given (the virtio console and the rng always do)", func(v string) error {
		iommus = append(iommus, v)
		return nil
	})
	fs.Func("device", "add a PCI device (repeatable): \"edu[,iommu=vtd|virtio|none]\" (a DMA test engine, 1234:11e8)", func(v string) error {
		d, err := vmm.ParseDevice(v)
		if err != nil {
			return err
		}
		devices = append(devices, d)
		return nil
	})
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: govmm run --kernel K [flags]\n\nBoots a Linux kernel under KVM. With --serial stdio and a terminal on stdin,\nCtrl-A x quits.\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(w, "\nExit status: 0 guest powered off, 1 guest or VM error, 2 usage error, 3 guest reset.\n")
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fs.Usage()
			return 0
		}
		fmt.Fprintf(stderr, "govmm run: %v (see govmm run --help)\n", err)
		return exitUsage
	}
	fs.SetOutput(stderr)
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "govmm run: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "govmm run: --log-level %q: want debug, info, warn or error\n", *logLevel)
		return exitUsage
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	mem, err := vmm.ParseSize(*memory)
	if err != nil {
		fmt.Fprintf(stderr, "govmm run: --memory: %v\n", err)
		return exitUsage
	}
	iommuCfg, err := vmm.ParseIOMMU(iommus...)
	if err != nil {
		fmt.Fprintf(stderr, "govmm run: --iommu: %v\n", err)
		return exitUsage
	}
	cfg := vmm.Config{
		Kernel: *kernel, Initrd: *initrd, Cmdline: *cmdline,
		Memory: mem, CPUs: *cpus, Logger: logger,
		IOMMU: iommuCfg, IOMMUEvents: *events, Devices: devices,
		Disks: disks, RNG: *rng, Nets: nets,
	}
	switch *console {
	case "serial":
	case "virtio":
		cfg.VirtioConsole = true
	default:
		fmt.Fprintf(stderr, "govmm run: --console %q: want serial or virtio\n", *console)
		return exitUsage
	}
	var term *terminal
	switch *serialTo {
	case "stdio":
		cfg.Serial = stdout
		if f, ok := stdin.(*os.File); ok && isTerminal(f) {
			term, err = makeRaw(f)
			if err != nil {
				fmt.Fprintf(stderr, "govmm run: terminal: %v\n", err)
				return exitError
			}
			defer term.restore()
			cfg.SerialInput = term
		} else if stdin != nil {
			cfg.SerialInput = stdin
		}
	case "":
		fmt.Fprintln(stderr, "govmm run: --serial: want \"stdio\" or a file name")
		return exitUsage
	default:
		f, err := os.Create(*serialTo)
		if err != nil {
			fmt.Fprintf(stderr, "govmm run: --serial: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		cfg.Serial = f
	}

	var profFile *os.File
	if *cpuProf != "" {
		if profFile, err = os.Create(*cpuProf); err != nil {
			fmt.Fprintf(stderr, "govmm run: --cpuprofile: %v\n", err)
			return exitUsage
		}
		defer profFile.Close()
	}

	vm, err := vmm.New(cfg)
	if err != nil {
		if vmm.IsConfigError(err) {
			fmt.Fprintf(stderr, "govmm run: %v\n", err)
			return exitUsage
		}
		fmt.Fprintf(stderr, "govmm run: %v\n", err)
		return exitError
	}
	defer vm.Close()

	if profFile != nil {
		if err := pprof.StartCPUProfile(profFile); err != nil {
			fmt.Fprintf(stderr, "govmm run: --cpuprofile: %v\n", err)
			return exitError
		}
		defer pprof.StopCPUProfile()
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if term != nil {
		term.onQuit = cancel
	}
	reason, err := vm.Run(ctx)
	switch reason {
	case vmm.ExitPowerOff:
		return exitPowerOff
	case vmm.ExitReset:
		logger.Info("guest reset the machine; exiting")
		return exitReset
	case vmm.ExitStopped:
		// Stopped by a signal: say where the guest and the VMM were, for
		// whoever stopped a guest that made no progress.
		logger.Info("stopped by a signal; vCPU registers and goroutines follow")
		vm.WriteState(stderr)
		_ = pprof.Lookup("goroutine").WriteTo(stderr, 1)
		return exitError
	}
	msg := "unknown failure"
	if err != nil {
		msg = err.Error()
	}
	fmt.Fprintf(stderr, "govmm run: guest failed: %s\n", strings.TrimSpace(msg))
	return exitError
}
