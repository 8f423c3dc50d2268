package testhost

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// newcEntry is one parsed archive member.
type newcEntry struct {
	name         string
	ino, mode    uint32
	uid, gid     uint32
	nlink, mtime uint32
	rmaj, rmin   uint32
	data         []byte
}

// parseNewc is an independent newc reader (buffer-format.rst) that checks
// the magic, the 4-byte alignment of names and data, and the trailer.
func parseNewc(b []byte) ([]newcEntry, error) {
	var ents []newcEntry
	off := 0
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if off+110 > len(b) {
			return nil, fmt.Errorf("header at %d runs past the end", off)
		}
		h := b[off : off+110]
		if string(h[:6]) != "070701" {
			return nil, fmt.Errorf("bad magic %q at %d", h[:6], off)
		}
		var f [13]uint32
		for i := range f {
			v, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				return nil, fmt.Errorf("field %d at %d: %v", i, off, err)
			}
			f[i] = uint32(v)
		}
		namesize, size := int(f[11]), int(f[6])
		nameEnd := off + 110 + namesize
		if namesize == 0 || nameEnd > len(b) || b[nameEnd-1] != 0 {
			return nil, fmt.Errorf("bad name at %d", off)
		}
		name := string(b[off+110 : nameEnd-1])
		dataOff := align(nameEnd)
		if dataOff+size > len(b) {
			return nil, fmt.Errorf("data of %s runs past the end", name)
		}
		if name == "TRAILER!!!" {
			if rest := b[dataOff:]; len(rest) != 0 {
				return nil, fmt.Errorf("%d bytes after the trailer", len(rest))
			}
			return ents, nil
		}
		ents = append(ents, newcEntry{name: name, ino: f[0], mode: f[1], uid: f[2], gid: f[3], nlink: f[4], mtime: f[5],
			rmaj: f[9], rmin: f[10], data: b[dataOff : dataOff+size]})
		off = align(dataOff + size)
	}
}

func TestNewcWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewNewcWriter(&buf)
	steps := []struct {
		add  func() error
		want newcEntry
	}{
		{func() error { return w.Dir("bin", 0o755) }, newcEntry{name: "bin", mode: 0o40755, nlink: 2}},
		{func() error { return w.File("bin/busybox", 0o755, []byte("abc")) }, newcEntry{name: "bin/busybox", mode: 0o100755, nlink: 1, data: []byte("abc")}},
		{func() error { return w.Symlink("bin/sh", "busybox") }, newcEntry{name: "bin/sh", mode: 0o120777, nlink: 1, data: []byte("busybox")}},
		{func() error { return w.Dir("dev", 0o755) }, newcEntry{name: "dev", mode: 0o40755, nlink: 2}},
		{func() error { return w.CharDev("dev/console", 0o600, 5, 1) }, newcEntry{name: "dev/console", mode: 0o20600, nlink: 1, rmaj: 5, rmin: 1}},
		{func() error { return w.File("init", 0o4755, []byte("#!/bin/sh\n")) }, newcEntry{name: "init", mode: 0o104755, nlink: 1, data: []byte("#!/bin/sh\n")}},
		{func() error { return w.File("empty", 0o644, nil) }, newcEntry{name: "empty", mode: 0o100644, nlink: 1}},
	}
	for _, s := range steps {
		if err := s.add(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.File("late", 0o644, nil); err == nil {
		t.Error("File after Close succeeded")
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive of %d bytes is not 4-byte aligned", buf.Len())
	}
	ents, err := parseNewc(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != len(steps) {
		t.Fatalf("%d entries, want %d", len(ents), len(steps))
	}
	inos := map[uint32]bool{}
	for i, e := range ents {
		want := steps[i].want
		if e.name != want.name || e.mode != want.mode || e.nlink != want.nlink || e.rmaj != want.rmaj ||
			e.rmin != want.rmin || !bytes.Equal(e.data, want.data) || e.uid != 0 || e.gid != 0 || e.mtime != 0 {
			t.Errorf("entry %d = %+v, want %+v", i, e, want)
		}
		if inos[e.ino] {
			t.Errorf("inode %d used twice", e.ino)
		}
		inos[e.ino] = true
	}

	// cpio(1), as the kernel does, must read it
	requireTool(t, "cpio")
	cmd := exec.Command("cpio", "-t", "-v", "--quiet")
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	listing := string(out)
	for _, want := range []string{
		"drwxr-xr-x", " bin\n",
		"-rwxr-xr-x", " bin/busybox\n",
		"lrwxrwxrwx", " bin/sh -> busybox\n",
		"crw-------", "5,", " dev/console\n",
		"-rwsr-xr-x", " init\n",
	} {
		if !strings.Contains(listing, want) {
			t.Errorf("cpio -tv listing lacks %q:\n%s", want, listing)
		}
	}
}

func TestNewcWriterBadNames(t *testing.T) {
	for _, name := range []string{"", "/abs", "a//b", "./a", "a/../b", "..", "a/", "nul\x00"} {
		w := NewNewcWriter(&bytes.Buffer{})
		if err := w.File(name, 0o644, nil); err == nil {
			t.Errorf("File(%q) succeeded", name)
		}
	}
	w := NewNewcWriter(&bytes.Buffer{})
	if err := w.Symlink("x", ""); err == nil {
		t.Error("Symlink with an empty target succeeded")
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk full")
	}
	f.after--
	return len(p), nil
}

func TestNewcWriterStickyError(t *testing.T) {
	w := NewNewcWriter(&failWriter{after: 2})
	err1 := w.File("a", 0o644, []byte("x"))
	err2 := w.Dir("b", 0o755)
	err3 := w.Close()
	if err1 == nil || err2 == nil || err3 == nil {
		t.Errorf("errors %v, %v, %v; want the write error throughout", err1, err2, err3)
	}
}
