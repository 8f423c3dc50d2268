package virtio_test

import (
	"testing"

	"github.com/govmm/govmm/devices/virtio"
	"github.com/govmm/govmm/devices/virtio/virtiotest"
)

// TestServeOnNotify: a queue the device serves on notify gets no
// ioeventfd, is processed before the notify write returns, stops after a
// failure until the device is reset, and works again after the reset;
// the device's other queue keeps its ioeventfd and goroutine.
func TestServeOnNotify(t *testing.T) {
	k := newFakeKVM()
	dev := newEcho(16, 16)
	dev.inline = []bool{true, false}
	r := newRig(t, dev, virtio.Config{IOEvents: k}, nil, 0)
	bar := r.drv.Bar
	k.mu.Lock()
	_, q0 := k.ioevents[bar+virtio.NotifyOffset]
	_, q1 := k.ioevents[bar+virtio.NotifyOffset+virtio.NotifyOffMultiplier]
	k.mu.Unlock()
	if q0 || !q1 {
		t.Fatalf("ioeventfd for the inline queue: %v, for the other: %v; want false, true", q0, q1)
	}

	qs := r.start(t, allFeatures)
	steps := []struct {
		name     string
		queue    int
		bad      bool // publish a head outside the queue
		wantRun  int64
		wantUsed bool
	}{
		{"inline request", 0, false, 1, true},
		{"second inline request", 0, false, 2, true},
		{"goroutine queue", 1, false, 3, true},
		{"inline queue fails", 0, true, 3, false},
		{"failed queue is not served", 0, false, 3, false},
	}
	for _, s := range steps {
		q := qs[s.queue]
		if s.bad {
			if err := q.Publish(999); err != nil {
				t.Fatal(err)
			}
		} else if _, err := q.Add([]virtiotest.Buf{{Data: []byte("abc")}, {Write: true, Len: 3}}, false); err != nil {
			t.Fatal(err)
		}
		q.Kick()
		if s.queue == 0 {
			// Served inline: done when the notify write returned.
			if got := dev.processed.Load(); got != s.wantRun {
				t.Fatalf("%s: %d chains processed when Kick returned, want %d", s.name, got, s.wantRun)
			}
			_, _, ok, err := q.PopUsed()
			if err != nil {
				t.Fatal(err)
			}
			if ok != s.wantUsed {
				t.Fatalf("%s: used buffer present %v, want %v", s.name, ok, s.wantUsed)
			}
		} else if _, n, err := q.Wait(); err != nil || n != 3 {
			t.Fatalf("%s: used %d, %v", s.name, n, err)
		}
	}
	if r.drv.Status()&virtio.StatusDeviceNeedsReset == 0 {
		t.Fatalf("status %#x after a bad head, want DEVICE_NEEDS_RESET", r.drv.Status())
	}
	if n := len(r.errors()); n != 1 {
		t.Fatalf("%d errors reported, want 1: %v", n, r.errors())
	}

	r.drv.Reset()
	qs = r.start(t, allFeatures)
	if _, err := qs[0].Add([]virtiotest.Buf{{Data: []byte("xyz")}, {Write: true, Len: 3}}, false); err != nil {
		t.Fatal(err)
	}
	qs[0].Kick()
	if _, _, ok, err := qs[0].PopUsed(); err != nil || !ok {
		t.Fatalf("after reset: used buffer %v, %v; want one", ok, err)
	}
}
