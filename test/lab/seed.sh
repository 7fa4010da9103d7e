#!/bin/bash
# Seed (or re-seed) the lab's incidents: SSH keys for the guests, the disks (built without
# mounting, see disk.sh), then everything in OpenStack (seed.py) and .lab/seed.json.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

for s in $INFRA_SERVICES $OS_SERVICES; do
  pid_alive "${s%%:*}" || die "${s%%:*} is not running: run npm run lab:up first"
done
for g in $GUESTS; do
  pid_alive "guest-${g%%:*}" || die "guest ${g%%:*} is not running: run npm run lab:up first"
done
say "seeding project incidents"

# Login keys for the guests (kept across re-seeds, so open sessions and configs stay valid).
mkdir -p "$LAB/keys"
for g in $GUESTS; do
  name=${g%%:*} key=$LAB/keys/${g%%:*}_ed25519
  [ -f "$key" ] || ssh-keygen -q -t ed25519 -N '' -C "lab-$name" -f "$key"
  cp "$key.pub" "$LAB/guests/$name/authorized_keys"
done

# The disks: a clean base (the helper's and eph-1's image) and web-1's broken root disk.
WORK=$LAB/work/seed
rm -rf "$WORK" && mkdir -p "$WORK"
bash "$LAB_SRC/disk.sh" root "$WORK/base.raw" 1G debian 0
bash "$LAB_SRC/disk.sh" root "$WORK/web-1.raw" 1G web-1 1
for d in base web-1; do
  qemu-img convert -f raw -O qcow2 "$WORK/$d.raw" "$WORK/$d.qcow2"
done
# web-1's root volume: the boot proof's Debian (test/repairs/boot-image.sh, built once and cached)
# with the bad fstab, so the lab's compute driver really boots it and its replacements (lab_virt.py
# "real boots"); the cache it boots from is named in state/nova/boot-image. Without the cache (no
# debootstrap or mirror) web-1's root is the small disk above, and nothing boots for real.
mkdir -p "$LAB/state/nova"
if boot=$(bash "$LAB_SRC/../repairs/boot-image.sh"); then
  bash "$LAB_SRC/disk.sh" bootable "$boot" "$WORK/web-1-root.raw" web-1
  echo "$boot" >"$LAB/state/nova/boot-image"
else
  echo "lab: no boot image (test/repairs/boot-image.sh failed): web-1 does not really boot" >&2
  cp --sparse=always "$WORK/web-1.raw" "$WORK/web-1-root.raw"
  rm -f "$LAB/state/nova/boot-image"
fi
say "disks built: base (clean), web-1 (bad fstab$([ -s "$LAB/state/nova/boot-image" ] && echo ", boots under qemu"))"

OS_CLIENT_CONFIG_FILE=$LAB/clouds.yaml "$PY" "$LAB_SRC/seed.py" "$LAB" "$WORK"

# The guests answer with the seeded keys and the recorded host keys, as their login user (guest.sh:
# snap-mounter's is cloud-user, whose sudo needs no password) and as root.
for g in $GUESTS; do
  IFS=: read -r name addr _ <<<"$g"
  user=$(cat "$LAB/guests/$name/login-user")
  for u in "$user" root; do
    ssh -F /dev/null -i "$LAB/keys/${name}_ed25519" -o UserKnownHostsFile="$LAB/known_hosts" \
      -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 "$u@$addr" 'sudo -n true' \
      || die "cannot SSH to guest $name at $addr as $u (with sudo -n)"
  done
done
rm -rf "$WORK"
say "seeded: web-1, eph-1, snap-mounter (SSH cloud-user@10.251.0.20, sudo -n, with $LAB/keys/snap-mounter_ed25519)"
