package testhost

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// NewcWriter writes a cpio archive in the "new ASCII" (newc, magic
// "070701") format that the Linux kernel unpacks as an initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst). Every entry
// is owned by root, has modification time 0 and its own inode number, so
// the same input gives the same archive. Entries are written in call order;
// a directory must come before what it contains.
//
// Names are relative slash-separated paths ("bin/busybox"); absolute
// names, empty elements, "." and ".." are rejected. Errors from the
// underlying writer are sticky.
type NewcWriter struct {
	w      io.Writer
	ino    uint32
	err    error
	closed bool
}

// NewNewcWriter returns a NewcWriter writing to w. Close writes the
// trailer; it does not close w.
func NewNewcWriter(w io.Writer) *NewcWriter { return &NewcWriter{w: w, ino: 1} }

// File type bits of the newc mode field (the st_mode values of stat(2)).
const (
	newcDir     = 0o040000
	newcRegular = 0o100000
	newcSymlink = 0o120000
	newcCharDev = 0o020000
)

// Dir adds a directory with permission bits perm (e.g. 0o755).
func (w *NewcWriter) Dir(name string, perm uint32) error {
	return w.entry(name, newcDir|perm&0o7777, 2, 0, 0, nil)
}

// File adds a regular file with permission bits perm and contents data.
func (w *NewcWriter) File(name string, perm uint32, data []byte) error {
	return w.entry(name, newcRegular|perm&0o7777, 1, 0, 0, data)
}

// Symlink adds a symbolic link name pointing at target.
func (w *NewcWriter) Symlink(name, target string) error {
	if target == "" || strings.IndexByte(target, 0) >= 0 {
		return fmt.Errorf("testhost: cpio: bad symlink target %q for %s", target, name)
	}
	return w.entry(name, newcSymlink|0o777, 1, 0, 0, []byte(target))
}

// CharDev adds a character device node with permission bits perm and
// device number major:minor (e.g. 5:1 for /dev/console).
func (w *NewcWriter) CharDev(name string, perm, major, minor uint32) error {
	return w.entry(name, newcCharDev|perm&0o7777, 1, major, minor, nil)
}

// Close writes the "TRAILER!!!" entry that ends the archive. Further
// entries are an error.
func (w *NewcWriter) Close() error {
	if w.closed {
		return w.err
	}
	w.writeHeader("TRAILER!!!", 0, 0, 0, 0, 0, 0)
	w.closed = true
	return w.err
}

func checkNewcName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.IndexByte(name, 0) >= 0 {
		return fmt.Errorf("testhost: cpio: bad entry name %q", name)
	}
	for _, el := range strings.Split(name, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("testhost: cpio: bad entry name %q", name)
		}
	}
	return nil
}

func (w *NewcWriter) entry(name string, mode, nlink, rmajor, rminor uint32, data []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("testhost: cpio: entry after Close")
	}
	if err := checkNewcName(name); err != nil {
		return err
	}
	if uint64(len(data)) > 0xffffffff {
		return fmt.Errorf("testhost: cpio: %s: %d bytes do not fit the 32-bit size field", name, len(data))
	}
	w.ino++
	w.writeHeader(name, w.ino, mode, nlink, uint32(len(data)), rmajor, rminor)
	w.write(data)
	w.pad(len(data))
	return w.err
}

// writeHeader writes the 110-byte header, the NUL-terminated name and the
// padding to a 4-byte boundary.
func (w *NewcWriter) writeHeader(name string, ino, mode, nlink, size, rmajor, rminor uint32) {
	// magic ino mode uid gid nlink mtime filesize devmajor devminor
	// rdevmajor rdevminor namesize check
	h := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, mode, 0, 0, nlink, 0, size, 0, 0, rmajor, rminor, len(name)+1, 0)
	w.write([]byte(h))
	w.write([]byte(name))
	w.write([]byte{0})
	w.pad(len(h) + len(name) + 1)
}

func (w *NewcWriter) write(b []byte) {
	if w.err == nil && len(b) > 0 {
		_, w.err = w.w.Write(b)
	}
}

var zeros [4]byte

func (w *NewcWriter) pad(n int) {
	if r := n % 4; r != 0 {
		w.write(zeros[:4-r])
	}
}
