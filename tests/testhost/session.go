package testhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/govmm/govmm/tests/testhost/internal/launch"
)

// Inside L1 the work directory is /tmp/w.
const l1Work = "/tmp/w"

// l1Overhead is added to the guests' timeouts to bound a whole session: L1
// boot (about 6 s, much more on a loaded machine), module loading,
// power-off.
const l1Overhead = 2 * time.Minute

// session is a set of guests prepared in a work directory, with the L1
// script that boots them in order.
type session struct {
	work    string
	guests  []Guest
	argv    [][]string
	script  string // relative to work
	timeout time.Duration
}

// prepareSession builds the guests' initramfs images (one per distinct
// kernel, init and module list), places their files, and writes the L1
// script that runs each VMM through the launcher.
func (h *Host) prepareSession(ctx context.Context, work string, guests []Guest) (*session, error) {
	s := &session{work: work, script: "l1.sh", timeout: l1Overhead}
	placed := map[string]string{}
	initrds := map[string]string{}
	var govmm string
	for i, g := range guests {
		g, err := g.normalize()
		if err != nil {
			return nil, fmt.Errorf("guest %d: %w", i, err)
		}
		if g.VMM == GoVMM && govmm == "" {
			if govmm, err = h.bins.govmmBinary(ctx, h.cfg.GoVMM, h.logf); err != nil {
				return nil, err
			}
		}
		key := initrdKey(g)
		name, ok := initrds[key]
		if !ok {
			name = "initrd-" + key + ".cpio.gz"
			ir := Initramfs{Init: g.Init, Busybox: h.p.busybox, ModulesDir: g.Kernel.ModulesDir, Modules: g.Modules}
			if _, err := ir.Build(ctx, filepath.Join(work, name)); err != nil {
				return nil, fmt.Errorf("guest %d: %w", i, err)
			}
			initrds[key] = name
		}
		if err := placeFiles(work, g.Files, g.HostFiles, placed); err != nil {
			return nil, fmt.Errorf("guest %d: %w", i, err)
		}
		s.guests = append(s.guests, g)
		s.argv = append(s.argv, g.argv(govmm, path.Join(l1Work, name)))
		s.timeout += g.Timeout + 2*launchGrace
	}
	script := sessionScript(scriptEnv{launcher: h.bins.launcher, work: l1Work, kvm: "/dev/kvm", tee: h.cfg.Verbose}, s.guests, s.argv)
	if err := os.WriteFile(filepath.Join(work, s.script), []byte(script), 0o644); err != nil {
		return nil, err
	}
	return s, nil
}

// launchGrace is the launcher's time between SIGTERM and SIGKILL.
const launchGrace = 5 * time.Second

