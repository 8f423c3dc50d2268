package testhost

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// archiveKeyring verifies the Debian archive, trixie included.
const archiveKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// prepared is what Open gathers: the cache's contents for this run.
type prepared struct {
	kernels  map[string]Kernel
	busybox  string
	l0       l0QEMU
	l1Initrd string
}

// prepare fills the cache (idempotent): the three kernels, busybox-static,
// trixie's QEMU for L0 and L1's initramfs. It holds the cache's lock
// (cache/.lock, flock) while it works, so that concurrent test binaries
// take turns.
func prepare(ctx context.Context, cfg Config, logf func(string, ...any)) (*prepared, error) {
	unlock, err := lockCache(ctx, cfg.Cache, logf)
	if err != nil {
		return nil, err
	}
	defer unlock()
	c := &pkgCache{dir: cfg.Cache, logf: logf}
	c.pruneTemp()
	p := &prepared{kernels: map[string]Kernel{}}

	// bookworm: the machine's own package lists
	host := apt{}
	bb, err := c.fetchAlias(ctx, host, cfg.Offline, "busybox-pkg", `^busybox-static$`, nil)
	if err != nil {
		return nil, err
	}
	p.busybox = filepath.Join(bb, "bin", "busybox")
	if _, err := os.Stat(p.busybox); err != nil {
		return nil, fmt.Errorf("testhost: busybox-static: %w", err)
	}

	// trixie: a private sources file and lists in the cache; without them,
	// what the cache holds already
	var trixie apt
	trixieOffline := cfg.Offline
	if !cfg.Offline {
		if trixie, err = trixieApt(ctx, cfg, c); err != nil {
			logf("warning: %v; using the cached trixie packages", err)
			trixieOffline = true
		}
	}
	for _, ks := range kernelSpecs {
		a, offline := host, cfg.Offline
		if ks.trixie {
			a, offline = trixie, trixieOffline
		}
		dir, err := c.fetchAlias(ctx, a, offline, filepath.Join("kernels", ks.name), ks.re, prepareKernel)
		if err != nil {
			return nil, err
		}
		if p.kernels[ks.name], err = loadKernel(ks.name, dir); err != nil {
			return nil, err
		}
	}

	switch {
	case cfg.L0QEMU != "":
		p.l0, err = binaryQEMU(ctx, cfg.L0QEMU)
	case cfg.HostL0:
		logf("warning: L0 is the machine's QEMU (%s=host); bookworm's QEMU 7.2 corrupts L2 state now and then", EnvL0QEMU)
		p.l0, err = binaryQEMU(ctx, QEMUBinary)
	default:
		p.l0, err = fetchTrixieQEMU(ctx, c, trixie, trixieOffline)
		if err != nil {
			err = fmt.Errorf("%w\n(set %s=host to use the machine's QEMU as L0, at the risk of corrupted L2 boots)", err, EnvL0QEMU)
		}
	}
	if err != nil {
		return nil, err
	}

	if p.l1Initrd, err = l1Initramfs(ctx, cfg.Cache, p.kernels[KernelL1], p.busybox, logf); err != nil {
		return nil, err
	}
	return p, nil
}

// trixieApt writes the private trixie sources file (the archive URI of the
// machine's own Debian source, suite trixie, component main) and refreshes
// the private lists when they are older than cfg.Refresh.
func trixieApt(ctx context.Context, cfg Config, c *pkgCache) (apt, error) {
	uri := cfg.DebianURI
	if uri == "" {
		var err error
		if uri, err = hostDebianURI("/etc/apt"); err != nil {
			return apt{}, err
		}
	} else if !validURI(uri) {
		return apt{}, fmt.Errorf("testhost: %s=%q is not an archive URI", EnvDebianURI, uri)
	}
	dir := filepath.Join(c.dir, "trixie")
	if err := os.MkdirAll(filepath.Join(dir, "lists", "partial"), 0o755); err != nil {
		return apt{}, err
	}
	line := "deb " + uri + " trixie main\n"
	if _, err := os.Stat(archiveKeyring); err == nil {
		line = "deb [signed-by=" + archiveKeyring + "] " + uri + " trixie main\n"
	}
	src := filepath.Join(dir, "sources.list")
	if old, err := os.ReadFile(src); err != nil || string(old) != line {
		if err := writeFileAtomic(src, []byte(line)); err != nil {
			return apt{}, err
		}
		// lists of another URI are stale
		os.Remove(filepath.Join(dir, "updated"))
	}
	a := privateApt(src, dir)
	stamp := filepath.Join(dir, "updated")
	if info, err := os.Stat(stamp); err == nil && time.Since(info.ModTime()) < cfg.Refresh {
		return a, nil
	}
	c.logf("apt-get update (private trixie lists in %s, from %s)", dir, uri)
	if err := a.update(ctx); err != nil {
		c.logf("warning: trixie apt-get update failed: %v", err)
		return a, nil
	}
	return a, os.WriteFile(stamp, nil, 0o644)
}

func writeFileAtomic(name string, data []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// lockCache takes the cache's exclusive lock, waiting (and saying so) while
// another process holds it, until ctx expires or half an hour passes.
func lockCache(ctx context.Context, cache string, logf func(string, ...any)) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(cache, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Minute)
	for said := false; ; said = true {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			f.Close()
			return nil, fmt.Errorf("testhost: locking %s: %w", f.Name(), err)
		}
		if !said {
			logf("waiting for another process to release %s", f.Name())
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("testhost: %s is still locked after 30 minutes", f.Name())
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
