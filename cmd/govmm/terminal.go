package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// terminal is stdin in raw mode, passing keystrokes to the guest console.
// Ctrl-A x quits (onQuit); Ctrl-A Ctrl-A sends one Ctrl-A.
type terminal struct {
	f      *os.File
	old    unix.Termios
	onQuit func()
	escape bool
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func makeRaw(f *os.File) (*terminal, error) {
	old, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		return nil, err
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN] = 1
	raw.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, &raw); err != nil {
		return nil, err
	}
	return &terminal{f: f, old: *old}, nil
}

func (t *terminal) restore() { _ = unix.IoctlSetTermios(int(t.f.Fd()), unix.TCSETS, &t.old) }

// Read returns keystrokes for the guest, filtering the Ctrl-A escape.
func (t *terminal) Read(p []byte) (int, error) {
	for {
		n, err := t.f.Read(p)
		out := p[:0]
		for _, b := range p[:n] {
			switch {
			case t.escape:
				t.escape = false
				if b == 'x' || b == 'X' {
					if t.onQuit != nil {
						t.onQuit()
					}
					continue
				}
				out = append(out, b)
			case b == 0x01:
				t.escape = true
			default:
				out = append(out, b)
			}
		}
		if len(out) > 0 || err != nil {
			return len(out), err
		}
	}
}
