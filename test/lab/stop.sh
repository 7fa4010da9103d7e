#!/bin/bash
# Stop everything the lab started, by recorded pid (process group), never by name; then undo its
# mounts, loop devices, namespaces and bridge. Afterwards nothing of the lab runs or is attached.
# The state in .lab stays, so `lab:up` brings the same cloud back.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ -d "$LAB" ] || { say "no lab here ($LAB)"; exit 0; }
mkdir -p "$RUN"

for g in $GUESTS; do
  bash "$LAB_SRC/guest.sh" down "${g%%:*}"
done

# The OpenStack services together, then the infrastructure they use (database last).
os_names=() ; for s in $OS_SERVICES; do os_names+=("${s%%:*}"); done
stop_pid "${os_names[@]}"
stop_pid rabbitmq
stop_pid mariadb epmd
# anything else recorded (a pid file we do not know by name, e.g. from an older version)
for f in "$RUN"/*.pid; do
  [ -e "$f" ] && stop_pid "$(basename "$f" .pid)"
done

# Mounts under .lab (the cinder export's bind mount, FUSE views left by an interrupted seed).
{ grep -o " $LAB/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do  # none left: fine, down is idempotent
  umount "$m" 2>/dev/null || umount -l "$m"
  say "unmounted $m"
done

# Loop devices whose backing file is in .lab (guest attachments, seed work files).
losetup -n -O NAME,BACK-FILE -l 2>/dev/null | while read -r dev file; do
  case $file in "$LAB"/*)
    partx -d "$dev" 2>/dev/null || true
    losetup -d "$dev" && say "detached $dev ($file)" ;;
  esac
done

# Namespaces and the bridge: named osr-*, created only by the lab.
for ns in /run/netns/osr-*; do
  [ -e "$ns" ] || continue
  ip netns del "$(basename "$ns")" && say "removed namespace $(basename "$ns")"
done
if ip link show "$NET_BRIDGE" >/dev/null 2>&1; then
  ip link del "$NET_BRIDGE" && say "removed bridge $NET_BRIDGE"
fi
say "lab stopped"
