// Command govmm-demo boots a stock Debian kernel (trixie's 6.12 cloud
// kernel) under govmm with an emulated Intel VT-d and intel_iommu=on, and
// prints the guest's console. On machines whose /dev/kvm cannot run Linux
// guests it runs govmm inside the test host (package testhost), which it
// prepares first (Debian packages, cached).
//
// Usage:
//
//	go run ./tests/cmd/govmm-demo [-kernel trixie-cloud|bookworm-cloud] [-cpus 2]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/govmm/govmm/tests/testhost"
)

const demoInit = `#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo
echo "=== govmm demo guest: $(uname -sr), $(nproc) CPUs"
echo "=== ACPI tables: $(ls /sys/firmware/acpi/tables | tr '\n' ' ')"
for d in /sys/bus/pci/devices/*; do
	g=$(readlink $d/iommu_group)
	echo "=== PCI ${d##*/} $(cat $d/vendor):$(cat $d/device) iommu group ${g##*/}"
done
dmesg | grep -E 'DMAR: (Intel|dmar0: Using)'
echo "=== powering off"
poweroff -f
`

func main() {
	kernel := flag.String("kernel", testhost.KernelTrixieCloud, "guest kernel: "+testhost.KernelTrixieCloud+" or "+testhost.KernelBookwormCloud)
	cpus := flag.Int("cpus", 2, "vCPUs")
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if err := run(ctx, *kernel, *cpus); err != nil {
		fmt.Fprintln(os.Stderr, "govmm-demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, kernel string, cpus int) error {
	cfg, err := testhost.ConfigFromEnv()
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	h, err := testhost.Open(ctx, cfg, logf)
	if err != nil {
		return err
	}
	defer h.Close()
	res, err := h.Run(ctx, testhost.Guest{
		VMM:        testhost.GoVMM,
		Kernel:     h.Kernel(kernel),
		Init:       demoInit,
		Cmdline:    "console=ttyS0 panic=-1 quiet intel_iommu=on",
		CPUs:       cpus,
		Memory:     "1G",
		ExtraArgs:  []string{"--iommu", "vtd", "--device", "edu"},
		ExitMarker: "=== powering off",
		Timeout:    5 * time.Minute,
	})
	if err != nil {
		return err
	}
	fmt.Print(res.Serial)
	fmt.Fprintln(os.Stderr, res.Summary())
	if res.ExitCode != 0 {
		return fmt.Errorf("govmm exited with status %d", res.ExitCode)
	}
	return nil
}
