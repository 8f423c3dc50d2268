package testhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Host is a prepared test host: the cache filled, L1's initramfs built, the
// launcher built. It boots one L1 per Run, RunSeq or RunL1 call; calls may
// come from several goroutines, but each boot takes one host CPU for its
// whole length, so tests normally run them one after another.
type Host struct {
	cfg  Config
	p    *prepared
	bins *binaries

	t    testing.TB // nil for a Host from Open
	logf func(string, ...any)
}

// The process-wide host that New hands out, prepared on first use.
var shared struct {
	mu   sync.Mutex
	host *Host
	err  error
}

// New returns the process-wide Host for the test t, preparing it on the
// first call (cache, kernels, L0 QEMU, L1 initramfs, launcher: about 20 s
// with an empty cache, a few seconds otherwise). Later calls reuse it, and
// its failure: every test that needs it fails the same way.
//
// New calls t.Fatal when something is missing (a host program, the
// archive, a package), naming what to install or set. With -short it calls
// t.Skip instead: these tests boot real guests and take minutes.
//
// Work directories of runs made through the returned Host are removed when
// t passes and kept, with their path logged, when it fails.
func New(t testing.TB) *Host {
	t.Helper()
	if testing.Short() {
		t.Skip("testhost: boots guests under nested KVM (minutes); skipped with -short")
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.host == nil && shared.err == nil {
		cfg, err := ConfigFromEnv()
		if err == nil {
			start := time.Now()
			shared.host, err = Open(context.Background(), cfg, t.Logf)
			if err == nil {
				t.Logf("testhost: ready in %.1fs (cache %s, L0 %s)", time.Since(start).Seconds(), cfg.Cache, shared.host.p.l0.version)
			}
		}
		shared.err = err
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	h := *shared.host
	h.t = t
	h.logf = prefixed(t.Logf)
	return &h
}

// prefixed makes every message of logf start with "testhost: ".
func prefixed(logf func(string, ...any)) func(string, ...any) {
	return func(format string, args ...any) { logf("testhost: "+format, args...) }
}

// Main runs the tests of m and then removes what this process built into
// the cache (bin/PID-*). Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testhost.Main(m)) }
//
// Without it, the next process that prepares a Host removes them.
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.host != nil {
		shared.host.Close()
	}
	return code
}

// Open prepares a Host outside of tests, logging progress with logf (nil:
// silent). Work directories of its runs are kept; remove L1Result.Work
// when done with it. Close removes the binaries it built.
func Open(ctx context.Context, cfg Config, logf func(format string, args ...any)) (*Host, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	logf = prefixed(logf)
	if cfg.Cache == "" {
		return nil, errors.New("testhost: Config.Cache is empty (use ConfigFromEnv)")
	}
	if cfg.L1Memory == "" {
		cfg.L1Memory = "2G"
	}
	if !validSize(cfg.L1Memory) {
		return nil, fmt.Errorf("testhost: L1 memory %q is not a size such as 2G", cfg.L1Memory)
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = 24 * time.Hour
	}
	var skip []string
	if cfg.Offline {
		skip = []string{"apt-get", "apt-cache", "dpkg-deb"}
	}
	if err := checkTools(skip...); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Cache, 0o755); err != nil {
		return nil, err
	}
	cache, err := filepath.EvalSymlinks(cfg.Cache)
	if err != nil {
		return nil, err
	}
	if err := checkSafePath("the cache directory", cache); err != nil {
		return nil, err
	}
	cfg.Cache = cache
	if cfg.ModuleRoot == "" {
		if cfg.ModuleRoot, err = findModuleRoot(ctx); err != nil {
			return nil, err
		}
	}
	p, err := prepare(ctx, cfg, logf)
	if err != nil {
		return nil, err
	}
	bins, err := newBinaries(ctx, cache, cfg.ModuleRoot)
	if err != nil {
		return nil, err
	}
	return &Host{cfg: cfg, p: p, bins: bins, logf: logf}, nil
}

// Close removes the binaries the Host built. Hosts from New are closed by
// Main.
func (h *Host) Close() { h.bins.remove() }

// Kernel returns the kernel called name: KernelL1, KernelBookwormCloud or
// KernelTrixieCloud. An unknown name fails the test (Host from New) or
// returns a zero Kernel, which Run rejects (Host from Open).
func (h *Host) Kernel(name string) Kernel {
	k, ok := h.p.kernels[name]
	if !ok && h.t != nil {
		h.t.Helper()
		h.t.Fatalf("testhost: no kernel %q (have %s)", name, strings.Join(h.kernelNames(), ", "))
	}
	return k
}

