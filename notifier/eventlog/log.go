package eventlog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/govmm/govmm/notifier"
)

// DefaultBufferSize is the buffer a Log uses when Config.BufferSize is 0:
// 64 KiB, about 500 lines.
const DefaultBufferSize = 64 << 10

// ErrClosed is returned by Flush and Close on a Log that is already closed.
var ErrClosed = errors.New("eventlog: log is closed")

// Config holds the optional settings of a Log. The zero value gives the
// defaults.
type Config struct {
	// BufferSize is the number of bytes buffered before a write reaches the
	// underlying writer; 0 means DefaultBufferSize.
	BufferSize int
	// Clock returns the time elapsed since the Log was created, which is
	// written as t_ns. It is called with the Log's lock held, once per
	// event, and must be non-decreasing. nil means the monotonic clock.
	Clock func() time.Duration
}

// Log writes events as JSON lines (see the package documentation for the
// format). It implements notifier.Notifier and is safe for concurrent use.
type Log struct {
	mu      sync.Mutex
	w       *bufio.Writer
	closer  io.Closer // the file Create opened, closed by Close
	clock   func() time.Duration
	line    []byte // scratch buffer for one line
	err     error  // first write error, sticky
	events  uint64 // lines written to the buffer
	dropped uint64 // events not written (after an error or Close)
	closed  bool
}

var _ notifier.Notifier = (*Log)(nil)

// New returns a Log that writes to w with the default settings.
func New(w io.Writer) *Log { return Config{}.New(w) }

// New returns a Log that writes to w with the settings of c. The Log does
// not close w.
func (c Config) New(w io.Writer) *Log {
	size := c.BufferSize
	if size <= 0 {
		size = DefaultBufferSize
	}
	clock := c.Clock
	if clock == nil {
		start := time.Now() // carries a monotonic reading; time.Since uses it
		clock = func() time.Duration { return time.Since(start) }
	}
	return &Log{w: bufio.NewWriterSize(w, size), clock: clock, line: make([]byte, 0, 192)}
}

// Create creates (or truncates) the file path, mode 0644, and returns a Log
// that writes to it with the default settings; Close closes the file.
func Create(path string) (*Log, error) { return Config{}.Create(path) }

// Create is like the package-level Create with the settings of c.
func (c Config) Create(path string) (*Log, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("eventlog: %w", err)
	}
	l := c.New(f)
	l.closer = f
	return l, nil
}

// Notify appends one line for ev. It always returns nil: a Log is an
// observer and must never make a Map fail. If a write has failed before, or
// the Log is closed, the event is counted in Dropped instead.
func (l *Log) Notify(ev notifier.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.err != nil {
		l.dropped++
		return nil
	}
	l.line = appendRecord(l.line[:0], Record{TNS: int64(l.clock()), Event: ev})
	if _, err := l.w.Write(l.line); err != nil {
		l.err = fmt.Errorf("eventlog: writing %v: %w", ev, err)
		l.dropped++
		return nil
	}
	l.events++
	return nil
}

// Flush writes the buffered lines to the underlying writer. It returns the
// first write error the Log has met (now or earlier), or ErrClosed.
func (l *Log) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	return l.flushLocked()
}

func (l *Log) flushLocked() error {
	if l.err != nil {
		return l.err
	}
	if err := l.w.Flush(); err != nil {
		l.err = fmt.Errorf("eventlog: flush: %w", err)
	}
	return l.err
}

// Close flushes the Log, closes the file if the Log was made by Create, and
// drops every later event. It returns the first error met (a write error,
// the file's close error), or ErrClosed when already closed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.closed = true
	err := l.flushLocked()
	if l.closer != nil {
		if cerr := l.closer.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("eventlog: close: %w", cerr)
		}
	}
	return err
}

// Err returns the first write error the Log has met, or nil.
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Events returns the number of events written (to the buffer, at least).
func (l *Log) Events() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.events
}

// Dropped returns the number of events not written because of an earlier
// write error or because the Log was closed.
func (l *Log) Dropped() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}
