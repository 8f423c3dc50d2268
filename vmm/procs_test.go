package vmm

import (
	"runtime"
	"sync"
	"testing"
)

// TestReserveProcs: each running VM adds its vCPU count to GOMAXPROCS and
// takes it away again, also when VMs start and stop concurrently.
func TestReserveProcs(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	tests := []struct {
		name  string
		vcpus []int
	}{
		{"one VM, one vCPU", []int{1}},
		{"one VM, four vCPUs", []int{4}},
		{"three VMs", []int{1, 2, 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var releases []func()
			want := base
			for _, n := range tt.vcpus {
				releases = append(releases, reserveProcs(n))
				want += n
				if got := runtime.GOMAXPROCS(0); got != want {
					t.Fatalf("GOMAXPROCS %d after reserving %d, want %d", got, n, want)
				}
			}
			var wg sync.WaitGroup
			for _, r := range releases {
				wg.Add(1)
				go func() { defer wg.Done(); r() }()
			}
			wg.Wait()
			if got := runtime.GOMAXPROCS(0); got != base {
				t.Fatalf("GOMAXPROCS %d after every release, want %d", got, base)
			}
		})
	}
}
