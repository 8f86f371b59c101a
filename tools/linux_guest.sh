#!/bin/sh
# Builds the Linux test guest from Debian packages into build/linux-guest/ (git-ignored):
#
#   bzImage          the kernel of the newest linux-image-6.1.0-*-amd64 (the Linux boot protocol)
#   vmlinux          the same kernel uncompressed: an ELF with the Xen PVH note (the PVH entry)
#   initramfs.cpio.gz  busybox-static and an /init that prints the marker and powers off
#   cmdline          the command line the tests and bench/linux_boot.ts use
#
# Usage: tools/linux_guest.sh [OUTDIR]
#
# Needs apt-get (download only: the packages are unpacked with dpkg-deb, not installed), cpio, gzip and xz.
# /init prints "KVMKIT-MARKER cpus=N" (N from /proc/cpuinfo), then, if the command line has kvmkit.shell, runs a
# shell on the console until it exits, then powers off (busybox poweroff -f: ACPI S5 when ACPI is on).
# Running it again reuses what is there; delete OUTDIR to start over.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/build/linux-guest}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK="$OUT/work"
mkdir -p "$WORK"

for tool in apt-get dpkg-deb cpio gzip xz; do
  command -v "$tool" >/dev/null 2>&1 || { echo "linux_guest.sh: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done

cd "$WORK"
if [ ! -s "$OUT/bzImage" ]; then
  PKG=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' | cut -d' ' -f1 | sort -V | tail -1)
  [ -n "$PKG" ] || { echo "linux_guest.sh: no linux-image-6.1.0-*-amd64 package (run apt-get update)" >&2; exit 1; }
  echo "linux_guest.sh: downloading $PKG" >&2
  rm -f ./linux-image-*.deb
  apt-get download "$PKG" >&2
  rm -rf kernel && mkdir kernel
  dpkg-deb -x ./linux-image-*.deb kernel
  cp kernel/boot/vmlinuz-* "$OUT/bzImage"
  echo "$PKG" > "$OUT/kernel-package"
  rm -rf kernel ./linux-image-*.deb
fi

if [ ! -s "$OUT/vmlinux" ]; then
  # The bzImage's payload is an XZ stream: find its magic (fd 37 7a 58 5a 00) and decompress from there.
  OFFSET=$(grep -abo "$(printf '\3757zXZ')" "$OUT/bzImage" | head -1 | cut -d: -f1)
  [ -n "$OFFSET" ] || { echo "linux_guest.sh: no XZ payload in bzImage" >&2; exit 1; }
  tail -c +"$((OFFSET + 1))" "$OUT/bzImage" | xz -dc > "$OUT/vmlinux" 2>/dev/null || true
  [ "$(head -c 4 "$OUT/vmlinux" | od -An -c | tr -d ' ')" = "177ELF" ] ||
    { echo "linux_guest.sh: the payload is not an ELF vmlinux" >&2; rm -f "$OUT/vmlinux"; exit 1; }
fi

if [ ! -s "$OUT/initramfs.cpio.gz" ]; then
  if [ ! -x busybox ]; then
    rm -f ./busybox-static_*.deb
    apt-get download busybox-static >&2
    rm -rf bb && mkdir bb
    dpkg-deb -x ./busybox-static_*.deb bb
    cp bb/bin/busybox busybox
    rm -rf bb ./busybox-static_*.deb
  fi
  rm -rf initramfs && mkdir -p initramfs/bin initramfs/dev initramfs/proc initramfs/sys
  cp busybox initramfs/bin/busybox
  cat > initramfs/init <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "KVMKIT-MARKER cpus=$(grep -c ^processor /proc/cpuinfo)"
if grep -q kvmkit.shell /proc/cmdline; then
  echo "KVMKIT-SHELL"
  sh
fi
echo "KVMKIT-POWEROFF"
poweroff -f
EOF
  chmod 755 initramfs/init
  # The kernel opens /dev/console before /init runs: the node must be in the archive.
  if [ "$(id -u)" = 0 ]; then mknod -m 600 initramfs/dev/console c 5 1; fi
  (cd initramfs && find . | cpio -o -H newc --owner=0:0 2>/dev/null | gzip -9) > "$OUT/initramfs.cpio.gz"
fi

echo "console=ttyS0 panic=-1 quiet" > "$OUT/cmdline"
rm -rf "$WORK"
ls -l "$OUT" >&2
