#!/bin/bash
# Build, once, a minimal bootable Debian 12 disk for the boot proof (test/repairs/boot-proof.test.ts)
# and print the directory that holds it: disk.raw (MBR, p1 = ext4 root, sparse), vmlinuz,
# initrd.img, root-uuid. Cached outside git, keyed by the hash of this script, so an edit here
# rebuilds and an unchanged script reuses the cache:
#   ${OSR_BOOT_CACHE:-/var/cache/openstack-recovery}/boot-<hash>/
# Needs root, debootstrap and the Debian mirror this machine's apt already uses.
set -euo pipefail
CACHE=${OSR_BOOT_CACHE:-/var/cache/openstack-recovery}
key=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)
out=$CACHE/boot-$key
if [ -f "$out/ready" ]; then echo "$out"; exit 0; fi

# the mirror apt is configured with (deb822 .sources first, then sources.list)
mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1 || true)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$mirror" ] || { echo "no Debian mirror found in the apt configuration" >&2; exit 1; }

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/build.XXXXXX")
cleanup() {
  # debootstrap leaves proc/sys mounted when it fails half-way
  for m in proc sys dev/pts dev; do mountpoint -q "$work/root/$m" 2>/dev/null && umount -l "$work/root/$m"; done
  rm -rf "$work"
}
trap cleanup EXIT
# the repair toolkit's own needs, so the same image is the guest the toolkit's tests run in
# (test/repairs/guest.test.ts): LVM with a working device-mapper, the filesystems, diff
GUEST_TOOLS=lvm2,xfsprogs,btrfs-progs,dosfstools,fdisk,diffutils,gzip,kmod
echo "boot image: debootstrap bookworm from $mirror (a few minutes, once)" >&2
debootstrap --variant=minbase \
  --include=systemd-sysv,udev,linux-image-amd64,initramfs-tools,e2fsprogs,login,passwd,util-linux,$GUEST_TOOLS \
  bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

uuid=$(cat /proc/sys/kernel/random/uuid)
root=$work/root
printf 'UUID=%s\t/\text4\terrors=remount-ro\t0\t1\n' "$uuid" >"$root/etc/fstab"
echo boot-proof >"$root/etc/hostname"
mkdir -p "$root/mnt/data"
# the guest needs nothing from the network, and waiting for it only slows the boot
rm -f "$root/etc/systemd/system/multi-user.target.wants/"*networking* 2>/dev/null || true

cp "$(readlink -f "$root/vmlinuz")" "$work/vmlinuz"
cp "$(readlink -f "$root/initrd.img")" "$work/initrd.img"

size=$((2048 * 1024 * 1024))
truncate -s "$size" "$work/disk.raw"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk --quiet "$work/disk.raw"
mkfs.ext4 -q -F -L debian-root -U "$uuid" -E offset=1048576 -d "$root" "$work/disk.raw" $(((size - 1048576) / 1024))k
echo "$uuid" >"$work/root-uuid"
rm -rf "$root" "$work/debootstrap.log"
trap - EXIT
rm -rf "$out"
mv "$work" "$out"
touch "$out/ready"
echo "$out"
