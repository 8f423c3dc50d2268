package testhost

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

const goBuildTimeout = 10 * time.Minute

// Packages built from the module for L1.
const (
	launcherPkg = "./tests/testhost/internal/vmmrun"
	govmmPkg    = "./cmd/govmm"
)

// binaries are the programs this process built for L1, in a directory of
// the cache (bin/PID-RANDOM) because L1 sees the cache at the same path
// (this machine's /tmp is hidden in L1 behind a tmpfs). Directories of
// processes that no longer exist are removed by the next process.
type binaries struct {
	dir        string
	moduleRoot string
	launcher   string // the L1 launcher (tests/testhost/internal/vmmrun)

	mu       sync.Mutex
	govmm    string
	govmmErr error
}

// findModuleRoot returns the directory of the go.mod that governs the
// current directory (go env GOMOD).
func findModuleRoot(ctx context.Context) (string, error) {
	out, err := command{name: "go", args: []string{"env", "GOMOD"}, timeout: time.Minute}.run(ctx)
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("testhost: the current directory is not inside a Go module (go env GOMOD = %q)", mod)
	}
	return filepath.Dir(mod), nil
}

// newBinaries creates this process's binary directory under cache and
// builds the launcher into it.
func newBinaries(ctx context.Context, cache, moduleRoot string) (*binaries, error) {
	base := filepath.Join(cache, "bin")
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, err
	}
	pruneBinaries(base)
	dir, err := os.MkdirTemp(base, strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	b := &binaries{dir: dir, moduleRoot: moduleRoot, launcher: filepath.Join(dir, "vmmrun")}
	// static, and whatever GOFLAGS says (-race needs cgo)
	if err := goBuild(ctx, moduleRoot, b.launcher, launcherPkg, "CGO_ENABLED=0", "GOFLAGS="); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return b, nil
}

// pruneBinaries removes the binary directories of processes that are gone.
func pruneBinaries(base string) {
	ents, _ := os.ReadDir(base)
	for _, e := range ents {
		pid, _, ok := strings.Cut(e.Name(), "-")
		if !ok {
			continue
		}
		if _, err := os.Stat(filepath.Join("/proc", pid)); os.IsNotExist(err) {
			os.RemoveAll(filepath.Join(base, e.Name()))
		}
	}
}

// goBuild runs go build -o out pkg in the module root.
func goBuild(ctx context.Context, moduleRoot, out, pkg string, env ...string) error {
	_, err := command{
		name:    "go",
		args:    []string{"build", "-o", out, pkg},
		dir:     moduleRoot,
		env:     env,
		timeout: goBuildTimeout,
	}.run(ctx)
	return err
}

// govmmBinary returns the govmm binary, building ./cmd/govmm on first use
// (or copying prebuilt, when given). The outcome, error included, is kept
// for the life of the process.
func (b *binaries) govmmBinary(ctx context.Context, prebuilt string, logf func(string, ...any)) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.govmm != "" || b.govmmErr != nil {
		return b.govmm, b.govmmErr
	}
	out := filepath.Join(b.dir, "govmm")
	if prebuilt != "" {
		data, err := os.ReadFile(prebuilt)
		if err == nil {
			err = os.WriteFile(out, data, 0o755)
		}
		if err != nil {
			b.govmmErr = fmt.Errorf("testhost: %s: %w", EnvGoVMM, err)
		}
	} else {
		start := time.Now()
		if err := goBuild(ctx, b.moduleRoot, out, govmmPkg); err != nil {
			b.govmmErr = fmt.Errorf("testhost: building govmm: %w", err)
		} else {
			logf("built govmm in %.1fs", time.Since(start).Seconds())
		}
	}
	if b.govmmErr == nil {
		b.govmm = out
	}
	return b.govmm, b.govmmErr
}

func (b *binaries) remove() { os.RemoveAll(b.dir) }
