package testhost

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// hostTools maps every program the test host runs on this machine to the
// Debian package that provides it. The harness never installs them; the
// project's setup script does (apt-get install qemu-system-x86 busybox-static
// cpio xz-utils zstd lz4 kmod gzip).
var hostTools = []struct{ prog, pkg string }{
	{"apt-get", "apt"},
	{"apt-cache", "apt"},
	{"dpkg-deb", "dpkg"},
	{"depmod", "kmod"},                        // Debian kernel packages ship no modules.dep
	{"lz4", "lz4"},                            // the bookworm kernels' payload
	{"zstd", "zstd"},                          // the trixie kernels' payload and modules
	{"xz", "xz-utils"},                        // xz payloads and .ko.xz modules
	{"gzip", "gzip"},                          // gzip payloads and .ko.gz modules
	{"qemu-system-x86_64", "qemu-system-x86"}, // QEMU guests inside L1, fallback L0
	{"go", "the Go toolchain (https://go.dev/dl/)"},
}

// checkTools returns an error naming every missing program and the package
// to install, or nil when all of them are in $PATH. skip names programs not
// needed in this configuration (e.g. apt-get when offline).
func checkTools(skip ...string) error {
	var missing []string
	pkgs := map[string]bool{}
	var order []string
	for _, t := range hostTools {
		if slices.Contains(skip, t.prog) {
			continue
		}
		if _, err := exec.LookPath(t.prog); err == nil {
			continue
		}
		missing = append(missing, t.prog)
		if !pkgs[t.pkg] {
			pkgs[t.pkg] = true
			order = append(order, t.pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("testhost: missing host programs %s: install %s",
		strings.Join(missing, ", "), strings.Join(order, ", "))
}
