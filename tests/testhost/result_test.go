package testhost

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLastLines(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\nb\nc\n", 5, "a\nb\nc"},
		{"a\nb\nc\n", 0, ""},
		{"", 3, ""},
		{"\n\n\n", 3, ""},
		{"only", 1, "only"},
	}
	for _, tc := range tests {
		if got := lastLines(tc.s, tc.n); got != tc.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestParseVFIO(t *testing.T) {
	v := parseVFIO([]byte("model=e1000e\nbdf=0000:00:10.0\nvendor=0x8086\ndevice=0x10d3\ndriver=vfio-pci\ngroup=7\ndev=/dev/vfio/7\njunk\n"))
	want := VFIOInfo{Model: "e1000e", BDF: VFIOBDF, Vendor: "0x8086", Device: "0x10d3", Driver: "vfio-pci", Group: "7", Dev: "/dev/vfio/7"}
	if v == nil || *v != want {
		t.Errorf("parseVFIO = %+v, want %+v", v, want)
	}
	if v := parseVFIO([]byte("model=x\n")); v != nil {
		t.Errorf("parseVFIO without a BDF = %+v", v)
	}
}

func TestResultSummaryAndTail(t *testing.T) {
	serial := strings.Repeat("boot line\n", 50) + "last line\n"
	tests := []struct {
		name   string
		r      Result
		has    []string
		hasNot []string
	}{
		{"clean", Result{VMM: GoVMM, Started: true, ExitCode: 0, ToMarker: 2 * time.Second, ToExit: 3 * time.Second, Serial: serial},
			[]string{"govmm guest 0: exit status 0, marker after 2.00s, exit after 3.00s", "last line", "serial console (last 5 lines)"},
			[]string{"L1 status"}},
		{"never started", Result{VMM: QEMU, Index: 3, ExitCode: -1, ToMarker: -1, Stderr: "no such file\n"},
			[]string{"qemu guest 3: did not start", "no such file", "serial console: empty"}, nil},
		{"timed out", Result{VMM: GoVMM, Started: true, TimedOut: true, ExitCode: -1, ToMarker: -1, ToExit: 180 * time.Second},
			[]string{"timed out after 180.0s"}, []string{"marker after"}},
		{"hung", Result{VMM: GoVMM, Started: true, TimedOut: true, Hung: true, ExitCode: -1, ToMarker: -1, ToExitMarker: 20 * time.Second, ToExit: 80 * time.Second},
			[]string{"still running 60.0s after the guest's exit marker"}, nil},
		{"signal", Result{VMM: GoVMM, Started: true, Signal: "segmentation fault", ExitCode: -1, ToMarker: -1},
			[]string{"killed by segmentation fault"}, nil},
		{"L1 failed", Result{VMM: GoVMM, Started: true, ToMarker: -1, L1: &L1Result{Status: 125, Log: "l1 line\ncannot mount\n"}},
			[]string{"L1 status 125", "cannot mount"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.r.Tail(5)
			for _, w := range tc.has {
				if !strings.Contains(got, w) {
					t.Errorf("Tail lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.hasNot {
				if strings.Contains(got, w) {
					t.Errorf("Tail has %q:\n%s", w, got)
				}
			}
			if strings.Count(got, "boot line") > 4 {
				t.Errorf("Tail(5) shows more than 5 serial lines:\n%s", got)
			}
		})
	}
}

func TestDefaultCacheDir(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"explicit", map[string]string{EnvCache: "/srv/cache", "XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/srv/cache"},
		{"xdg", map[string]string{"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/govmm/testhost"},
		{"home", map[string]string{"HOME": "/h"}, "/h/.cache/govmm/testhost"},
		{"nothing", map[string]string{}, ""},
	}
	for _, tc := range tests {
		got, err := DefaultCacheDir(func(k string) string { return tc.env[k] })
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s: DefaultCacheDir = %q, want an error", tc.name, got)
			}
			continue
		}
		if err != nil || got != filepath.Clean(tc.want) {
			t.Errorf("%s: DefaultCacheDir = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestCheckSafePath(t *testing.T) {
	for p, ok := range map[string]bool{
		"/root/.cache/govmm/testhost": true,
		"/tmp/a+b@c%d=e-f_g":          true,
		"relative/path":               false,
		"/with space":                 false,
		"/semi;colon":                 false,
		"/quote'":                     false,
		"/":                           false,
	} {
		if err := checkSafePath("x", p); (err == nil) != ok {
			t.Errorf("checkSafePath(%q) = %v, want ok=%v", p, err, ok)
		}
	}
}

func TestValidSize(t *testing.T) {
	for s, ok := range map[string]bool{"512M": true, "1G": true, "2048": true, "4k": true, "": false, "G": false, "1.5G": false, "-1G": false, "1GB": false, "1MG": false} {
		if validSize(s) != ok {
			t.Errorf("validSize(%q) = %v, want %v", s, !ok, ok)
		}
	}
}
