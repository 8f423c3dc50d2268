package testhost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// l0QEMU is how the outer (TCG) QEMU is started: a program with leading
// arguments and extra environment.
//
// Trixie's QEMU 10 runs from a private root in the cache, through that
// root's own dynamic loader and libraries, so nothing is installed into
// the machine's root. bookworm's QEMU 7.2 as L0 corrupts L2 state now and
// then under the emulated SVM (garbage in RFLAGS bits 12-31, double faults
// early in the trixie 6.12 L2 kernel, about 1 boot in 5); QEMU 10 does not.
type l0QEMU struct {
	argv    []string
	env     []string
	version string // first line of --version
}

const qemuVersionTimeout = time.Minute

// privateQEMU describes the QEMU in the private root entry dir.
func privateQEMU(dir string) l0QEMU {
	r := filepath.Join(dir, "root")
	lib := filepath.Join(r, "usr", "lib", "x86_64-linux-gnu")
	q := l0QEMU{
		argv: []string{
			filepath.Join(r, "usr", "lib64", "ld-linux-x86-64.so.2"),
			"--library-path", lib + ":" + filepath.Join(r, "lib", "x86_64-linux-gnu"),
			filepath.Join(r, "usr", "bin", "qemu-system-x86_64"),
			"-L", filepath.Join(r, "usr", "share", "qemu"),
			"-L", filepath.Join(r, "usr", "share", "seabios"),
		},
		env: []string{"QEMU_MODULE_DIR=" + filepath.Join(lib, "qemu")},
	}
	if v, err := os.ReadFile(filepath.Join(dir, "version")); err == nil {
		q.version = firstLine(string(v))
	}
	return q
}

// binaryQEMU is a QEMU binary run as is (the host's, or a named one).
func binaryQEMU(ctx context.Context, prog string) (l0QEMU, error) {
	q := l0QEMU{argv: []string{prog}}
	out, err := q.cmd(qemuVersionTimeout, "--version").run(ctx)
	if err != nil {
		return q, err
	}
	q.version = firstLine(string(out))
	return q, nil
}

func (q l0QEMU) cmd(timeout time.Duration, args ...string) command {
	return command{
		name:    q.argv[0],
		args:    append(append([]string{}, q.argv[1:]...), args...),
		env:     q.env,
		timeout: timeout,
	}
}

// hasNetdev reports whether the device model takes a netdev= property
// (QEMU -device MODEL,help).
func (q l0QEMU) hasNetdev(ctx context.Context, model string) bool {
	out, err := q.cmd(qemuVersionTimeout, "-device", model+",help").run(ctx)
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "netdev=") {
			return true
		}
	}
	return false
}

// fetchTrixieQEMU makes qemu-l0 point at a private root holding trixie's
// qemu-system-x86 and its whole dependency closure (about 90 packages,
// 40 MB), extracted with dpkg-deb and set-uid bits stripped.
func fetchTrixieQEMU(ctx context.Context, c *pkgCache, a apt, offline bool) (l0QEMU, error) {
	const alias = "qemu-l0"
	keep := func(cause error) (l0QEMU, error) {
		if dir, err := filepath.EvalSymlinks(filepath.Join(c.dir, alias)); err == nil && isDone(dir) {
			if cause != nil {
				c.logf("warning: keeping %s (%s): %v", alias, filepath.Base(dir), cause)
			}
			return privateQEMU(dir), nil
		}
		if cause == nil {
			cause = errors.New("no package lists to fetch it with")
		}
		return l0QEMU{}, fmt.Errorf("testhost: no trixie QEMU in %s: %w", c.dir, cause)
	}
	if offline {
		return keep(nil)
	}
	ver, err := a.candidate(ctx, "qemu-system-x86")
	if err != nil {
		return keep(err)
	}
	dest := c.entryDir("qemu-system-x86-trixie", ver)
	if !isDone(dest) {
		if err := buildQEMURoot(ctx, c, a, ver, dest); err != nil {
			return keep(err)
		}
	}
	if err := c.setAlias(alias, dest); err != nil {
		return l0QEMU{}, err
	}
	return privateQEMU(dest), nil
}

func buildQEMURoot(ctx context.Context, c *pkgCache, a apt, ver, dest string) error {
	tmp, err := c.tempDir("qemu-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	pkgs, err := a.closure(ctx, "qemu-system-x86", filepath.Join(tmp, "status"))
	if err != nil {
		return err
	}
	c.logf("downloading trixie qemu-system-x86 %s and %d dependencies", ver, len(pkgs)-1)
	debDir := filepath.Join(tmp, "debs")
	if err := os.Mkdir(debDir, 0o755); err != nil {
		return err
	}
	debs, err := a.download(ctx, debDir, pkgs...)
	if err != nil {
		return err
	}
	x := filepath.Join(tmp, "x")
	for _, d := range debs {
		if err := extractDeb(ctx, d, filepath.Join(x, "root")); err != nil {
			return err
		}
	}
	q := privateQEMU(x)
	out, err := q.cmd(qemuVersionTimeout, "--version").run(ctx)
	if err != nil {
		return fmt.Errorf("testhost: trixie QEMU does not start: %w", err)
	}
	if err := os.WriteFile(filepath.Join(x, "version"), out, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(x, ".package"), []byte("qemu-system-x86 "+ver+"\n"), 0o644); err != nil {
		return err
	}
	return install(x, dest)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(l)
}
