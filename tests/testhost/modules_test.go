package testhost

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestNormModule(t *testing.T) {
	tests := map[string]string{
		"kernel/drivers/block/virtio_blk.ko.xz": "virtio_blk",
		"kernel/arch/x86/kvm/kvm-amd.ko":        "kvm_amd",
		"vfio-pci-core.ko.zst":                  "vfio_pci_core",
		"9pnet_virtio.ko.gz":                    "9pnet_virtio",
		"kvm-amd":                               "kvm_amd",
		"virtio_pci":                            "virtio_pci",
	}
	for in, want := range tests {
		if got := normModule(in); got != want {
			t.Errorf("normModule(%q) = %q, want %q", in, got, want)
		}
	}
}

const testModulesDep = `kernel/drivers/virtio/virtio.ko.xz:
kernel/drivers/virtio/virtio_ring.ko.zst: kernel/drivers/virtio/virtio.ko.xz
kernel/drivers/block/virtio_blk.ko.gz: kernel/drivers/virtio/virtio_ring.ko.zst kernel/drivers/virtio/virtio.ko.xz
kernel/fs/plain-mod.ko:
kernel/net/needs-builtin.ko: kernel/drivers/pci/pci-stub.ko
`

func testIndex(t *testing.T) *moduleIndex {
	t.Helper()
	path, deps, err := parseModulesDep(strings.NewReader(testModulesDep))
	if err != nil {
		t.Fatal(err)
	}
	return &moduleIndex{dir: "/x/lib/modules/6.0.0-test", path: path, deps: deps, builtin: map[string]bool{"pci_stub": true}}
}

func TestModuleResolve(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		order   []string
		builtin []string
		wantErr string
	}{
		{"dependencies first", []string{"virtio_blk"}, []string{"virtio", "virtio_ring", "virtio_blk"}, nil, ""},
		{"each once, names with dashes", []string{"virtio-ring", "virtio_blk", "plain-mod", "virtio"},
			[]string{"virtio", "virtio_ring", "virtio_blk", "plain_mod"}, nil, ""},
		{"built-in skipped", []string{"pci-stub", "plain_mod"}, []string{"plain_mod"}, []string{"pci_stub"}, ""},
		{"built-in dependency skipped", []string{"needs-builtin"}, []string{"needs_builtin"}, []string{"pci_stub"}, ""},
		{"unknown", []string{"virtio_blk", "e1000e"}, nil, nil, "module e1000e is not in /x/lib/modules/6.0.0-test/modules.dep"},
		{"nothing", nil, nil, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			order, builtin, err := testIndex(t).resolve(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("resolve = %v, %v; want error %q", order, err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(order, tc.order) || !slices.Equal(builtin, tc.builtin) {
				t.Fatalf("resolve = %v, %v, %v; want %v, %v", order, builtin, err, tc.order, tc.builtin)
			}
		})
	}
}

func TestModuleResolveCycle(t *testing.T) {
	path, deps, err := parseModulesDep(strings.NewReader("a.ko: b.ko\nb.ko: a.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	ix := &moduleIndex{path: path, deps: deps, builtin: map[string]bool{}}
	order, _, err := ix.resolve([]string{"a"})
	if err != nil || !slices.Equal(order, []string{"b", "a"}) {
		t.Errorf("resolve of a cycle = %v, %v", order, err)
	}
}

func TestParseModulesDepErrors(t *testing.T) {
	for _, in := range []string{"no colon here\n", "a.ko:\n\nb.ko:\n", ": a.ko\n"} {
		if _, _, err := parseModulesDep(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "line") {
			t.Errorf("parseModulesDep(%q) = %v, want an error naming the line", in, err)
		}
	}
}

// FuzzModulesDep: any modules.dep text either fails to parse or resolves
// every module it names without hanging, dependencies before dependents.
func FuzzModulesDep(f *testing.F) {
	f.Add(testModulesDep)
	f.Add("a.ko: b.ko\nb.ko: a.ko\n")
	f.Add("x.ko.zst: y-z.ko.xz y_z.ko\n")
	f.Fuzz(func(t *testing.T, dep string) {
		path, deps, err := parseModulesDep(strings.NewReader(dep))
		if err != nil {
			return
		}
		ix := &moduleIndex{path: path, deps: deps, builtin: map[string]bool{}}
		var names []string
		for n := range path {
			names = append(names, n)
		}
		order, _, err := ix.resolve(names)
		if err != nil {
			return // a dependency that is not a module itself
		}
		pos := map[string]int{}
		for i, n := range order {
			if _, dup := pos[n]; dup {
				t.Fatalf("%s loaded twice: %v", n, order)
			}
			pos[n] = i
		}
		for _, n := range order {
			for _, d := range deps[n] {
				if pd, ok := pos[d]; ok && pd > pos[n] && !dependsOn(deps, d, n) {
					t.Fatalf("%s loaded before its dependency %s: %v", n, d, order)
				}
			}
		}
	})
}

// dependsOn reports whether a reaches b through deps (a cycle).
func dependsOn(deps map[string][]string, a, b string) bool {
	seen := map[string]bool{}
	var walk func(string) bool
	walk = func(n string) bool {
		if n == b {
			return true
		}
		if seen[n] {
			return false
		}
		seen[n] = true
		for _, d := range deps[n] {
			if walk(d) {
				return true
			}
		}
		return false
	}
	return walk(a)
}

func TestLoadModuleIndexRunsDepmod(t *testing.T) {
	requireTool(t, "depmod")
	md := filepath.Join(t.TempDir(), "lib", "modules", "6.0.0-test")
	if err := os.MkdirAll(filepath.Join(md, "kernel"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(md, "modules.builtin"), []byte("kernel/drivers/pci/pci-stub.ko\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ix, err := loadModuleIndex(context.Background(), md)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(md, "modules.dep")); err != nil {
		t.Errorf("depmod wrote no modules.dep: %v", err)
	}
	if !ix.builtin["pci_stub"] || len(ix.path) != 0 {
		t.Errorf("index = %+v", ix)
	}
}