func (h *Host) kernelNames() []string {
	var n []string
	for k := range h.p.kernels {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// L0Version is the first line of L0 QEMU's --version.
func (h *Host) L0Version() string { return h.p.l0.version }

// Run boots L1 with g.L1 and, inside it, boots g with its VMM, and returns
// what the guest printed and how the VMM ended. The error is non-nil when
// the test host failed (L1 did not boot or report, L0 timed out, the guest
// could not be prepared); how the VMM fares is in the Result, which is
// returned whenever the session got as far as booting L1.
func (h *Host) Run(ctx context.Context, g Guest) (*Result, error) {
	rs, err := h.RunSeq(ctx, g.L1, g)
	if len(rs) == 0 {
		return nil, err
	}
	return rs[0], err
}

// RunSeq boots one L1 with opts and boots the guests in it one after the
// other, each to its end (or timeout) before the next starts: one L1 boot
// for all of them. Results are in guest order; the error is as for Run.
func (h *Host) RunSeq(ctx context.Context, opts L1Options, guests ...Guest) ([]*Result, error) {
	if len(guests) == 0 {
		return nil, errors.New("testhost: RunSeq: no guests")
	}
	work, err := h.workDir()
	if err != nil {
		return nil, err
	}
	s, err := h.prepareSession(ctx, work, guests)
	if err != nil {
		return nil, err
	}
	l1, stalled, err := h.bootWatched(ctx, work, s.script, opts, s.timeout)
	if stalled != "" && ctx.Err() == nil {
		// The session stalled (see BootStall, ProgressStall). Say so, keep
		// that work directory, and run the whole session once more.
		h.logf("RETRY: guest %s made no progress (silent for %v at boot or %v later); the session is run once more (stalled work directory kept: %s, L0's view of L1's CPU in l0-stall.txt there)", stalled, BootStall, ProgressStall, work)
		if work, err = h.workDir(); err != nil {
			return nil, err
		}
		if s, err = h.prepareSession(ctx, work, guests); err != nil {
			return nil, err
		}
		l1, stalled, err = h.bootWatched(ctx, work, s.script, opts, s.timeout)
		if stalled != "" && err == nil {
			err = fmt.Errorf("testhost: guest %s made no progress, twice (work directory %s)", stalled, work)
		}
	}
	rs := s.collect(l1)
	if err == nil {
		err = s.check(rs)
	}
	return rs, err
}

// bootWatched is boot with the stall watchdog: it returns the stalled
// guest's directory name when the watchdog ended the session.
func (h *Host) bootWatched(ctx context.Context, work, script string, opts L1Options, timeout time.Duration) (*L1Result, string, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stalled string
	done := make(chan struct{})
	go func() { defer close(done); watchStall(wctx, work, cancel, &stalled) }()
	l1, err := h.boot(wctx, work, script, opts, timeout)
	cancel()
	<-done
	if stalled != "" {
		err = fmt.Errorf("testhost: guest %s made no progress: %w", stalled, err)
	}
	return l1, stalled, err
}

// L1Script is a shell script for RunL1. It runs as root in a chroot of
// this machine's root (read-only) inside L1, with /dev/kvm, cwd /tmp/w
// (the work directory), HOME=TMPDIR=/tmp and GOVMM_TESTHOST=1,
// GOVMM_TESTHOST_CACHE, GOVMM_TESTHOST_WORK=/tmp/w and, with
// L1Options.VFIODev, GOVMM_TESTHOST_VFIO_BDF and GOVMM_TESTHOST_VFIO_GROUP
// in its environment.
type L1Script struct {
	Script    string
	Files     map[string][]byte // as Guest.Files
	HostFiles map[string]string // as Guest.HostFiles
	L1        L1Options
	// Timeout bounds the L0 QEMU run: L1 boot, Script, power-off
	// (default 5 minutes).
	Timeout time.Duration
}

// RunL1 boots L1 and runs s.Script in it. The error is non-nil when L1
// did not run the script to its end (L1Result.Status 124 or 125); the
// script's own exit status is L1Result.Status.
func (h *Host) RunL1(ctx context.Context, s L1Script) (*L1Result, error) {
	if s.Timeout == 0 {
		s.Timeout = 5 * time.Minute
	}
	work, err := h.workDir()
	if err != nil {
		return nil, err
	}
	for name := range s.Files {
		if err := checkWorkName(name); err != nil {
			return nil, err
		}
	}
	for name := range s.HostFiles {
		if err := checkWorkName(name); err != nil {
			return nil, err
		}
	}
	if err := placeFiles(work, s.Files, s.HostFiles, map[string]string{}); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(work, "l1.sh"), []byte(s.Script), 0o644); err != nil {
		return nil, err
	}
	return h.boot(ctx, work, "l1.sh", s.L1, s.Timeout)
}

var unsafeNameChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// workDir creates a work directory and arranges for its removal: when the
// test passes (Host from New, unless Config.Keep), else its path is logged.
func (h *Host) workDir() (string, error) {
	root := h.cfg.WorkRoot
	if root == "" {
		root = os.TempDir()
	}
	name := "run"
	if h.t != nil {
		name = unsafeNameChars.ReplaceAllString(h.t.Name(), "_")
		if len(name) > 60 {
			name = name[:60]
		}
	}
	work, err := os.MkdirTemp(root, "govmm-testhost-"+name+"-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(work, 0o755); err != nil {
		return "", err
	}
	if work, err = filepath.EvalSymlinks(work); err != nil {
		return "", err
	}
	if h.t != nil {
		t := h.t
		t.Cleanup(func() {
			if t.Failed() || h.cfg.Keep {
				t.Logf("testhost: work directory kept: %s", work)
				return
			}
			os.RemoveAll(work)
		})
	}
	return work, nil
}

// boot runs one L1 session over work with script (relative to work).
func (h *Host) boot(ctx context.Context, work, script string, opts L1Options, timeout time.Duration) (*L1Result, error) {
	res := &L1Result{Work: work, Status: StatusL1Failed}
	if err := checkSafePath("the L1 script", "/"+script); err != nil {
		return res, err
	}
	if opts.VFIODev != "" && !vfioDevRE.MatchString(opts.VFIODev) {
		return res, fmt.Errorf("testhost: L1Options.VFIODev %q is not a QEMU -device value", opts.VFIODev)
	}
	mem := opts.Memory
	if mem == "" {
		mem = h.cfg.L1Memory
	}
	if !validSize(mem) {
		return res, fmt.Errorf("testhost: L1Options.Memory %q is not a size such as 2G", mem)
	}
	appendArgs := strings.TrimSpace(h.cfg.L1Append + " " + opts.Append)
	p := l0Params{
		kernel:  h.p.kernels[KernelL1].BzImage,
		initrd:  h.p.l1Initrd,
		script:  script,
		cache:   h.cfg.Cache,
		work:    work,
		pidfile: filepath.Join(work, "l0.pid"),
		memory:  mem,
		append:  appendArgs,
		iommu:   opts.IOMMU,
		vfioDev: opts.VFIODev,
		extra:   h.cfg.L0Extra,
	}
	if opts.VFIODev != "" {
		model, _, _ := strings.Cut(opts.VFIODev, ",")
		p.vfioNetdev = h.p.l0.hasNetdev(ctx, model)
	}
	logPath := filepath.Join(work, "l1.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return res, err
	}
	var w io.Writer = logFile
	if h.cfg.Verbose {
		w = io.MultiWriter(logFile, os.Stderr)
	}
	h.logf("booting L1 (timeout %v), work directory %s", timeout, work)
	run := runL0(ctx, h.p.l0, l0Args(p), w, p.pidfile, timeout)
	logFile.Close()
	res.WallTime = run.wall
	if b, err := os.ReadFile(logPath); err == nil {
		res.Log = string(b)
	}
	if b, err := os.ReadFile(filepath.Join(work, "vfio.txt")); err == nil {
		res.VFIO = parseVFIO(b)
	}
	rc, rcErr := os.ReadFile(filepath.Join(work, ".rc"))
	switch {
	case rcErr == nil:
		if _, err := fmt.Sscanf(string(rc), "%d", &res.Status); err != nil {
			res.Status = StatusL1Failed
		}
	case run.timedOut:
		res.Status = StatusTimeout
	}
	h.logf("L1 status %d after %.1fs", res.Status, res.WallTime.Seconds())
	switch {
	case res.Status == StatusTimeout:
		return res, fmt.Errorf("testhost: L0 QEMU killed after %v (timeout); L1 log tail:\n%s", timeout, lastLines(res.Log, 25))
	case res.Status == StatusL1Failed:
		return res, fmt.Errorf("testhost: L1 did not run the script to its end (L0 QEMU: %v); L1 log tail:\n%s", run.err, lastLines(res.Log, 25))
	}
	return res, nil
}
