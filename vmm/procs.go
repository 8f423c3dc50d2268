package vmm

import (
	"runtime"
	"sync"
)

// procsMu serializes GOMAXPROCS changes of VMs running in one process.
var procsMu sync.Mutex

// reserveProcs raises GOMAXPROCS by n (the VM's vCPU count) while a VM
// runs and returns the function that lowers it again.
//
// A vCPU thread spends its life inside the KVM_RUN ioctl, and the Go
// runtime counts a goroutine in a system call against GOMAXPROCS until its
// monitor thread notices, 20 µs to 10 ms later, and hands the processor
// on. With GOMAXPROCS at the CPU count, a device goroutine woken by an
// ioeventfd, or a vCPU coming back from KVM_RUN, then waits for that
// monitor tick whenever vCPUs hold every processor: on a one-CPU host each
// virtqueue kick costs milliseconds. One extra processor per vCPU keeps
// the usual parallelism for device work and leaves the sharing of CPUs
// between vCPU and device threads to the kernel's scheduler, as with any
// multi-threaded VMM.
func reserveProcs(n int) (release func()) {
	procsMu.Lock()
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + n)
	procsMu.Unlock()
	return func() {
		procsMu.Lock()
		runtime.GOMAXPROCS(max(1, runtime.GOMAXPROCS(0)-n))
		procsMu.Unlock()
	}
}
