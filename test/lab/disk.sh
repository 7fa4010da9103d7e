#!/bin/bash
# Build the seeded disks without mounting anything: sfdisk on a sparse raw file, then
# mkfs.ext4 -d (populate from a directory) written straight into the partition (-E offset=).
#
#   disk.sh root OUT.raw SIZE HOSTNAME BAD   partitioned disk, ext4 root (label cloudimg-rootfs);
#                                            BAD=1 adds the fstab line of a disk that is gone
#   disk.sh bootable CACHE OUT HOSTNAME      a sparse copy of the boot image in CACHE (test/repairs/
#                                            boot-image.sh): a Debian that boots, relabelled
#                                            cloudimg-rootfs, with HOSTNAME and the bad fstab line
#   disk.sh data FILE LABEL TEXT             ext4 over the whole FILE with /MARKER holding TEXT
#   disk.sh overlay GUEST_PID BASE DISK SIZE qcow2 overlay DISK on raw BASE, seen from inside a
#                                            guest (paths are the guest's); the bad fstab line is
#                                            written into the overlay only, BASE stays clean
set -euo pipefail
source "$(dirname "$0")/lib.sh"
mkdir -p "$LAB/tmp"
WORK=$(mktemp -d -p "$LAB/tmp" disk.XXXXXX)
cleanup() {
  if [ -s "$WORK/qsd.pid" ]; then   # an interrupted overlay edit: stop the FUSE export first
    kill "$(cat "$WORK/qsd.pid")" 2>/dev/null || true
    while grep -q " $WORK/view.raw " /proc/mounts; do sleep 0.1; done
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

ROOT_OFFSET=1048576   # partition 1 starts at sector 2048
BAD_LINE=$'/dev/vdb\t/mnt/data\text4\tdefaults\t0 2'

root() {
  local out=$1 size=$2 host=$3 bad=$4 tree=$WORK/rootfs
  mkdir -p "$tree"/{etc,root,home,tmp,mnt/data,var/log,var/lib/dpkg,usr/bin,usr/sbin,boot}
  ln -s usr/bin "$tree/bin"; ln -s usr/sbin "$tree/sbin"
  : >"$tree/var/lib/dpkg/status"
  echo 12.8 >"$tree/etc/debian_version"
  echo "$host" >"$tree/etc/hostname"
  echo 'root:x:0:0:root:/root:/bin/bash' >"$tree/etc/passwd"
  cat >"$tree/etc/os-release" <<'EOF'
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
ID=debian
EOF
  printf '# /etc/fstab: static file system information.\nLABEL=cloudimg-rootfs\t/\text4\tdiscard,errors=remount-ro\t0 1\n' \
    >"$tree/etc/fstab"
  # the incident: a data disk that no longer exists, without nofail -> emergency mode at boot
  [ "$bad" = 1 ] && printf '%s\n' "$BAD_LINE" >>"$tree/etc/fstab"

  rm -f "$out"
  truncate -s "$size" "$out"   # sparse
  printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk --quiet "$out"
  local bytes
  bytes=$(( $(stat -c %s "$out") - ROOT_OFFSET ))
  mkfs.ext4 -q -F -L cloudimg-rootfs -E offset=$ROOT_OFFSET -d "$tree" "$out" $((bytes / 1024))k
}

bootable() {
  local cache=$1 out=$2 host=$3 view
  rm -f "$out"
  cp --sparse=always "$cache/disk.raw" "$out"
  view="$out?offset=$ROOT_OFFSET"
  debugfs -R 'cat /etc/fstab' "$view" 2>/dev/null >"$WORK/fstab"
  grep -q '[^[:space:]]' "$WORK/fstab" || die "no /etc/fstab in $cache/disk.raw"
  printf '%s\n' "$BAD_LINE" >>"$WORK/fstab"
  echo "$host" >"$WORK/hostname"
  debugfs -w -f - "$view" >/dev/null 2>"$WORK/debugfs.err" <<EOF
ssv volume_name cloudimg-rootfs
rm /etc/fstab
write $WORK/fstab /etc/fstab
sif /etc/fstab mode 0100644
rm /etc/hostname
write $WORK/hostname /etc/hostname
sif /etc/hostname mode 0100644
EOF
  [ "$(debugfs -R 'cat /etc/hostname' "$view" 2>/dev/null)" = "$host" ] || { cat "$WORK/debugfs.err" >&2; die "could not edit $out"; }
  e2fsck -fn "$view" >/dev/null 2>&1 || die "$out: the filesystem is not clean after the edit"
}

data() {
  local file=$1 label=$2 text=$3 tree=$WORK/datafs
  mkdir -p "$tree"
  printf '%s\n' "$text" >"$tree/MARKER"
  mkfs.ext4 -q -F -L "$label" -d "$tree" "$file"
}

overlay() {
  local pid=$1 base=$2 disk=$3 size=$4
  # run the rest inside the guest's mount namespace, where BASE and DISK have their guest paths
  nsenter --mount="/proc/$pid/ns/mnt" -- bash "$0" overlay-inside "$base" "$disk" "$size"
}

overlay_inside() {
  local base=$1 disk=$2 size=$3 work=$WORK
  mkdir -p "$(dirname "$disk")"
  rm -f "$disk"
  # what nova's libvirt driver does: a qcow2 overlay whose backing file is the absolute _base path
  qemu-img create -q -f qcow2 -F raw -b "$base" "$disk" "$size"
  # a raw view of the overlay chain through FUSE; debugfs writes go into the overlay only
  : >"$work/view.raw"
  qemu-storage-daemon \
    --blockdev driver=file,node-name=f0,filename="$disk" \
    --blockdev driver=qcow2,node-name=d0,file=f0 \
    --export type=fuse,id=e0,node-name=d0,mountpoint="$work/view.raw",writable=on \
    --pidfile "$work/qsd.pid" --daemonize
  local view="$work/view.raw?offset=$ROOT_OFFSET"
  debugfs -R 'cat /etc/fstab' "$view" 2>/dev/null >"$work/fstab"
  printf '%s\n' "$BAD_LINE" >>"$work/fstab"
  echo "eph-1 wrote this at $(date -u +%FT%TZ)" >"$work/log"
  debugfs -w -f - "$view" >/dev/null 2>"$work/debugfs.err" <<EOF
rm /etc/fstab
write $work/fstab /etc/fstab
sif /etc/fstab mode 0100644
mkdir /var/log/app
write $work/log /var/log/app/instance.log
EOF
  kill "$(cat "$work/qsd.pid")"
  while grep -q " $work/view.raw " /proc/mounts; do sleep 0.1; done
  rm -f "$work/qsd.pid"
  qemu-img check -q "$disk"
}

case ${1:-} in
  root) root "$2" "$3" "$4" "$5" ;;
  bootable) bootable "$2" "$3" "$4" ;;
  data) data "$2" "$3" "$4" ;;
  overlay) overlay "$2" "$3" "$4" "$5" ;;
  overlay-inside) overlay_inside "$2" "$3" "$4" ;;
  *) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 2 ;;
esac
