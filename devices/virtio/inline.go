package virtio

// NotifyServer is implemented by a Device some of whose queues are served
// on the thread that notifies them (in a VMM, the vCPU thread that wrote
// the queue's notify address), synchronously, instead of by a queue
// goroutine woken through an ioeventfd.
//
// It is for queues whose driver waits for each buffer by polling the used
// ring with interrupts disabled, such as the virtio-iommu request queue
// (Linux's viommu_sync_req): served inline, the reply is in the used ring
// before the driver reads it for the first time, and the guest's progress
// does not depend on the host scheduling another thread while a vCPU
// spins. Such queues get no ioeventfd, and Queue.Wake does nothing for
// them. Process must not block.
type NotifyServer interface {
	// ServeOnNotify reports whether queue i is served inline. It is
	// asked once, when the Transport is created.
	ServeOnNotify(i int) bool
}

// inlineQueues returns which of dev's n queues are served inline.
func inlineQueues(dev Device, n int) []bool {
	s, ok := dev.(NotifyServer)
	if !ok {
		return nil
	}
	in := make([]bool, n)
	for i := range in {
		in[i] = s.ServeOnNotify(i)
	}
	return in
}

// isInline reports whether queue i is served inline.
func (t *Transport) isInline(i int) bool {
	return i >= 0 && i < len(t.inline) && t.inline[i]
}

// serveInline serves inline queue i after a notification, as the queue
// goroutine would: process, then interrupt. t.mu is held throughout, so
// a reset waits for a request being served and nothing is served after
// it. A failed queue is not served again until the next activation.
func (t *Transport) serveInline(i int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.run
	if r == nil || i >= len(t.activeQs) || t.activeQs[i] == nil || r.failed[i] {
		return
	}
	q := t.activeQs[i]
	if err := t.dev.Process(q); err != nil {
		r.failed[i] = true
		t.Fail(err)
		return
	}
	if err := q.Interrupt(); err != nil && q.Err() != nil {
		r.failed[i] = true
		t.Fail(err)
	}
}
