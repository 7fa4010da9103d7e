#!/bin/bash
# Runs as the first process of a guest, already inside its own network, mount and UTS namespaces
# (see guest.sh), then becomes the guest's sshd. Mounts made here are seen only by the guest.
# usage: guest-init.sh GUEST_DIR
set -euo pipefail
G=$1
hostname "$(basename "$G")"

# The guest's /dev is its own directory: only the disks attached to this guest appear in it.
mount --bind "$G/dev" /dev
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm

# Extra views of the host's filesystem ("SOURCE TARGET" lines), e.g. a compute host's instances, or
# the helper's own /etc/passwd, shadow, group, hosts and sudoers.d (its users: see guest.sh).
while read -r src dst; do
  [ -n "$src" ] && mount --bind "$src" "$dst"
done <"$G/binds"

exec /usr/sbin/sshd -D -e -f "$G/ssh/sshd_config"
