#!/usr/bin/env bash
# Installs what the harness needs on a Debian 12 machine, idempotently:
# Debian packages (only the missing ones), Debian's 6.12 generic kernel (the
# mainline reference guest), Debian's 6.1 generic kernel (plain 6.1, where the
# new selftests must skip) and the project's virtualenv (.venv).
set -euo pipefail
cd "$(dirname "$0")/.."

# The build and guest toolchain. udev: virtme-ng's guest uses the host's udev
# to create the /dev/virtio-ports links its script I/O needs.
# gcc-aarch64-linux-gnu: the config matrix's arm64 cross build.
PACKAGES=(
	git make gcc flex bison bc libelf-dev libssl-dev ccache rsync cpio xz-utils
	dwarves kmod qemu-system-x86 udev busybox-static python3-venv util-linux
	gcc-aarch64-linux-gnu
)
# The reference kernel (mainline 6.12 as Debian builds it). Pinned here;
# the newest 6.12 generic image is used when this one is no longer served.
REFERENCE_KERNEL=linux-image-6.12.117+deb12-amd64-unsigned
# Plain 6.1: Debian's build of the very source the series applies to
# (linux-source-6.1 6.1.192-2), so any difference is the series.
PLAIN_KERNEL=linux-image-6.1.0-56-amd64-unsigned

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
fi

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

have_reference=$(ls /boot/vmlinuz-6.12.*-amd64 2>/dev/null | head -1 || true)
have_plain=$(ls /boot/vmlinuz-6.1.0-*-amd64 2>/dev/null | head -1 || true)
updated=no
apt_update() {
	if [ "$updated" = no ]; then
		echo "setup: apt-get update"
		$SUDO apt-get update -q >/dev/null
		updated=yes
	fi
}

if [ ${#missing[@]} -gt 0 ]; then
	apt_update
	echo "setup: installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# install_kernel WHAT PINNED REGEX: the pinned Debian kernel package, or the
# newest one whose name matches REGEX when the pinned one is no longer served.
install_kernel() {
	local what=$1 pkg=$2 regex=$3
	apt_update
	if ! apt-cache show "$pkg" >/dev/null 2>&1; then
		echo "setup: WARNING: $pkg is no longer served; using the newest match of $regex"
		pkg=$(apt-cache search --names-only "$regex" | awk '{print $1}' | sort -V | tail -1)
	fi
	if [ -n "$pkg" ]; then
		echo "setup: installing $what $pkg"
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "$pkg" >/dev/null
	else
		echo "setup: WARNING: no Debian kernel for $what found; that target will be skipped"
	fi
}

if [ -z "$have_reference" ]; then
	install_kernel "the reference kernel" "$REFERENCE_KERNEL" \
		'^linux-image-6\.12\.[0-9.]*\+deb12-amd64-unsigned$'
fi
if [ -z "$have_plain" ]; then
	install_kernel "plain 6.1" "$PLAIN_KERNEL" '^linux-image-6\.1\.0-[0-9]*-amd64-unsigned$'
fi

# The virtualenv; reinstalled only when pyproject.toml changes.
if [ ! -x .venv/bin/python ]; then
	echo "setup: creating .venv"
	python3 -m venv .venv
fi
stamp=.venv/.pmscan-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
	echo "setup: installing the harness and its Python dependencies into .venv"
	.venv/bin/pip install -q --upgrade pip >/dev/null
	.venv/bin/pip install -q -e '.[dev,bench]'
	touch "$stamp"
fi
echo "setup: ready"
