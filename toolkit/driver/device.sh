# shellcheck shell=bash
# driver/device.sh: the disk to repair: found by its serial (volumeId) or named by a path
# (devicePath), refused when the helper uses it (mounted, held by LVM/dm), and its partitions.
# Sets OSR_DEVICE (the block device) and OSR_DEVICE_LINK (the by-id link or the path given).

# ---------------------------------------------------------------- 1. the device, by serial or by path
osr_find_device() {      # the disk the options name: by path (devicePath) or by serial (volumeId)
  if [ -n "$OSR_DEVICE_PATH" ]; then osr_find_device_by_path; else osr_find_device_by_serial; fi
}

osr_find_device_by_path() {
  # the same wait as by serial (a disk just attached takes a moment to appear), then only checks:
  # the path is used as given, never searched for
  local p=$OSR_DEVICE_PATH deadline=$((SECONDS + OSR_DEVICE_TIMEOUT + 1)) real base
  osr_phase "waiting up to ${OSR_DEVICE_TIMEOUT}s for the disk at $p"
  while [ ! -e "$p" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      osr_die "no disk at devicePath $p within ${OSR_DEVICE_TIMEOUT}s: is the disk attached to this server (lsblk lists its disks)?"
    fi
    sleep 1
  done
  real=$(readlink -f "$p") || osr_die "devicePath $p: cannot resolve it"
  [ -b "$real" ] || osr_die "devicePath $p is not a block device${real:+ ($real)}: name a disk such as /dev/vdb, or attach an image file first (losetup -f --show -P IMAGE)"
  base=${real##*/}
  # a partition would pass the in-use check while the rest of its disk (the helper's own?) is used
  if [ -e "/sys/class/block/$base/partition" ]; then
    osr_die "refusing: devicePath $p is a partition ($real), not a whole disk: name the disk it is on (its partitions are found by themselves)"
  fi
  if [ "$(blockdev --getsize64 "$real" 2>/dev/null || echo 0)" = 0 ]; then
    osr_die "devicePath $p ($real) is empty (an unused loop device?): attach the image first (losetup -f --show -P IMAGE)"
  fi
  OSR_DEVICE=$real
  OSR_DEVICE_LINK=$p
  osr_log "device: $OSR_DEVICE (via $OSR_DEVICE_LINK)"
}

osr_find_device_by_serial() {
  # $SECONDS ticks in whole seconds, so "now" may already be 0.99 s old: one more tick makes the
  # wait at least the promised timeout, never up to a second less
  local id=$OSR_VOLUME_ID short=${OSR_VOLUME_ID:0:20} deadline=$((SECONDS + OSR_DEVICE_TIMEOUT + 1))
  local link name real serial b
  osr_phase "waiting up to ${OSR_DEVICE_TIMEOUT}s for the volume with serial $short in $OSR_BYID_DIR"
  while :; do
    local -A found=()
    # by-id links carry the serial: virtio-<20 chars>, scsi-0QEMU_QEMU_HARDDISK_<id>, nvme-…_<id> …
    for link in "$OSR_BYID_DIR"/*; do
      name=${link##*/}
      [[ $name == *-part[0-9]* ]] && continue
      [[ $name == "virtio-$short" || $name == *"$short"* || $name == *"$id"* ]] || continue
      real=$(readlink -f "$link") && [ -b "$real" ] && found[$real]+="$link "
    done
    # the same serial from sysfs, for buses whose by-id link holds only a WWN (wwn-0x…)
    if [ "$OSR_BYID_DIR" = /dev/disk/by-id ]; then
      for b in /sys/block/*; do
        serial=$(cat "$b/serial" "$b/device/serial" 2>/dev/null | tr -dc '[:print:]' || true)
        [ -z "$serial" ] && [ -r "$b/device/vpd_pg80" ] && serial=$(tr -dc '[:print:]' <"$b/device/vpd_pg80" 2>/dev/null || true)
        [[ -n $serial && ( $serial == *"$short"* ) ]] && [ -b "/dev/${b##*/}" ] && found[/dev/${b##*/}]+="sysfs:${b##*/}/serial "
      done
    fi
    if [ "${#found[@]}" -gt 1 ]; then
      osr_die "serial $short matches more than one disk (${!found[*]}); refusing to guess"
    elif [ "${#found[@]}" = 1 ]; then
      OSR_DEVICE=${!found[*]}
      OSR_DEVICE_LINK=${found[$OSR_DEVICE]% }
      OSR_DEVICE_LINK=${OSR_DEVICE_LINK%% *}
      osr_log "device: $OSR_DEVICE (via $OSR_DEVICE_LINK)"
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      osr_die "no disk with serial $short appeared in $OSR_BYID_DIR within ${OSR_DEVICE_TIMEOUT}s (looked for virtio-$short, scsi-*$short*, nvme-*$short*): is volume $id attached to this server, and in-use?"
    fi
    sleep 1
  done
}

osr_is_mounted() { awk -v d="$1" '$3 == d { f=1 } END { exit !f }' /proc/self/mountinfo; }  # $1 = MAJ:MIN

osr_check_not_in_use() { # never touch a disk something else has mounted (e.g. the helper's own root)
  local base=${OSR_DEVICE##*/} p h
  for p in "/sys/class/block/$base" "/sys/class/block/$base"/"$base"*; do
    [ -e "$p/dev" ] || continue
    if osr_is_mounted "$(cat "$p/dev")"; then
      osr_die "refusing: /dev/${p##*/} is mounted on this helper (is this the helper's own disk?)"
    fi
    for h in "$p"/holders/*; do
      [ -e "$h" ] || continue     # gone: an earlier holder's VG was deactivated with it
      osr_release_own_lv "${h##*/}" || osr_die "refusing: /dev/${p##*/} is held by ${h##*/}: $OSR_HELD_WHY"
    done
  done
}

osr_release_own_lv() {   # $1 = a holder (dm-N) of the disk: deactivate it when it is only this disk's idle LV
  # udev's LVM event activation (Debian's and RHEL's default) activates a clone's VG the moment it
  # is attached; such an LV is the clone's own and unused, not "the helper's": deactivated here, and
  # activated again (renamed on a clash) by osr_lvm_setup. Anything else holding the disk is refused.
  local h=$1 s uuid name mm vg pvs='' open out
  OSR_HELD_WHY="active LVM/dm on the helper?"
  [ -e "/sys/block/$h/dm" ] || { OSR_HELD_WHY="not a device-mapper device (md RAID, bcache?)"; return 1; }
  uuid=$(cat "/sys/block/$h/dm/uuid" 2>/dev/null || true)
  name=$(cat "/sys/block/$h/dm/name")
  mm=$(cat "/sys/block/$h/dev")
  [[ $uuid == LVM-* ]] || { OSR_HELD_WHY="device-mapper ${uuid%%-*} device $name, not LVM (dm-crypt, multipath?)"; return 1; }
  for s in "/sys/block/$h/slaves"/*; do
    s=${s##*/}
    # every PV under the LV is this disk or one of its partitions, or the VG is the helper's too
    [ "$s" = "${OSR_DEVICE##*/}" ] || [ -e "/sys/class/block/${OSR_DEVICE##*/}/$s" ] || {
      OSR_HELD_WHY="LV $name also uses /dev/$s, a disk of the helper"; return 1; }
    pvs+="${pvs:+,}/dev/$s"
  done
  osr_is_mounted "$mm" && { OSR_HELD_WHY="LV $name of this disk is mounted on the helper"; return 1; }
  open=$(dmsetup info -c --noheadings -o open -j "${mm%:*}" -m "${mm#*:}" 2>/dev/null | tr -d ' ' || true)
  if [ "$open" != 0 ] || [ -e "$(echo "/sys/block/$h/holders"/*)" ]; then
    OSR_HELD_WHY="LV $name of this disk is open on the helper (open count ${open:-unknown})"; return 1
  fi
  vg=$(pvs --devices "$pvs" --noheadings -o vg_name 2>/dev/null | awk 'NF { print $1; exit }')
  [ -n "$vg" ] || { OSR_HELD_WHY="LV $name: LVM does not list its VG"; return 1; }
  out=$(vgchange -an --devices "$pvs" "$vg" 2>&1) || { OSR_HELD_WHY="could not deactivate VG $vg of this disk: $(tail -n1 <<<"$out")"; return 1; }
  osr_log "lvm: VG $vg of this disk was active (udev activates a VG on attach) with nothing mounted or open; deactivated it"
}

osr_list_partitions() {
  osr_phase "listing partitions of $OSR_DEVICE"
  local base=${OSR_DEVICE##*/} p n
  local -a parts=()
  for p in "/sys/class/block/$base/$base"*; do
    [ -f "$p/partition" ] || continue
    n=$(cat "$p/partition")
    parts+=("$n:/dev/${p##*/}")
  done
  if [ "${#parts[@]}" = 0 ]; then
    osr_add_fs "$OSR_DEVICE" '' ''          # a filesystem on the whole disk
    return 0
  fi
  while IFS=: read -r n p; do osr_add_fs "$p" "$n" ''; done < <(printf '%s\n' "${parts[@]}" | sort -n)
}
