package testhost

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The session script passes each VMM command line to the launcher word
// for word, whatever it contains, and the launcher options for the guest.
func TestSessionScript(t *testing.T) {
	work := t.TempDir()
	launcher := filepath.Join(t.TempDir(), "launcher")
	// the stand-in launcher writes its arguments, NUL-separated, to a file
	// named after the -dir it was given
	if err := os.WriteFile(launcher, []byte("#!/bin/sh\nd=$2\nmkdir -p \"$d\"\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done >\"$d/args\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	k := Kernel{BzImage: "/k/bzImage", Vmlinux: "/k/vmlinux"}
	guests := []Guest{
		{VMM: QEMU, Kernel: k, Cmdline: "console=ttyS0 it's \"quoted\" $HOME", CPUs: 2, Memory: "1G", Timeout: 90 * time.Second, Marker: "INIT OK"},
		{VMM: GoVMM, Kernel: k, PVH: true, Cmdline: "a;b", CPUs: 1, Memory: "512M", Timeout: time.Minute,
			ExitMarker: "@poweroff", ExitGrace: 30 * time.Second, ExtraArgs: []string{"--iommu", "vtd"}},
	}
	argv := [][]string{guests[0].argv("/bin/govmm", "/w/initrd"), guests[1].argv("/bin/govmm", "/w/initrd")}
	script := sessionScript(scriptEnv{launcher: launcher, work: work, kvm: "/dev/null", tee: true}, guests, argv)
	cmd := exec.Command("/bin/sh", "-c", script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("script failed: %v\n%s\n%s", err, out, script)
	}
	want := [][]string{
		append([]string{"-dir", filepath.Join(work, "l2-0"), "-timeout", "1m30s", "-marker", "INIT OK", "-tee", "--"}, argv[0]...),
		append([]string{"-dir", filepath.Join(work, "l2-1"), "-timeout", "1m0s", "-exit-marker", "@poweroff", "-exit-grace", "30s", "-tee", "--"}, argv[1]...),
	}
	for i, w := range want {
		b, err := os.ReadFile(filepath.Join(work, guestDir(i), "args"))
		if err != nil {
			t.Fatalf("guest %d was not launched: %v", i, err)
		}
		got := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		if !slices.Equal(got, w) {
			t.Errorf("guest %d launched with\n%q\nwant\n%q", i, got, w)
		}
	}

	// without the KVM device the script stops before launching anything
	work2 := t.TempDir()
	script = sessionScript(scriptEnv{launcher: launcher, work: work2, kvm: filepath.Join(work2, "no-kvm")}, guests, argv)
	out, err := exec.Command("/bin/sh", "-c", script).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no ") {
		t.Errorf("script without KVM: %v, %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(work2, "l2-0")); err == nil {
		t.Error("a guest was launched without KVM")
	}
}

func TestGuestArgv(t *testing.T) {
	k := Kernel{BzImage: "/c/bzImage", Vmlinux: "/c/vmlinux"}
	tests := []struct {
		name string
		g    Guest
		want []string
	}{
		{"govmm bzImage", Guest{VMM: GoVMM, Kernel: k, Init: "#!/bin/sh\n", CPUs: 2, Memory: "1G", ExtraArgs: []string{"--x"}},
			[]string{"/b/govmm", "run", "--kernel", "/c/bzImage", "--initrd", "/tmp/w/i", "--cmdline", DefaultCmdline,
				"--memory", "1G", "--cpus", "2", "--serial", "stdio", "--x"}},
		{"govmm PVH, defaults", Guest{VMM: GoVMM, Kernel: k, Init: "#!/bin/sh\n", PVH: true},
			[]string{"/b/govmm", "run", "--kernel", "/c/vmlinux", "--initrd", "/tmp/w/i", "--cmdline", DefaultCmdline,
				"--memory", DefaultMemory, "--cpus", "1", "--serial", "stdio"}},
		{"qemu", Guest{VMM: QEMU, Kernel: k, Init: "#!/bin/sh\n", Cmdline: "quiet", CPUs: 4, Memory: "2G", ExtraArgs: []string{"-M", "kernel-irqchip=split"}},
			[]string{QEMUBinary, "-enable-kvm", "-M", "q35", "-cpu", "host", "-smp", "4", "-m", "2G",
				"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
				"-chardev", "stdio,id=s0,signal=off", "-serial", "chardev:s0",
				"-kernel", "/c/bzImage", "-initrd", "/tmp/w/i", "-append", "quiet", "-M", "kernel-irqchip=split"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := tc.g.normalize()
			if err != nil {
				t.Fatal(err)
			}
			if got := g.argv("/b/govmm", "/tmp/w/i"); !slices.Equal(got, tc.want) {
				t.Errorf("argv =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestGuestNormalizeErrors(t *testing.T) {
	k := Kernel{BzImage: "/c/bzImage"}
	ok := Guest{Kernel: k, Init: "#!/bin/sh\n"}
	tests := []struct {
		name string
		edit func(*Guest)
		want string
	}{
		{"no kernel", func(g *Guest) { g.Kernel = Kernel{} }, "Kernel"},
		{"init without #!", func(g *Guest) { g.Init = "echo" }, "#!"},
		{"bad VMM", func(g *Guest) { g.VMM = 7 }, "VMM(7)"},
		{"CPUs", func(g *Guest) { g.CPUs = -1 }, "CPUs"},
		{"memory", func(g *Guest) { g.Memory = "lots" }, "Memory"},
		{"timeout", func(g *Guest) { g.Timeout = time.Millisecond }, "Timeout"},
		{"exit grace", func(g *Guest) { g.ExitGrace = -time.Second }, "ExitGrace"},
		{"file escapes", func(g *Guest) { g.Files = map[string][]byte{"../x": nil} }, "../x"},
		{"file absolute", func(g *Guest) { g.HostFiles = map[string]string{"/etc/x": "/etc/passwd"} }, "/etc/x"},
		{"file reserved", func(g *Guest) { g.Files = map[string][]byte{"l1.sh": nil} }, "test host itself"},
	}
	if _, err := ok.normalize(); err != nil {
		t.Fatalf("the base guest is refused: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := ok
			tc.edit(&g)
			if _, err := g.normalize(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("normalize = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestPlaceFiles(t *testing.T) {
	work := t.TempDir()
	host := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(host, []byte("disk"), 0o600); err != nil {
		t.Fatal(err)
	}
	placed := map[string]string{}
	if err := placeFiles(work, map[string][]byte{"a/b.txt": []byte("x"), "c": nil}, map[string]string{"img/disk.img": host}, placed); err != nil {
		t.Fatal(err)
	}
	// a second guest with the same files is fine, different contents are not
	if err := placeFiles(work, map[string][]byte{"a/b.txt": []byte("x")}, map[string]string{"img/disk.img": host}, placed); err != nil {
		t.Errorf("same files again: %v", err)
	}
	if err := placeFiles(work, map[string][]byte{"a/b.txt": []byte("y")}, nil, placed); err == nil {
		t.Error("different contents under one name accepted")
	}
	for name, want := range map[string]string{"a/b.txt": "x", "c": "", "img/disk.img": "disk"} {
		b, err := os.ReadFile(filepath.Join(work, name))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
}
