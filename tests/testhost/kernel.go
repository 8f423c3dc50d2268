package testhost

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Kernel names known to the test host, with the Debian packages they come
// from (the newest matching package is fetched).
const (
	// KernelL1 is bookworm's generic 6.1 kernel
	// (linux-image-6.1.0-N-amd64-unsigned): the test host's L1, with
	// kvm-amd, 9p, vfio and vhost as uncompressed modules. Use it as an L2
	// too when the guest needs drivers the cloud kernels lack (9p, e1000e).
	KernelL1 = "l1"
	// KernelBookwormCloud is bookworm's 6.1 cloud kernel
	// (linux-image-6.1.0-N-cloud-amd64-unsigned): INTEL_IOMMU=y, no
	// VIRTIO_IOMMU, LZ4 payload.
	KernelBookwormCloud = "bookworm-cloud"
	// KernelTrixieCloud is trixie's 6.12 cloud kernel
	// (linux-image-6.12.*-cloud-amd64-unsigned): INTEL_IOMMU=y,
	// VIRTIO_IOMMU=m, ACPI_VIOT=y, VIRTIO_PCI=y, VIRTIO_BLK=m,
	// VIRTIO_NET=m, ZSTD payload, compressed modules.
	KernelTrixieCloud = "trixie-cloud"
)

// kernelSpecs are the kernels the test host fetches: alias, package name
// pattern (apt-cache search --names-only), and whether it comes from trixie.
var kernelSpecs = []struct {
	name   string
	re     string
	trixie bool
}{
	{KernelL1, `^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$`, false},
	{KernelBookwormCloud, `^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$`, false},
	{KernelTrixieCloud, `^linux-image-6\.12\.[0-9]+[^ ]*-cloud-amd64-unsigned$`, true},
}

// Kernel is one extracted Debian kernel package in the cache. All paths are
// absolute, free of symbolic links, and the same inside L1 as on this
// machine (L1 sees this machine's root and the cache at the same path).
type Kernel struct {
	Name    string // KernelL1, KernelBookwormCloud or KernelTrixieCloud
	Package string // Debian package name, e.g. linux-image-6.1.0-56-cloud-amd64-unsigned
	Version string // Debian package version
	Release string // the kernel release, as uname -r prints it
	Dir     string // the package's extracted root

	BzImage    string // boot/vmlinuz-RELEASE: the bzImage
	Vmlinux    string // the vmlinux ELF extracted from BzImage, for PVH boots
	ModulesDir string // lib/modules/RELEASE, with modules.dep
	Config     string // boot/config-RELEASE: the kernel's .config
}

// loadKernel describes the complete kernel entry dir.
func loadKernel(name, dir string) (Kernel, error) {
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return Kernel{}, err
	}
	if !isDone(dir) {
		return Kernel{}, fmt.Errorf("testhost: kernel %s: %s is incomplete", name, dir)
	}
	rel, err := os.ReadFile(filepath.Join(dir, "release"))
	if err != nil {
		return Kernel{}, err
	}
	k := Kernel{Name: name, Dir: dir, Release: strings.TrimSpace(string(rel))}
	if pkg, err := os.ReadFile(filepath.Join(dir, ".package")); err == nil {
		f := strings.Fields(string(pkg))
		if len(f) == 2 {
			k.Package, k.Version = f[0], f[1]
		}
	}
	k.BzImage = filepath.Join(dir, "boot", "vmlinuz-"+k.Release)
	k.Vmlinux = filepath.Join(dir, "vmlinux")
	k.Config = filepath.Join(dir, "boot", "config-"+k.Release)
	if k.ModulesDir, err = filepath.EvalSymlinks(filepath.Join(dir, "lib", "modules", k.Release)); err != nil {
		return Kernel{}, fmt.Errorf("testhost: kernel %s has no modules: %w", name, err)
	}
	for _, f := range []string{k.BzImage, k.Vmlinux, filepath.Join(k.ModulesDir, "modules.dep")} {
		if _, err := os.Stat(f); err != nil {
			return Kernel{}, fmt.Errorf("testhost: kernel %s: %w", name, err)
		}
	}
	return k, nil
}

// prepareKernel turns an extracted kernel package at root into a cache
// entry: "release" (the version of boot/vmlinuz-*), "bzImage" (a link to
// it), "lib" -> usr/lib for usr-merged packages (trixie ships only
// usr/lib/modules), modules.dep (depmod), and "vmlinux" (ExtractVmlinux).
func prepareKernel(ctx context.Context, root string) error {
	imgs, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if len(imgs) != 1 {
		return errors.New("want exactly one boot/vmlinuz-* in the package")
	}
	release := strings.TrimPrefix(filepath.Base(imgs[0]), "vmlinuz-")
	if err := os.WriteFile(filepath.Join(root, "release"), []byte(release+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Symlink(filepath.Join("boot", "vmlinuz-"+release), filepath.Join(root, "bzImage")); err != nil {
		return err
	}
	if _, err := os.Lstat(filepath.Join(root, "lib")); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(root, "usr", "lib", "modules")); err == nil {
			if err := os.Symlink(filepath.Join("usr", "lib"), filepath.Join(root, "lib")); err != nil {
				return err
			}
		}
	}
	md := filepath.Join(root, "lib", "modules", release)
	if _, err := os.Stat(filepath.Join(md, "modules.dep")); errors.Is(err, os.ErrNotExist) {
		if err := depmod(ctx, md); err != nil {
			return err
		}
	}
	return ExtractVmlinux(ctx, imgs[0], filepath.Join(root, "vmlinux"))
}
