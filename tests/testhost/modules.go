package testhost

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// moduleIndex is one kernel's module dependency data, from the modules.dep
// and modules.builtin files in lib/modules/RELEASE (modules.dep(5)).
// Module names are normalised as the kernel does: no directory, no .ko or
// compression suffix, '-' and '_' alike.
type moduleIndex struct {
	dir     string              // lib/modules/RELEASE
	path    map[string]string   // name -> module file, relative to dir
	deps    map[string][]string // name -> names it depends on
	builtin map[string]bool     // names built into the kernel image
}

const depmodTimeout = 5 * time.Minute

// normModule returns the kernel's name for a module file or name.
func normModule(s string) string {
	s = filepath.Base(s)
	for _, suf := range []string{".xz", ".zst", ".gz"} {
		s = strings.TrimSuffix(s, suf)
	}
	s = strings.TrimSuffix(s, ".ko")
	return strings.ReplaceAll(s, "-", "_")
}

// parseModulesDep reads modules.dep lines "FILE: DEP-FILE...". Lines that
// are empty or have no colon are errors, naming the line number.
func parseModulesDep(r io.Reader) (path map[string]string, deps map[string][]string, err error) {
	path, deps = map[string]string{}, map[string][]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		file, rest, ok := strings.Cut(line, ":")
		file = strings.TrimSpace(file)
		if !ok || file == "" {
			return nil, nil, fmt.Errorf("testhost: modules.dep line %d: %q is not \"FILE: DEPS\"", n, line)
		}
		name := normModule(file)
		path[name] = file
		var ds []string
		for _, d := range strings.Fields(rest) {
			ds = append(ds, normModule(d))
		}
		deps[name] = ds
	}
	return path, deps, sc.Err()
}

// loadModuleIndex reads the module data of modulesDir (lib/modules/RELEASE
// of an extracted kernel package), generating modules.dep with depmod -b
// first when the package shipped none (Debian's do not).
func loadModuleIndex(ctx context.Context, modulesDir string) (*moduleIndex, error) {
	dep := filepath.Join(modulesDir, "modules.dep")
	if _, err := os.Stat(dep); errors.Is(err, os.ErrNotExist) {
		if err := depmod(ctx, modulesDir); err != nil {
			return nil, err
		}
	}
	f, err := os.Open(dep)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ix := &moduleIndex{dir: modulesDir, builtin: map[string]bool{}}
	if ix.path, ix.deps, err = parseModulesDep(f); err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, dep)
	}
	if b, err := os.ReadFile(filepath.Join(modulesDir, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(b)) {
			ix.builtin[normModule(l)] = true
		}
	}
	return ix, nil
}

// depmod generates modules.dep for modulesDir = ROOT/lib/modules/RELEASE.
func depmod(ctx context.Context, modulesDir string) error {
	release := filepath.Base(modulesDir)
	root := filepath.Dir(filepath.Dir(filepath.Dir(modulesDir)))
	if filepath.Base(filepath.Dir(modulesDir)) != "modules" || filepath.Base(filepath.Dir(filepath.Dir(modulesDir))) != "lib" {
		return fmt.Errorf("testhost: %s is not ROOT/lib/modules/RELEASE", modulesDir)
	}
	_, err := command{name: "depmod", args: []string{"-b", root, release}, timeout: depmodTimeout}.run(ctx)
	return err
}

// resolve returns the modules to load for names, every dependency before
// the modules that need it, each once. Names built into the kernel are
// left out and returned in builtin; a name that is neither a module nor
// built in is an error.
func (ix *moduleIndex) resolve(names []string) (order, builtin []string, err error) {
	seen := map[string]bool{}
	var visit func(n string) error
	visit = func(n string) error {
		if seen[n] {
			return nil
		}
		seen[n] = true
		if _, ok := ix.path[n]; !ok {
			if ix.builtin[n] {
				builtin = append(builtin, n)
				return nil
			}
			return fmt.Errorf("testhost: module %s is not in %s/modules.dep", n, ix.dir)
		}
		for _, d := range ix.deps[n] {
			if err := visit(d); err != nil {
				return err
			}
		}
		order = append(order, n)
		return nil
	}
	for _, n := range names {
		if err := visit(normModule(n)); err != nil {
			return nil, nil, err
		}
	}
	return order, builtin, nil
}

// read returns the uncompressed object of the module named n.
func (ix *moduleIndex) read(ctx context.Context, n string) ([]byte, error) {
	rel, ok := ix.path[n]
	if !ok {
		return nil, fmt.Errorf("testhost: module %s is not in %s/modules.dep", n, ix.dir)
	}
	file := filepath.Join(ix.dir, rel)
	var c Compression
	switch {
	case strings.HasSuffix(file, ".ko.xz"):
		c = XZ
	case strings.HasSuffix(file, ".ko.zst"):
		c = ZSTD
	case strings.HasSuffix(file, ".ko.gz"):
		c = Gzip
	default:
		return os.ReadFile(file)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	argv := c.decompressor()
	return command{name: argv[0], args: argv[1:], stdin: f, timeout: decompressTimeout}.run(ctx)
}