// initrdKey identifies a guest's initramfs contents.
func initrdKey(g Guest) string {
	h := sha256.New()
	for _, s := range append([]string{g.Kernel.ModulesDir, g.Init}, g.Modules...) {
		io.WriteString(h, s)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// guestDir is guest i's output directory, relative to the work directory.
func guestDir(i int) string { return "l2-" + strconv.Itoa(i) }

// scriptEnv is where a session script runs: the launcher's path, the work
// directory and the KVM device as L1 sees them, and whether the launcher
// copies the console to L1's.
type scriptEnv struct {
	launcher, work, kvm string
	tee                 bool
}

// sessionScript is the L1 script: check the KVM device, then run each VMM
// through the launcher, which writes l2-N/{serial.log,stderr.log,report.json}.
func sessionScript(env scriptEnv, guests []Guest, argv [][]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# govmm test host: %d guest(s), one after the other\n", len(guests))
	fmt.Fprintf(&b, "L=%s\n", shellQuote(env.launcher))
	fmt.Fprintf(&b, "[ -c %s ] || { echo 'testhost: L1 has no %s' >&2; exit 3; }\n", shellQuote(env.kvm), env.kvm)
	fmt.Fprintf(&b, "cd %s || exit 3\n", shellQuote(env.work))
	for i, g := range guests {
		fmt.Fprintf(&b, "echo \"testhost: guest %d (%v) starts at uptime $(cut -d' ' -f1 /proc/uptime)s\"\n", i, g.VMM)
		args := []string{"-dir", path.Join(env.work, guestDir(i)), "-timeout", g.Timeout.String()}
		if g.Marker != "" {
			args = append(args, "-marker", g.Marker)
		}
		if g.ExitMarker != "" {
			args = append(args, "-exit-marker", g.ExitMarker, "-exit-grace", g.ExitGrace.String())
		}
		if env.tee {
			args = append(args, "-tee")
		}
		args = append(args, "--")
		if g.Setup != "" {
			fmt.Fprintf(&b, "mkdir -p %s\n", shellQuote(path.Join(env.work, guestDir(i))))
			fmt.Fprintf(&b, "( %s\n) >%s 2>&1\n", g.Setup, shellQuote(path.Join(env.work, guestDir(i), "setup.log")))
		}
		fmt.Fprintf(&b, "\"$L\" %s %s\n", shellJoin(args), shellJoin(argv[i]))
		if g.After != "" {
			fmt.Fprintf(&b, "( %s\n) >%s 2>&1\n", g.After, shellQuote(path.Join(env.work, guestDir(i), "after.log")))
		}
	}
	b.WriteString("exit 0\n")
	return b.String()
}

// collect reads what the launcher left for each guest. A guest without a
// report gets Started false and ExitCode -1.
func (s *session) collect(l1 *L1Result) []*Result {
	var rs []*Result
	for i, g := range s.guests {
		dir := filepath.Join(s.work, guestDir(i))
		r := &Result{Index: i, VMM: g.VMM, Argv: s.argv[i], ExitCode: -1, ToMarker: -1, ToExitMarker: -1, Dir: dir, L1: l1}
		if b, err := os.ReadFile(filepath.Join(dir, "serial.log")); err == nil {
			r.Serial = strings.ReplaceAll(string(b), "\r\n", "\n")
		}
		if b, err := os.ReadFile(filepath.Join(dir, "stderr.log")); err == nil {
			r.Stderr = string(b)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "after.log")); err == nil {
			r.After = string(b)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "setup.log")); err == nil {
			r.SetupLog = string(b)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "report.json")); err == nil {
			var rep launch.Report
			if json.Unmarshal(b, &rep) == nil {
				r.Started, r.ExitCode, r.Signal = rep.Started, rep.ExitCode, rep.Signal
				r.TimedOut, r.Hung = rep.TimedOut, rep.Hung
				r.ToExit = time.Duration(rep.ExitNS)
				if rep.MarkerNS >= 0 {
					r.ToMarker = time.Duration(rep.MarkerNS)
				}
				if rep.ExitMarkerNS >= 0 {
					r.ToExitMarker = time.Duration(rep.ExitMarkerNS)
				}
				if rep.Error != "" {
					r.Stderr += "\n[launcher] " + rep.Error + "\n"
				}
			}
		}
		rs = append(rs, r)
	}
	return rs
}

// check reports a session whose script failed or whose guests left no
// report: test host failures, not guest ones.
func (s *session) check(rs []*Result) error {
	l1 := rs[0].L1
	if l1.Status != 0 {
		return fmt.Errorf("testhost: the L1 script failed with status %d; L1 log tail:\n%s", l1.Status, lastLines(l1.Log, 25))
	}
	for i := range rs {
		if _, err := os.Stat(filepath.Join(rs[i].Dir, "report.json")); err != nil {
			return fmt.Errorf("testhost: guest %d left no report (%v); L1 log tail:\n%s", i, err, lastLines(l1.Log, 25))
		}
	}
	return nil
}

// placeFiles writes files and links (or copies) hostFiles into work.
// placed records what each name holds across the guests of a session.
func placeFiles(work string, files map[string][]byte, hostFiles map[string]string, placed map[string]string) error {
	claim := func(name, what string) (bool, error) {
		if prev, ok := placed[name]; ok {
			if prev != what {
				return false, fmt.Errorf("testhost: work file %q given twice with different contents", name)
			}
			return false, nil
		}
		placed[name] = what
		return true, nil
	}
	for name, data := range files {
		sum := sha256.Sum256(data)
		fresh, err := claim(name, "data:"+hex.EncodeToString(sum[:]))
		if err != nil {
			return err
		}
		if !fresh {
			continue
		}
		dst := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return err
		}
	}
	for name, src := range hostFiles {
		abs, err := filepath.Abs(src)
		if err != nil {
			return err
		}
		fresh, err := claim(name, "host:"+abs)
		if err != nil {
			return err
		}
		if !fresh {
			continue
		}
		dst := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := linkOrCopy(abs, dst); err != nil {
			return err
		}
	}
	return nil
}

func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
