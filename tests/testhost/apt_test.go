package testhost

import (
	"slices"
	"sort"
	"testing"
)

func TestVersionLess(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"linux-image-6.1.0-9-amd64", "linux-image-6.1.0-10-amd64", true},
		{"linux-image-6.1.0-10-amd64", "linux-image-6.1.0-9-amd64", false},
		{"linux-image-6.12.9+deb13-cloud", "linux-image-6.12.48+deb13-cloud", true},
		{"linux-image-6.12.48+deb13-cloud", "linux-image-6.12.107+deb13-cloud", true},
		{"a-007", "a-7", false}, // equal numerically: neither is less
		{"a-7", "a-007", false},
		{"abc", "abd", true},
		{"abc", "abc", false},
		{"abc", "abcd", true},
		{"6.1", "6.1.0", true},
	}
	for _, tc := range tests {
		if got := versionLess(tc.a, tc.b); got != tc.want {
			t.Errorf("versionLess(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestVersionLessSorts(t *testing.T) {
	in := []string{
		"linux-image-6.1.0-56-cloud-amd64-unsigned",
		"linux-image-6.1.0-9-cloud-amd64-unsigned",
		"linux-image-6.1.0-47-cloud-amd64-unsigned",
		"linux-image-6.1.0-100-cloud-amd64-unsigned",
	}
	want := []string{in[1], in[2], in[0], in[3]}
	got := slices.Clone(in)
	sort.Slice(got, func(i, j int) bool { return versionLess(got[i], got[j]) })
	if !slices.Equal(got, want) {
		t.Errorf("sorted %q, want %q", got, want)
	}
}

func TestPolicyCandidate(t *testing.T) {
	tests := []struct {
		name, out, want string
	}{
		{"candidate", "qemu-system-x86:\n  Installed: (none)\n  Candidate: 1:10.0.13+ds-0+deb13u1\n  Version table:\n", "1:10.0.13+ds-0+deb13u1"},
		{"none", "foo:\n  Installed: (none)\n  Candidate: (none)\n", ""},
		{"unknown package", "", ""},
	}
	for _, tc := range tests {
		if got := policyCandidate([]byte(tc.out)); got != tc.want {
			t.Errorf("%s: policyCandidate = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestSimulatedInstalls(t *testing.T) {
	out := "NOTE: This is only a simulation!\n" +
		"Inst libc6 (2.41-12 Debian:13.2/stable [amd64])\n" +
		"Inst qemu-system-x86 (1:10.0.13+ds-0+deb13u1 Debian:13.2/stable [amd64])\n" +
		"Conf libc6 (2.41-12 Debian:13.2/stable [amd64])\n"
	got := simulatedInstalls([]byte(out))
	if want := []string{"libc6", "qemu-system-x86"}; !slices.Equal(got, want) {
		t.Errorf("simulatedInstalls = %q, want %q", got, want)
	}
}
