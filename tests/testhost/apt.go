package testhost

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Timeouts of the package tools. Downloads are generous because a cold
// cache pulls about 170 MB.
const (
	aptQueryTimeout    = 2 * time.Minute
	aptUpdateTimeout   = 15 * time.Minute
	aptDownloadTimeout = 30 * time.Minute
	dpkgTimeout        = 5 * time.Minute
)

// apt runs apt-get and apt-cache, either against the machine's own package
// lists (opts empty) or against a private set selected with -o options.
type apt struct {
	opts []string
}

// privateApt returns an apt reading only the one-line sources file src and
// keeping its lists and binary caches under dir, so that nothing of the
// machine's own apt state is read or written: no other sources, no pinning.
func privateApt(src, dir string) apt {
	return apt{opts: []string{
		"-o", "Dir::Etc::sourcelist=" + src,
		"-o", "Dir::Etc::sourceparts=-",
		"-o", "Dir::Etc::preferences=/dev/null",
		"-o", "Dir::Etc::preferencesparts=-",
		"-o", "Dir::State::Lists=" + filepath.Join(dir, "lists"),
		"-o", "Dir::Cache::pkgcache=" + filepath.Join(dir, "pkgcache.bin"),
		"-o", "Dir::Cache::srcpkgcache=" + filepath.Join(dir, "srcpkgcache.bin"),
	}}
}

func (a apt) cmd(prog string, timeout time.Duration, args ...string) command {
	return command{
		name:    prog,
		args:    append(append([]string{"-q"}, a.opts...), args...),
		env:     []string{"DEBIAN_FRONTEND=noninteractive", "LC_ALL=C"},
		timeout: timeout,
	}
}

// update runs apt-get update. For private lists it skips translations and
// DEP-11 metadata, which nothing here reads.
func (a apt) update(ctx context.Context) error {
	args := []string{"-o", "APT::Sandbox::User=root", "update"}
	if len(a.opts) > 0 {
		args = append([]string{"-o", "Acquire::Languages=none",
			"-o", "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"}, args...)
	}
	_, err := a.cmd("apt-get", aptUpdateTimeout, args...).run(ctx)
	return err
}

// search lists the package names matching the extended regular expression
// re (apt-cache search --names-only), newest version-like name first.
func (a apt) search(ctx context.Context, re string) ([]string, error) {
	out, err := a.cmd("apt-cache", aptQueryTimeout, "search", "--names-only", re).run(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	sort.Slice(names, func(i, j int) bool { return versionLess(names[j], names[i]) })
	return names, nil
}

// errNoCandidate reports a package apt knows no installable version of.
var errNoCandidate = errors.New("no download candidate")

// candidate returns the version apt would download for name.
func (a apt) candidate(ctx context.Context, name string) (string, error) {
	out, err := a.cmd("apt-cache", aptQueryTimeout, "policy", name).run(ctx)
	if err != nil {
		return "", err
	}
	v := policyCandidate(out)
	if v == "" {
		return "", fmt.Errorf("testhost: %s: %w", name, errNoCandidate)
	}
	return v, nil
}

// policyCandidate extracts the "Candidate:" version from apt-cache policy
// output; "" when there is none.
func policyCandidate(out []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "Candidate:" && f[1] != "(none)" {
			return f[1]
		}
	}
	return ""
}

// newest returns the newest package name matching re that has a candidate,
// with that candidate version.
func (a apt) newest(ctx context.Context, re string) (name, version string, err error) {
	names, err := a.search(ctx, re)
	if err != nil {
		return "", "", err
	}
	for _, n := range names {
		v, err := a.candidate(ctx, n)
		if err == nil {
			return n, v, nil
		}
		if !errors.Is(err, errNoCandidate) {
			return "", "", err
		}
	}
	return "", "", fmt.Errorf("testhost: no package matching /%s/ with a download candidate", re)
}

// download fetches the .deb files of names into dir (apt-get download) and
// returns their paths. It runs as root without apt's sandbox user, which
// could not write into a root-owned cache.
func (a apt) download(ctx context.Context, dir string, names ...string) ([]string, error) {
	c := a.cmd("apt-get", aptDownloadTimeout, append([]string{"-o", "APT::Sandbox::User=root", "download"}, names...)...)
	c.dir = dir
	if _, err := c.run(ctx); err != nil {
		return nil, err
	}
	debs, err := filepath.Glob(filepath.Join(dir, "*.deb"))
	if err != nil || len(debs) == 0 {
		return nil, fmt.Errorf("testhost: apt-get download %s left no .deb in %s", strings.Join(names, " "), dir)
	}
	return debs, nil
}

// closure returns name and every package it depends on, as apt resolves an
// installation on an empty system without recommends (apt-get -s install
// with an empty dpkg status file).
func (a apt) closure(ctx context.Context, name, emptyStatus string) ([]string, error) {
	if err := os.WriteFile(emptyStatus, nil, 0o644); err != nil {
		return nil, err
	}
	out, err := a.cmd("apt-get", aptQueryTimeout, "-o", "Dir::State::status="+emptyStatus,
		"-o", "APT::Install-Recommends=false", "-s", "install", name).run(ctx)
	if err != nil {
		return nil, err
	}
	pkgs := simulatedInstalls(out)
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("testhost: could not resolve the dependencies of %s", name)
	}
	return pkgs, nil
}

// simulatedInstalls lists the packages of the "Inst NAME ..." lines of
// apt-get -s output.
func simulatedInstalls(out []byte) []string {
	var pkgs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "Inst" {
			pkgs = append(pkgs, f[1])
		}
	}
	return pkgs
}

// versionLess orders strings the way sort -V does for package names and
// Debian versions: runs of digits compare as numbers, everything else byte
// by byte, so linux-image-6.1.0-9 < linux-image-6.1.0-10.
func versionLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := isDigit(a[0]), isDigit(b[0])
		switch {
		case da && db:
			na, ra := digitRun(a)
			nb, rb := digitRun(b)
			na, nb = strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = ra, rb
		case a[0] != b[0]:
			return a[0] < b[0]
		default:
			a, b = a[1:], b[1:]
		}
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digitRun(s string) (run, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}
