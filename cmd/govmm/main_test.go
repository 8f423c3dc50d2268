package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsageErrors checks that bad flags and bad files end with one line
// naming the problem and exit status 2, before any VM is created.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, bytes.Repeat([]byte{0x5a}, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "Usage"},
		{"unknown command", []string{"boot"}, `unknown command "boot"`},
		{"unknown flag", []string{"run", "--bogus"}, "flag provided but not defined: -bogus"},
		{"no kernel", []string{"run"}, "--kernel is required"},
		{"missing kernel", []string{"run", "--kernel", filepath.Join(dir, "none")}, "no such file"},
		{"not a kernel", []string{"run", "--kernel", junk}, "not a Linux bzImage"},
		{"memory too small", []string{"run", "--kernel", junk, "--memory", "1M"}, "at least 64 MiB"},
		{"memory too large", []string{"run", "--kernel", junk, "--memory", "100000G"}, "more than the host"},
		{"bad memory", []string{"run", "--kernel", junk, "--memory", "lots"}, "bad size"},
		{"cpus", []string{"run", "--kernel", junk, "--cpus", "0"}, "between 1 and 255"},
		{"bad iommu", []string{"run", "--kernel", junk, "--iommu", "amd"}, `unknown IOMMU "amd"`},
		{"bad vtd option", []string{"run", "--kernel", junk, "--iommu", "vtd,aw-bits=50"}, "aw-bits=50"},
		{"vtd twice", []string{"run", "--kernel", junk, "--iommu", "vtd", "--iommu", "vtd,aw-bits=39"}, `vtd given twice ("vtd" and "vtd,aw-bits=39")`},
		{"virtio twice", []string{"run", "--kernel", junk, "--iommu", "virtio", "--iommu", "vtd", "--iommu", "virtio"}, "virtio given twice"},
		{"empty iommu", []string{"run", "--kernel", junk, "--iommu", ""}, `unknown IOMMU ""`},
		{"events without iommu", []string{"run", "--kernel", junk, "--iommu-events", "x"}, "--iommu-events needs an --iommu"},
		// Both IOMMUs on disjoint devices pass every check before the
		// kernel's: the error is the junk kernel's.
		{"both iommus accepted", []string{"run", "--kernel", junk, "--iommu", "vtd", "--iommu", "virtio", "--iommu-events", "x",
			"--disk", junk + ",iommu=vtd", "--disk", junk + ",iommu=virtio", "--disk", junk, "--device", "edu,iommu=none", "--rng"}, "not a Linux bzImage"},
		{"disk behind missing virtio", []string{"run", "--kernel", junk, "--iommu", "vtd", "--disk", junk + ",iommu=virtio"},
			"--disk " + junk + ": iommu=virtio, but the VM has no such IOMMU (add --iommu virtio)"},
		{"disk behind missing vtd", []string{"run", "--kernel", junk, "--disk", junk + ",readonly,iommu=vtd"}, "iommu=vtd, but the VM has no such IOMMU"},
		{"net behind missing vtd", []string{"run", "--kernel", junk, "--iommu", "virtio", "--net", "tap=t0,iommu=vtd"}, "--net tap=t0: iommu=vtd, but"},
		{"edu behind missing virtio", []string{"run", "--kernel", junk, "--iommu", "vtd", "--device", "edu,iommu=virtio"}, "--device edu: iommu=virtio, but"},
		{"disk behind both", []string{"run", "--kernel", junk, "--iommu", "vtd", "--iommu", "virtio", "--disk", junk + ",iommu=vtd,iommu=virtio"},
			"iommu= given twice (vtd, then virtio): a device sits behind one IOMMU at most"},
		{"edu behind both", []string{"run", "--kernel", junk, "--iommu", "vtd", "--iommu", "virtio", "--device", "edu,iommu=vtd+virtio"},
			"a device sits behind one IOMMU at most"},
		{"bad iommu option", []string{"run", "--kernel", junk, "--net", "tap=t0,iommu=amd"}, `iommu="amd": want vtd, virtio or none`},
		{"unknown device", []string{"run", "--kernel", junk, "--device", "nvme"}, `unknown device "nvme"`},
		{"bad disk", []string{"run", "--kernel", junk, "--disk", "x,fast"}, `unknown option "fast"`},
		{"bad net", []string{"run", "--kernel", junk, "--net", "bridge=br0"}, "unknown option"},
		{"bad console", []string{"run", "--kernel", junk, "--console", "vga"}, `--console "vga"`},
		{"bad profile path", []string{"run", "--kernel", junk, "--cpuprofile", filepath.Join(dir, "no", "such", "dir")}, "--cpuprofile"},
		{"stray argument", []string{"run", "--kernel", junk, "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tt.args, strings.NewReader(""), &out, &errb)
			if code != exitUsage {
				t.Fatalf("exit status %d, want %d; stderr:\n%s", code, exitUsage, errb.String())
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Fatalf("stderr %q lacks %q", errb.String(), tt.want)
			}
			if tt.name != "no command" && strings.Count(strings.TrimRight(errb.String(), "\n"), "\n") != 0 {
				t.Fatalf("want one line, got:\n%s", errb.String())
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"run", "--help"}, nil, &out, &errb); code != 0 {
		t.Fatalf("--help exit status %d", code)
	}
	for _, flag := range []string{"-kernel", "-initrd", "-cmdline", "-memory", "-cpus", "-serial", "-iommu", "-disk", "-net", "Exit status"} {
		if !strings.Contains(errb.String(), flag) {
			t.Errorf("--help lacks %s", flag)
		}
	}
}
