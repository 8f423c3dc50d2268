#!/usr/bin/env bash
# setup.sh: install what building and testing govmm needs on a Debian
# machine: the Debian packages the test host and the ACPI checks use, and
# staticcheck. Idempotent; run as root (or with sudo available).
set -euo pipefail

PKGS=(qemu-system-x86 busybox-static cpio xz-utils zstd lz4 kmod gzip acpica-tools iproute2)
STATICCHECK=honnef.co/go/tools/cmd/staticcheck@v0.8.2

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=()
for p in "${PKGS[@]}"; do
	installed "$p" && continue
	# busybox-static conflicts with busybox; the test host only needs the
	# static binary, which it takes from the package itself.
	[ "$p" = busybox-static ] && installed busybox && continue
	missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	timeout 900 $SUDO apt-get update -qq
	timeout 1800 $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if ! command -v staticcheck >/dev/null && [ ! -x "$(go env GOPATH)/bin/staticcheck" ]; then
	echo "setup: installing staticcheck" >&2
	GOFLAGS= go install "$STATICCHECK"
fi
go mod download
