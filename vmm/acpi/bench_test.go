package acpi

import "testing"

// BenchmarkBuild measures building every table for the VT-d and virtio-iommu
// configurations and the 255-CPU one. Build runs once per VM start; the
// benchmark guards against it becoming slow or allocation-heavy.
func BenchmarkBuild(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{{"both", bothConfig()}, {"max", maxConfig()}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Build(tc.cfg, testBase); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
