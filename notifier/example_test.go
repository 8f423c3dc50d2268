package notifier_test

import (
	"errors"
	"fmt"
	"sync"

	"github.com/govmm/govmm/notifier"
)

// An address space owns a hub, supplies its replay, and holds its own lock
// around Register and Notify. A consumer registered for Map and Unmap below
// the interrupt window first receives the current mappings, then the changes.
func Example() {
	var mu sync.Mutex // the address space's lock
	mappings := []notifier.Event{
		{Kind: notifier.Map, IOVA: 0x1000, Size: 0x3000, Addr: 0x7f000, Perm: notifier.PermRW},
	}
	hub := notifier.NewHub(0x0010, func(yield func(notifier.Event) error) error {
		for _, m := range mappings {
			if err := yield(m); err != nil {
				return err
			}
		}
		return nil
	})

	consumer := notifier.Func(func(ev notifier.Event) error {
		fmt.Println(ev)
		return nil
	})
	mu.Lock()
	id, err := hub.Register(consumer, notifier.Map|notifier.Unmap, 0, 0xfedfffff)
	mu.Unlock()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("registered", id, "kinds", hub.Kinds())

	mu.Lock()
	m := notifier.Event{Kind: notifier.Map, IOVA: 0x10000, Size: 0x1000, Addr: 0x90000, Perm: notifier.PermRead}
	mappings = append(mappings, m)
	err = hub.Notify(m)
	mu.Unlock()
	if err != nil {
		fmt.Println(err)
	}

	mu.Lock()
	mappings = nil
	err = hub.NotifyRange(notifier.Unmap, 0, 1<<64-1) // the guest disabled translation
	mu.Unlock()
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// map SID 0x10 IOVA [0x1000, 0x1fff] -> 0x7f000 rw
	// map SID 0x10 IOVA [0x2000, 0x3fff] -> 0x80000 rw
	// registered 1 kinds map|unmap
	// map SID 0x10 IOVA [0x10000, 0x10fff] -> 0x90000 r
	// unmap SID 0x10 IOVA [0x0, 0x7fffffff]
	// unmap SID 0x10 IOVA [0x80000000, 0xbfffffff]
	// unmap SID 0x10 IOVA [0xc0000000, 0xdfffffff]
	// unmap SID 0x10 IOVA [0xe0000000, 0xefffffff]
	// unmap SID 0x10 IOVA [0xf0000000, 0xf7ffffff]
	// unmap SID 0x10 IOVA [0xf8000000, 0xfbffffff]
	// unmap SID 0x10 IOVA [0xfc000000, 0xfdffffff]
	// unmap SID 0x10 IOVA [0xfe000000, 0xfe7fffff]
	// unmap SID 0x10 IOVA [0xfe800000, 0xfebfffff]
	// unmap SID 0x10 IOVA [0xfec00000, 0xfedfffff]
}

// A Map that a consumer refuses is rolled back on every consumer that had
// already received it, and the error names the range and the failing block.
func ExampleHub_Notify_rollback() {
	hub := notifier.NewHub(0x0018, nil)
	errFull := errors.New("no space left on device")
	a := notifier.Func(func(ev notifier.Event) error {
		fmt.Println("a:", ev)
		return nil
	})
	b := notifier.Func(func(ev notifier.Event) error {
		if ev.Kind == notifier.Map && ev.IOVA == 0x2000 {
			return errFull
		}
		fmt.Println("b:", ev)
		return nil
	})
	for _, n := range []notifier.Notifier{a, b} {
		if _, err := hub.Register(n, notifier.Map|notifier.Unmap, 0, 1<<64-1); err != nil {
			fmt.Println(err)
			return
		}
	}

	err := hub.Notify(notifier.Event{Kind: notifier.Map, IOVA: 0x1000, Size: 0x2000, Addr: 0x5000, Perm: notifier.PermRW})
	fmt.Println(err)
	fmt.Println(errors.Is(err, errFull))
	// Output:
	// a: map SID 0x18 IOVA [0x1000, 0x1fff] -> 0x5000 rw
	// a: map SID 0x18 IOVA [0x2000, 0x2fff] -> 0x6000 rw
	// b: map SID 0x18 IOVA [0x1000, 0x1fff] -> 0x5000 rw
	// b: unmap SID 0x18 IOVA [0x1000, 0x1fff]
	// a: unmap SID 0x18 IOVA [0x1000, 0x1fff]
	// a: unmap SID 0x18 IOVA [0x2000, 0x2fff]
	// notifier: map of IOVA [0x1000, 0x2fff] for SID 0x18: registration 2 failed at [0x2000, 0x2fff]: no space left on device
	// true
}

// Split cuts a range into the aligned power-of-two blocks a Hub delivers.
func ExampleSplit() {
	for iova, size := range notifier.Split(0x1000, 0x7fff) {
		fmt.Printf("[%#x, +%#x)\n", iova, size)
	}
	// Output:
	// [0x1000, +0x1000)
	// [0x2000, +0x2000)
	// [0x4000, +0x4000)
}
