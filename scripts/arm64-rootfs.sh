#!/usr/bin/env bash
# Build (once) a Debian bookworm arm64 userland with Python 3.11 that runs here under qemu-user, with two
# venvs for the edge runtime: /venv-litert (ai-edge-litert 2.3.0, numpy 2) and /venv-tflite (tflite-runtime
# 2.14.0, numpy 1.26). Used by tests/test_arm64.py. Needs root (binfmt, chroot). Usage: arm64-rootfs.sh DIR
# The finished rootfs is marked with DIR/.ready, which holds the sha256 of edge/requirements-aarch64.txt: a later
# call returns at once, or, when the requirements changed since, installs them into the existing venvs.
set -euo pipefail
ROOTFS=${1:?usage: arm64-rootfs.sh DIR}
HERE=$(cd "$(dirname "$0")/.." && pwd)
REQS=$(sha256sum "$HERE/edge/requirements-aarch64.txt" | cut -d' ' -f1)
[ -f "$ROOTFS/.ready" ] && [ "$(cat "$ROOTFS/.ready")" = "$REQS" ] && exit 0
TFLITE="numpy==1.26.4 tflite-runtime==2.14.0 pillow==13.0.0 $(grep -E '^(cryptography|cffi|pycparser)==' "$HERE/edge/requirements-aarch64.txt" | tr '\n' ' ')"
[ "$(id -u)" -eq 0 ] || { echo "error: needs root (binfmt_misc, chroot)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v arch-test >/dev/null || need+=(arch-test)
[ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
command -v update-binfmts >/dev/null || need+=(binfmt-support)
if [ ${#need[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
fi
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || { echo "error: qemu-aarch64 binfmt handler not registered" >&2; exit 1; }
if [ -f "$ROOTFS/.ready" ]; then  # built before the requirements changed: update the venvs in place
  mount -t proc proc "$ROOTFS/proc"; trap 'umount "$ROOTFS/proc" 2>/dev/null || true' EXIT
  run() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root chroot "$ROOTFS" "$@"; }
  run /venv-litert/bin/pip install -q -r /dev/stdin < "$HERE/edge/requirements-aarch64.txt"
  run /venv-tflite/bin/pip install -q $TFLITE
  echo "$REQS" > "$ROOTFS/.ready"; echo "arm64 rootfs updated: $ROOTFS"; exit 0
fi
MIRROR=$( { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
            grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}'; } | grep -v security | head -1 || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
rm -rf "$ROOTFS.tmp"; mkdir -p "$(dirname "$ROOTFS")"
echo "arm64 rootfs: mmdebstrap from $MIRROR (a few minutes)"
mmdebstrap --quiet --arch=arm64 --variant=apt --include=python3,python3-venv,python3-pip,ca-certificates \
  bookworm "$ROOTFS.tmp" "deb $MIRROR bookworm main" >/dev/null
cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS.tmp/etc/ssl/certs/host-ca.crt"
cp /etc/resolv.conf "$ROOTFS.tmp/etc/resolv.conf"
printf '[global]\ncert = /etc/ssl/certs/host-ca.crt\ndisable-pip-version-check = 1\n' > "$ROOTFS.tmp/etc/pip.conf"
mount -t proc proc "$ROOTFS.tmp/proc"   # /proc yes; /sys no (ai-edge-litert's cpuinfo probe crashes under qemu with it)
trap 'umount "$ROOTFS.tmp/proc" 2>/dev/null || true' EXIT
run() { env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root chroot "$ROOTFS.tmp" "$@"; }
run python3 -m venv /venv-litert
run /venv-litert/bin/pip install -q -r /dev/stdin < "$HERE/edge/requirements-aarch64.txt"
run python3 -m venv /venv-tflite
run /venv-tflite/bin/pip install -q $TFLITE
umount "$ROOTFS.tmp/proc"; trap - EXIT
echo "$REQS" > "$ROOTFS.tmp/.ready"
rm -rf "$ROOTFS"; mv "$ROOTFS.tmp" "$ROOTFS"
echo "arm64 rootfs ready: $ROOTFS"
