#!/bin/bash
# Debian packages the repair-toolkit tests need (idempotent: installs only what is missing).
#   test/repairs/install-deps.sh          # the fast suite (loop disks, sshd, LVM metadata)
#   test/repairs/install-deps.sh --boot   # also the boot proof (debootstrap + qemu under TCG)
set -euo pipefail
pkgs=(util-linux fdisk e2fsprogs xfsprogs btrfs-progs dosfstools lvm2 kmod diffutils gzip openssh-server openssh-client shellcheck)
[ "${1:-}" = --boot ] && pkgs+=(debootstrap qemu-system-x86 qemu-utils linux-image-amd64 grub-pc-bin)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" = 0 ]; then
  echo "repair test dependencies: all installed"
  exit 0
fi
echo "repair test dependencies: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=900 update -qq
apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=900 "${missing[@]}"
