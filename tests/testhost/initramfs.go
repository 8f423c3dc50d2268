package testhost

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Initramfs describes a small busybox initramfs for a test guest (L2) or
// for the test host's L1:
//
//	/bin/busybox          the static busybox, every applet linked next to it
//	/sbin, /usr/bin, /usr/sbin -> bin
//	/dev/console (5:1), /dev/null (1:3)   so that /init starts with a console
//	/init                 Init, mode 0755
//	/lib/modules/NAME.ko  the Modules and their dependencies, uncompressed
//	/load-modules.sh      insmods them in dependency order, skipping loaded ones
//	/proc /sys /tmp /run /mnt /root /etc   empty mount points
//
// The image is a gzip-compressed newc cpio archive (NewcWriter), written
// without mknod, so building one needs no privileges.
type Initramfs struct {
	// Init is the /init program, normally a "#!/bin/sh" script.
	Init string
	// Busybox is the path of a statically linked busybox.
	Busybox string
	// ModulesDir is the kernel's lib/modules/RELEASE directory; needed
	// only with Modules.
	ModulesDir string
	// Modules are module names ('-' and '_' alike) resolved with the
	// kernel's modules.dep; names built into the kernel are skipped.
	Modules []string
}

const busyboxTimeout = time.Minute

// Build writes the gzip'ed archive to out (replaced atomically) and returns
// the modules /load-modules.sh loads, in order. It fails when Init does not
// start with "#!", busybox does not run, or a module is unknown.
func (ir Initramfs) Build(ctx context.Context, out string) (modules []string, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	modules, err = ir.Write(ctx, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return modules, os.Rename(tmp.Name(), out)
}

// Write writes the gzip'ed archive to w; see Build.
func (ir Initramfs) Write(ctx context.Context, w io.Writer) (modules []string, err error) {
	if !strings.HasPrefix(ir.Init, "#!") {
		return nil, errors.New("testhost: initramfs: Init must start with \"#!\" (the kernel execs /init)")
	}
	bb, err := os.ReadFile(ir.Busybox)
	if err != nil {
		return nil, fmt.Errorf("testhost: initramfs: busybox: %w", err)
	}
	list, err := command{name: ir.Busybox, args: []string{"--list"}, timeout: busyboxTimeout}.run(ctx)
	if err != nil {
		return nil, err
	}
	type entry struct {
		name  string
		write func(*NewcWriter) error
	}
	var ents []entry
	dir := func(n string) {
		ents = append(ents, entry{n, func(c *NewcWriter) error { return c.Dir(n, 0o755) }})
	}
	file := func(n string, perm uint32, data []byte) {
		ents = append(ents, entry{n, func(c *NewcWriter) error { return c.File(n, perm, data) }})
	}
	link := func(n, target string) {
		ents = append(ents, entry{n, func(c *NewcWriter) error { return c.Symlink(n, target) }})
	}
	for _, d := range []string{"bin", "dev", "etc", "lib", "lib/modules", "mnt", "proc", "root", "run", "sys", "tmp", "usr"} {
		dir(d)
	}
	link("sbin", "bin")
	link("usr/bin", "../bin")
	link("usr/sbin", "../bin")
	file("bin/busybox", 0o755, bb)
	for _, a := range strings.Fields(string(list)) {
		if a != "busybox" && !strings.Contains(a, "/") {
			link("bin/"+a, "busybox")
		}
	}
	ents = append(ents,
		entry{"dev/console", func(c *NewcWriter) error { return c.CharDev("dev/console", 0o600, 5, 1) }},
		entry{"dev/null", func(c *NewcWriter) error { return c.CharDev("dev/null", 0o666, 1, 3) }})
	file("init", 0o755, []byte(ir.Init))

	if len(ir.Modules) > 0 {
		if ir.ModulesDir == "" {
			return nil, errors.New("testhost: initramfs: Modules given without ModulesDir")
		}
		ix, err := loadModuleIndex(ctx, ir.ModulesDir)
		if err != nil {
			return nil, err
		}
		if modules, _, err = ix.resolve(ir.Modules); err != nil {
			return nil, err
		}
		for _, m := range modules {
			data, err := ix.read(ctx, m)
			if err != nil {
				return nil, err
			}
			file("lib/modules/"+m+".ko", 0o644, data)
		}
	}
	file("load-modules.sh", 0o755, []byte(loadModulesScript(modules)))

	sort.Slice(ents, func(i, j int) bool { return ents[i].name < ents[j].name })
	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	cw := NewNewcWriter(zw)
	for _, e := range ents {
		if err := e.write(cw); err != nil {
			return nil, err
		}
	}
	if err := cw.Close(); err != nil {
		return nil, err
	}
	return modules, zw.Close()
}

// loadModulesScript is /load-modules.sh: insmod each module in order,
// skipping those already loaded, exit status 1 if any insmod failed.
func loadModulesScript(modules []string) string {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	if len(modules) == 0 {
		b.WriteString("# no modules\n")
	} else {
		fmt.Fprintf(&b, "# insmod in dependency order: %s\n", strings.Join(modules, " "))
	}
	b.WriteString("rc=0\n")
	fmt.Fprintf(&b, "for m in %s; do\n", strings.Join(modules, " "))
	b.WriteString("\t[ -d /sys/module/$m ] && continue\n")
	b.WriteString("\tinsmod /lib/modules/$m.ko || { echo \"load-modules: insmod $m failed\" >&2; rc=1; }\n")
	b.WriteString("done\n")
	b.WriteString("exit $rc\n")
	return b.String()
}
