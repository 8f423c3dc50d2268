package testhost

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// pkgCache is the package part of the cache directory:
//
//	pkgs/NAME_VERSION/        one extracted .deb (dpkg-deb -x), ".done" when complete
//	kernels/ALIAS -> ../pkgs/...   the kernels by role (l1, bookworm-cloud, trixie-cloud)
//	busybox-pkg -> pkgs/...   busybox-static
//	qemu-l0 -> pkgs/...       trixie's QEMU and its dependency closure
//	tmp/                      downloads in progress (same file system, for rename)
//
// Every entry is built in tmp/ and renamed into place when complete, so a
// crash or a concurrent test binary never sees half an entry; aliases are
// symbolic links replaced by rename.
type pkgCache struct {
	dir  string
	logf func(format string, args ...any)

	updated bool // the machine's lists were refreshed once already
}

const doneFile = ".done"

func isDone(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, doneFile))
	return err == nil
}

// entryDir is where the extracted package NAME at VERSION lives.
func (c *pkgCache) entryDir(name, version string) string {
	return filepath.Join(c.dir, "pkgs", name+"_"+strings.ReplaceAll(version, ":", "_"))
}

// tempDir returns a new directory under tmp/.
func (c *pkgCache) tempDir(prefix string) (string, error) {
	t := filepath.Join(c.dir, "tmp")
	if err := os.MkdirAll(t, 0o755); err != nil {
		return "", err
	}
	return os.MkdirTemp(t, prefix)
}

// pruneTemp removes leftovers of interrupted downloads older than a day.
func (c *pkgCache) pruneTemp() {
	ents, _ := os.ReadDir(filepath.Join(c.dir, "tmp"))
	for _, e := range ents {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
			os.RemoveAll(filepath.Join(c.dir, "tmp", e.Name()))
		}
	}
}

// install moves the completed directory tmp to dest. A complete dest left
// by a concurrent fetch wins; an incomplete one is replaced.
func install(tmp, dest string) error {
	if err := os.WriteFile(filepath.Join(tmp, doneFile), nil, 0o644); err != nil {
		return err
	}
	if isDone(dest) {
		return os.RemoveAll(tmp)
	}
	if err := os.RemoveAll(dest); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, dest); err != nil {
		if isDone(dest) {
			return os.RemoveAll(tmp)
		}
		return err
	}
	return nil
}

// setAlias points the symbolic link alias (relative to the cache) at dir.
func (c *pkgCache) setAlias(alias, dir string) error {
	link := filepath.Join(c.dir, alias)
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(link), dir)
	if err != nil {
		return err
	}
	if cur, err := os.Readlink(link); err == nil && cur == rel {
		return nil
	}
	tmp := link + ".new"
	os.Remove(tmp)
	if err := os.Symlink(rel, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

// fetch downloads and extracts NAME at VERSION with a (unless it is already
// there), runs prep on the extracted root, and returns the entry directory.
func (c *pkgCache) fetch(ctx context.Context, a apt, name, version string, prep func(ctx context.Context, root string) error) (string, error) {
	dest := c.entryDir(name, version)
	if isDone(dest) {
		return dest, nil
	}
	tmp, err := c.tempDir("get-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	c.logf("downloading %s %s", name, version)
	debs, err := a.download(ctx, tmp, name+"="+version)
	if err != nil {
		return "", err
	}
	root := filepath.Join(tmp, "x")
	if err := extractDeb(ctx, debs[0], root); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(root, ".package"), []byte(name+" "+version+"\n"), 0o644); err != nil {
		return "", err
	}
	if prep != nil {
		if err := prep(ctx, root); err != nil {
			return "", fmt.Errorf("testhost: preparing %s %s: %w", name, version, err)
		}
	}
	if err := install(root, dest); err != nil {
		return "", err
	}
	return dest, nil
}

// extractDeb unpacks a .deb's data into root (dpkg-deb -x) and drops
// set-user-ID and set-group-ID bits: nothing in the cache needs them.
func extractDeb(ctx context.Context, deb, root string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	if _, err := (command{name: "dpkg-deb", args: []string{"-x", deb, root}, timeout: dpkgTimeout}).run(ctx); err != nil {
		return err
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if m := info.Mode(); m&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
			return os.Chmod(p, m.Perm())
		}
		return nil
	})
}

// fetchAlias makes alias point at the newest package matching re, fetched
// and prepared. When that fails (offline, archive moved on) an alias that
// already points at a complete entry is kept with a warning.
func (c *pkgCache) fetchAlias(ctx context.Context, a apt, offline bool, alias, re string, prep func(context.Context, string) error) (string, error) {
	link := filepath.Join(c.dir, alias)
	existing := func(cause error) (string, error) {
		if dir, err := filepath.EvalSymlinks(link); err == nil && isDone(dir) {
			if cause != nil {
				c.logf("warning: keeping %s (%s): %v", alias, filepath.Base(dir), cause)
			}
			return dir, nil
		}
		if cause == nil {
			cause = errors.New("offline")
		}
		return "", fmt.Errorf("testhost: no %s in the cache %s: %w", alias, c.dir, cause)
	}
	if offline {
		return existing(nil)
	}
	name, version, err := a.newest(ctx, re)
	if err != nil && len(a.opts) == 0 && !c.updated {
		// the machine's lists may predate the package: refresh them once
		c.updated = true
		c.logf("apt-get update (no candidate for /%s/)", re)
		if uerr := a.update(ctx); uerr != nil {
			c.logf("warning: apt-get update failed: %v", uerr)
		}
		name, version, err = a.newest(ctx, re)
	}
	if err != nil {
		return existing(err)
	}
	dir, err := c.fetch(ctx, a, name, version, prep)
	if err != nil {
		return existing(err)
	}
	if err := c.setAlias(alias, dir); err != nil {
		return "", err
	}
	return dir, nil
}
