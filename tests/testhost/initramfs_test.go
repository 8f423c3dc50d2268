package testhost

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeBusybox is a stand-in for busybox --list.
const fakeBusybox = "#!/bin/sh\n[ \"$1\" = --list ] && printf 'sh\\nls\\nbusybox\\ninsmod\\nsbin/odd\\n'\n"

// fakeModules makes ROOT/lib/modules/6.0.0-test with testModulesDep's
// modules, compressed as their names say, each holding "module NAME".
func fakeModules(t *testing.T) string {
	t.Helper()
	md := filepath.Join(t.TempDir(), "lib", "modules", "6.0.0-test")
	path, _, err := parseModulesDep(strings.NewReader(testModulesDep))
	if err != nil {
		t.Fatal(err)
	}
	for name, rel := range path {
		file := filepath.Join(md, rel)
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		data := []byte("module " + name)
		var c Compression
		switch filepath.Ext(rel) {
		case ".xz":
			c = XZ
		case ".zst":
			c = ZSTD
		case ".gz":
			c = Gzip
		}
		if c != "" {
			data = compressTool(t, c, data)
			if c != Gzip {
				data = data[:len(data)-4] // no kernel size trailer on modules
			}
		}
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(md, "modules.dep"), []byte(testModulesDep), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(md, "modules.builtin"), []byte("kernel/drivers/pci/pci-stub.ko\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return md
}

func TestInitramfs(t *testing.T) {
	dir := t.TempDir()
	bb := filepath.Join(dir, "busybox")
	if err := os.WriteFile(bb, []byte(fakeBusybox), 0o755); err != nil {
		t.Fatal(err)
	}
	md := fakeModules(t)
	const initScript = "#!/bin/sh\necho hello\npoweroff -f\n"
	tests := []struct {
		name    string
		ir      Initramfs
		modules []string // what /load-modules.sh loads
		wantErr string
	}{
		{"no modules", Initramfs{Init: initScript, Busybox: bb}, nil, ""},
		{"modules with dependencies", Initramfs{Init: initScript, Busybox: bb, ModulesDir: md, Modules: []string{"virtio-blk", "pci_stub", "plain_mod"}},
			[]string{"virtio", "virtio_ring", "virtio_blk", "plain_mod"}, ""},
		{"no #!", Initramfs{Init: "echo hi\n", Busybox: bb}, nil, "#!"},
		{"no busybox", Initramfs{Init: initScript, Busybox: filepath.Join(dir, "none")}, nil, "busybox"},
		{"modules without a kernel", Initramfs{Init: initScript, Busybox: bb, Modules: []string{"virtio"}}, nil, "ModulesDir"},
		{"unknown module", Initramfs{Init: initScript, Busybox: bb, ModulesDir: md, Modules: []string{"e1000e"}}, nil, "e1000e"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "initrd.cpio.gz")
			mods, err := tc.ir.Build(context.Background(), out)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Build = %v, want an error containing %q", err, tc.wantErr)
				}
				if _, err := os.Stat(out); err == nil {
					t.Error("a failed Build left its output")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(mods, " ") != strings.Join(tc.modules, " ") {
				t.Errorf("modules %v, want %v", mods, tc.modules)
			}
			gz, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(bytes.NewReader(gz))
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			ents, err := parseNewc(raw)
			if err != nil {
				t.Fatal(err)
			}
			byName := map[string]newcEntry{}
			var order []string
			for _, e := range ents {
				byName[e.name] = e
				order = append(order, e.name)
			}
			want := map[string]struct {
				mode uint32
				data string
			}{
				"init":        {0o100755, initScript},
				"bin/busybox": {0o100755, fakeBusybox},
				"bin/sh":      {0o120777, "busybox"},
				"bin/insmod":  {0o120777, "busybox"},
				"sbin":        {0o120777, "bin"},
				"usr/bin":     {0o120777, "../bin"},
				"dev/console": {0o20600, ""},
				"dev/null":    {0o20666, ""},
				"proc":        {0o40755, ""},
			}
			for _, m := range tc.modules {
				want["lib/modules/"+m+".ko"] = struct {
					mode uint32
					data string
				}{0o100644, "module " + m}
			}
			for name, w := range want {
				e, ok := byName[name]
				if !ok {
					t.Errorf("no %s in %v", name, order)
					continue
				}
				if e.mode != w.mode || string(e.data) != w.data {
					t.Errorf("%s: mode %o data %q, want %o %q", name, e.mode, e.data, w.mode, w.data)
				}
			}
			if _, ok := byName["bin/busybox/busybox"]; ok {
				t.Error("busybox linked to itself")
			}
			if c := byName["dev/console"]; c.rmaj != 5 || c.rmin != 1 {
				t.Errorf("dev/console is %d:%d", c.rmaj, c.rmin)
			}
			for i, name := range order {
				if parent := filepath.Dir(name); parent != "." && !slices.Contains(order[:i], parent) {
					t.Errorf("%s comes before its directory %s", name, parent)
				}
			}
			// /load-modules.sh really loads them in order: run it with a
			// stand-in insmod against an empty /sys/module
			script := string(byName["load-modules.sh"].data)
			script = strings.ReplaceAll(script, "/sys/module/", filepath.Join(t.TempDir(), "sys")+"/")
			log := filepath.Join(t.TempDir(), "insmod.log")
			bin := t.TempDir()
			if err := os.WriteFile(filepath.Join(bin, "insmod"), []byte("#!/bin/sh\necho \"$1\" >>"+log+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("/bin/sh", "-c", script)
			cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("load-modules.sh: %v\n%s", err, out)
			}
			loaded, _ := os.ReadFile(log)
			var wantLog string
			for _, m := range tc.modules {
				wantLog += "/lib/modules/" + m + ".ko\n"
			}
			if string(loaded) != wantLog {
				t.Errorf("load-modules.sh ran insmod on\n%s\nwant\n%s", loaded, wantLog)
			}

			// and cpio(1) lists it
			requireTool(t, "cpio")
			c := exec.Command("cpio", "-t", "--quiet")
			c.Stdin = bytes.NewReader(raw)
			list, err := c.Output()
			if err != nil {
				t.Fatalf("cpio -t: %v", err)
			}
			if got := strings.Fields(string(list)); strings.Join(got, " ") != strings.Join(order, " ") {
				t.Errorf("cpio -t lists %v, want %v", got, order)
			}
		})
	}
}
