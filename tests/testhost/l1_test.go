package testhost

import (
	"slices"
	"strings"
	"testing"
)

// argAfter returns the value following the first occurrence of flag.
func argAfter(args []string, flag string) string {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}

// allAfter returns every value that follows flag.
func allAfter(args []string, flag string) []string {
	var v []string
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			v = append(v, args[i+1])
		}
	}
	return v
}

func TestL0Args(t *testing.T) {
	base := l0Params{kernel: "/c/l1/bzImage", initrd: "/c/l1/initrd.gz", script: "l1.sh", cache: "/c",
		work: "/tmp/w,ork", pidfile: "/tmp/w,ork/l0.pid", memory: "2G"}
	tests := []struct {
		name        string
		edit        func(*l0Params)
		machine     string
		devices     []string
		netdev      string
		cmdlineHas  []string
		cmdlineLack []string
		tail        []string
	}{
		{
			name: "plain", machine: "q35,accel=tcg",
			cmdlineHas:  []string{"console=ttyS0", "panic=-1", "quiet", "th_script=l1.sh", "th_cache=/c"},
			cmdlineLack: []string{"intel_iommu", "th_vfio"},
		},
		{
			name: "iommu", edit: func(p *l0Params) { p.iommu = true },
			machine:    "q35,accel=tcg,kernel-irqchip=split",
			devices:    []string{"intel-iommu,caching-mode=on,intremap=on"},
			cmdlineHas: []string{"intel_iommu=on"},
		},
		{
			name: "vfio nic", edit: func(p *l0Params) { p.vfioDev = "e1000e"; p.vfioNetdev = true },
			machine:    "q35,accel=tcg,kernel-irqchip=split",
			devices:    []string{"intel-iommu,caching-mode=on,intremap=on", "e1000e,addr=0x10,netdev=thvfio0"},
			netdev:     "user,id=thvfio0,restrict=on",
			cmdlineHas: []string{"intel_iommu=on", "th_vfio=0000:00:10.0", "th_vfio_model=e1000e"},
		},
		{
			name: "vfio nvme with properties, extra L1 args, extra QEMU args",
			edit: func(p *l0Params) {
				p.vfioDev = "nvme,serial=th0"
				p.append = "loglevel=7"
				p.extra = []string{"-d", "guest_errors"}
			},
			machine:    "q35,accel=tcg,kernel-irqchip=split",
			devices:    []string{"intel-iommu,caching-mode=on,intremap=on", "nvme,serial=th0,addr=0x10"},
			cmdlineHas: []string{"th_vfio_model=nvme", "loglevel=7"},
			tail:       []string{"-d", "guest_errors"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := base
			if tc.edit != nil {
				tc.edit(&p)
			}
			args := l0Args(p)
			if got := argAfter(args, "-machine"); got != tc.machine {
				t.Errorf("-machine %q, want %q", got, tc.machine)
			}
			if got := allAfter(args, "-device"); !slices.Equal(got, tc.devices) {
				t.Errorf("-device %q, want %q (the IOMMU first)", got, tc.devices)
			}
			if got := argAfter(args, "-netdev"); got != tc.netdev {
				t.Errorf("-netdev %q, want %q", got, tc.netdev)
			}
			cmdline := strings.Fields(argAfter(args, "-append"))
			for _, w := range tc.cmdlineHas {
				if !slices.Contains(cmdline, w) {
					t.Errorf("L1 command line %q lacks %q", cmdline, w)
				}
			}
			for _, w := range tc.cmdlineLack {
				if strings.Contains(strings.Join(cmdline, " "), w) {
					t.Errorf("L1 command line %q has %q", cmdline, w)
				}
			}
			for _, w := range []string{"-no-reboot", "-nodefaults"} {
				if !slices.Contains(args, w) {
					t.Errorf("no %s", w)
				}
			}
			if got := argAfter(args, "-cpu"); !strings.Contains(got, "+svm") || !strings.Contains(got, "+npt") {
				t.Errorf("-cpu %q lacks SVM or NPT", got)
			}
			shares := allAfter(args, "-virtfs")
			if len(shares) != 2 || !strings.Contains(shares[0], "path=/,mount_tag=host") || !strings.Contains(shares[0], "readonly=on") ||
				!strings.Contains(shares[1], "path=/tmp/w,,ork,mount_tag=work") {
				t.Errorf("-virtfs %q", shares)
			}
			if argAfter(args, "-pidfile") != p.pidfile || argAfter(args, "-kernel") != p.kernel || argAfter(args, "-initrd") != p.initrd {
				t.Errorf("pidfile/kernel/initrd wrong in %q", args)
			}
			if tc.tail != nil && !slices.Equal(args[len(args)-len(tc.tail):], tc.tail) {
				t.Errorf("args end in %q, want %q", args[len(args)-len(tc.tail):], tc.tail)
			}
		})
	}
}

func TestL1InitSyntax(t *testing.T) {
	requireTool(t, "sh")
	out, err := command{name: "/bin/sh", args: []string{"-n", "-c", l1Init}, timeout: 30e9}.run(t.Context())
	if err != nil {
		t.Fatalf("sh -n: %v %s", err, out)
	}
	for _, m := range []string{"irqbypass", "kvm-amd", "9p", "vfio-pci", "vhost_net"} {
		if !slices.Contains(l1Modules, m) {
			t.Errorf("L1 does not load %s", m)
		}
	}
}
