package testhost

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is everything a test host takes from its surroundings. The zero
// value is not useful; ConfigFromEnv fills one from the environment and the
// defaults documented on each field.
type Config struct {
	// Cache is the absolute directory holding downloaded packages, extracted
	// kernels, the private L0 QEMU root, L1 initramfs images and the
	// binaries built for this process. $GOVMM_TESTHOST_CACHE, else
	// $XDG_CACHE_HOME/govmm/testhost, else ~/.cache/govmm/testhost. It
	// travels on L1's kernel command line: no whitespace or shell
	// metacharacters (checked by Open).
	Cache string

	// DebianURI overrides the archive URI that is otherwise read from the
	// host's apt sources ($GOVMM_TESTHOST_DEBIAN_URI). Empty: derive it.
	DebianURI string

	// Refresh is the age after which the private trixie package lists are
	// updated again ($GOVMM_TESTHOST_REFRESH, in seconds; default 24 h).
	Refresh time.Duration

	// Offline skips every apt-get/apt-cache call and uses what the cache
	// already holds ($GOVMM_TESTHOST_OFFLINE=1).
	Offline bool

	// HostL0 runs the host's qemu-system-x86_64 as L0 instead of trixie's
	// QEMU 10 from a private root ($GOVMM_TESTHOST_L0_QEMU=host). The host's
	// QEMU 7.2 corrupts L2 state now and then under emulated SVM; use this
	// only where trixie's QEMU cannot be fetched.
	HostL0 bool

	// L0QEMU names an L0 QEMU binary to use as is ($GOVMM_TESTHOST_QEMU).
	// Empty: trixie's from the private root (or the host's with HostL0).
	L0QEMU string

	// L0Extra are extra L0 QEMU arguments ($GOVMM_TESTHOST_QEMU_EXTRA, split
	// on whitespace).
	L0Extra []string

	// L1Memory is L1's RAM as a QEMU -m size ($GOVMM_TESTHOST_L1_MEM,
	// default "2G"). L2 guests get what fits in it.
	L1Memory string

	// L1Append is extra L1 kernel command line ($GOVMM_TESTHOST_L1_APPEND,
	// e.g. "loglevel=7"; L1 boots with "quiet").
	L1Append string

	// GoVMM is a prebuilt govmm binary to use instead of building
	// ./cmd/govmm from the module ($GOVMM_TESTHOST_GOVMM).
	GoVMM string

	// ModuleRoot is the directory holding the module's go.mod. Empty: found
	// with `go env GOMOD` from the current directory.
	ModuleRoot string

	// WorkRoot is where per-run work directories are created
	// ($GOVMM_TESTHOST_WORKDIR, default os.TempDir()).
	WorkRoot string

	// Keep keeps every work directory, even after a passing test
	// ($GOVMM_TESTHOST_KEEP=1).
	Keep bool

	// Verbose copies L1's serial console to the process's standard error
	// while it runs ($GOVMM_TESTHOST_VERBOSE=1).
	Verbose bool
}

// Environment variables read by ConfigFromEnv.
const (
	EnvCache     = "GOVMM_TESTHOST_CACHE"
	EnvDebianURI = "GOVMM_TESTHOST_DEBIAN_URI"
	EnvRefresh   = "GOVMM_TESTHOST_REFRESH"
	EnvOffline   = "GOVMM_TESTHOST_OFFLINE"
	EnvL0QEMU    = "GOVMM_TESTHOST_L0_QEMU"
	EnvQEMU      = "GOVMM_TESTHOST_QEMU"
	EnvQEMUExtra = "GOVMM_TESTHOST_QEMU_EXTRA"
	EnvL1Mem     = "GOVMM_TESTHOST_L1_MEM"
	EnvL1Append  = "GOVMM_TESTHOST_L1_APPEND"
	EnvGoVMM     = "GOVMM_TESTHOST_GOVMM"
	EnvWorkDir   = "GOVMM_TESTHOST_WORKDIR"
	EnvKeep      = "GOVMM_TESTHOST_KEEP"
	EnvVerbose   = "GOVMM_TESTHOST_VERBOSE"
)

// ConfigFromEnv returns the configuration described by the environment
// variables named on Config's fields. It fails only when a variable is
// malformed or no cache directory can be derived.
func ConfigFromEnv() (Config, error) {
	c := Config{
		DebianURI: os.Getenv(EnvDebianURI),
		Refresh:   24 * time.Hour,
		Offline:   envBool(EnvOffline),
		L0QEMU:    os.Getenv(EnvQEMU),
		L1Memory:  os.Getenv(EnvL1Mem),
		L1Append:  os.Getenv(EnvL1Append),
		GoVMM:     os.Getenv(EnvGoVMM),
		WorkRoot:  os.Getenv(EnvWorkDir),
		Keep:      envBool(EnvKeep),
		Verbose:   envBool(EnvVerbose),
	}
	switch v := os.Getenv(EnvL0QEMU); v {
	case "", "trixie":
	case "host":
		c.HostL0 = true
	default:
		return c, fmt.Errorf("testhost: %s=%q: want \"host\" or \"trixie\"", EnvL0QEMU, v)
	}
	if v := os.Getenv(EnvRefresh); v != "" {
		s, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return c, fmt.Errorf("testhost: %s=%q: want a number of seconds", EnvRefresh, v)
		}
		c.Refresh = time.Duration(s) * time.Second
	}
	if v := os.Getenv(EnvQEMUExtra); v != "" {
		c.L0Extra = strings.Fields(v)
	}
	cache, err := DefaultCacheDir(os.Getenv)
	if err != nil {
		return c, err
	}
	c.Cache = cache
	return c, nil
}

// DefaultCacheDir returns the cache directory the environment asks for:
// $GOVMM_TESTHOST_CACHE, else $XDG_CACHE_HOME/govmm/testhost, else
// $HOME/.cache/govmm/testhost. getenv is os.Getenv in real use. Relative
// values are made absolute against the current directory.
func DefaultCacheDir(getenv func(string) string) (string, error) {
	var dir string
	switch {
	case getenv(EnvCache) != "":
		dir = getenv(EnvCache)
	case getenv("XDG_CACHE_HOME") != "":
		dir = filepath.Join(getenv("XDG_CACHE_HOME"), "govmm", "testhost")
	case getenv("HOME") != "":
		dir = filepath.Join(getenv("HOME"), ".cache", "govmm", "testhost")
	default:
		return "", errors.New("testhost: no cache directory: set " + EnvCache + " or HOME")
	}
	return filepath.Abs(dir)
}

func envBool(name string) bool {
	switch os.Getenv(name) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

// safePath matches what may travel on L1's kernel command line, which the
// kernel splits on whitespace and hands to /init as environment variables.
var safePath = regexp.MustCompile(`^/[A-Za-z0-9._/+@%=-]+$`)

func checkSafePath(what, p string) error {
	if !safePath.MatchString(p) {
		return fmt.Errorf("testhost: %s %q must be an absolute path of letters, digits and ._/+@%%=- only (it travels on L1's kernel command line)", what, p)
	}
	return nil
}
