package tests

import (
	"strings"
	"testing"

	"github.com/govmm/govmm/tests/testhost"
)

// selftestInit prints the marker with the running kernel's release and the
// DMAR lines of the kernel log, then powers the guest off.
const selftestInit = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "TESTHOST-L2-OK $(uname -r)"
dmesg | grep DMAR
poweroff -f
`

// TestTestHostQEMUBoot checks the test host itself: QEMU inside L1, on L1's
// KVM, boots both cloud kernels with an emulated Intel IOMMU
// (caching-mode, interrupt remapping) to a busybox initramfs, one after the
// other in one L1 boot. (TestBootQEMUReference covers PVH.)
func TestTestHostQEMUBoot(t *testing.T) {
	h := testhost.New(t)
	iommu := []string{"-M", "q35,kernel-irqchip=split", "-device", "intel-iommu,caching-mode=on,intremap=on"}
	tests := []struct {
		name    string
		kernel  string
		extra   []string
		cmdline string
		want    []string // besides the marker line
	}{
		{
			name:    "trixie-cloud/bzImage/intel-iommu",
			kernel:  testhost.KernelTrixieCloud,
			extra:   iommu,
			cmdline: "console=ttyS0 intel_iommu=on panic=-1 quiet",
			want:    []string{"DMAR: Intel(R) Virtualization Technology for Directed I/O"},
		},
		{
			name:    "bookworm-cloud/bzImage/intel-iommu",
			kernel:  testhost.KernelBookwormCloud,
			extra:   iommu,
			cmdline: "console=ttyS0 intel_iommu=on panic=-1 quiet",
			want:    []string{"DMAR: Intel(R) Virtualization Technology for Directed I/O"},
		},
	}
	var guests []testhost.Guest
	for _, tc := range tests {
		guests = append(guests, testhost.Guest{
			VMM:       testhost.QEMU,
			Kernel:    h.Kernel(tc.kernel),
			Init:      selftestInit,
			Cmdline:   tc.cmdline,
			Memory:    "512M",
			ExtraArgs: tc.extra,
			Marker:    "TESTHOST-L2-OK",
		})
	}
	results, err := h.RunSeq(t.Context(), testhost.L1Options{}, guests...)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range tests {
		res := results[i]
		t.Run(tc.name, func(t *testing.T) {
			t.Log(res.Summary())
			if res.ExitCode != 0 {
				t.Errorf("QEMU failed:\n%s", res.Tail(30))
			}
			release := guests[i].Kernel.Release
			want := append([]string{"TESTHOST-L2-OK " + release}, tc.want...)
			for _, w := range want {
				if !strings.Contains(res.Serial, w) {
					t.Errorf("serial console lacks %q:\n%s", w, res.Tail(30))
				}
			}
			if res.ToMarker < 0 || res.ToMarker > res.ToExit {
				t.Errorf("marker time %v not within the run (%v)", res.ToMarker, res.ToExit)
			}
		})
	}
}
