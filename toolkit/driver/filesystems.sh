# shellcheck shell=bash
# driver/filesystems.sh: the disk's filesystems: probe (blkid), mount and unmount them read-only
# or read-write, replay a dirty ext journal, find the root, match fstab specs, plan the mounts.

# ---------------------------------------------------------------- 2. filesystems and the root
osr_blkid() {            # value of KEY for device $1 from a low-level probe (no cache, no udev)
  blkid -p -o export "$1" 2>/dev/null | sed -n "s/^$2=//p" | head -n1
}

osr_add_fs() {           # register a filesystem: dev partnum lvname
  local dev=$1 i=${#FS_DEV[@]}
  FS_DEV[i]=$dev; FS_PARTNUM[i]=$2; FS_LV[i]=$3
  FS_TYPE[i]=$(osr_blkid "$dev" TYPE); FS_UUID[i]=$(osr_blkid "$dev" UUID)
  FS_LABEL[i]=$(osr_blkid "$dev" LABEL)
  FS_PARTUUID[i]=$(osr_blkid "$dev" PART_ENTRY_UUID); FS_PARTLABEL[i]=$(osr_blkid "$dev" PART_ENTRY_NAME)
  FS_SIZE[i]=$(blockdev --getsize64 "$dev" 2>/dev/null || echo 0)
  FS_SUBVOL[i]=''; FS_MOUNTED[i]=''; FS_TARGET[i]=''; FS_OVERSIZE[i]=''
  osr_log "  $dev: ${FS_TYPE[i]:-no filesystem}${FS_UUID[i]:+ uuid=${FS_UUID[i]}}${FS_LABEL[i]:+ label=${FS_LABEL[i]}}"
  osr_check_fs_fits "$i"
}

osr_fs_bytes() {         # the size fs $1 says it has (its superblock), in bytes; empty if unknown
  local i=$1 a b
  case "${FS_TYPE[i]}" in
    ext*) a=$(dumpe2fs -h "${FS_DEV[i]}" 2>/dev/null | sed -n 's/^Block count:[[:space:]]*//p')
          b=$(dumpe2fs -h "${FS_DEV[i]}" 2>/dev/null | sed -n 's/^Block size:[[:space:]]*//p') ;;
    xfs)  command -v xfs_db >/dev/null || return 0
          read -r a b < <(xfs_db -r -c 'sb 0' -c 'p dblocks blocksize' "${FS_DEV[i]}" 2>/dev/null | sed 's/.* = //' | tr '\n' ' ') ;;
    *) return 0 ;;
  esac
  [[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]] && echo $((a * b))
}

osr_check_fs_fits() {    # a filesystem larger than its partition (a partition shrunk, a resize that went wrong)
  # The kernel refuses to mount it, and a tool that wrote to it would write past the end: say so
  # plainly, with the numbers and the fix, instead of letting a mount fail for an unclear reason.
  local i=$1 fsb
  fsb=$(osr_fs_bytes "$i")
  [ -n "$fsb" ] && [ "${FS_SIZE[i]:-0}" -gt 0 ] && [ "$fsb" -gt "${FS_SIZE[i]}" ] || return 0
  local where=${FS_PARTNUM[i]:+partition ${FS_PARTNUM[i]}}
  FS_OVERSIZE[i]="its ${FS_TYPE[i]} filesystem is $fsb bytes but ${where:-the device}, which holds it, is ${FS_SIZE[i]} bytes (the partition was shrunk, or the filesystem grown past it); grow the partition back to at least $fsb bytes (on the helper: sfdisk, or growpart, on this clone)"
  osr_warn "${FS_DEV[i]}: ${FS_OVERSIZE[i]}; it is not mounted, and nothing is written to it"
}

osr_kmsg_mark() { dmesg 2>/dev/null | tail -n1 | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p'; }

osr_kernel_reason() {    # dev, mark (osr_kmsg_mark before): what the kernel logged about dev since
  # by timestamp, not line count: a full ring buffer keeps the same number of lines
  local dev=$1 mark=${2:-0} name
  name=$(readlink -f "$dev"); name=${name##*/}
  dmesg 2>/dev/null | awk -v t="$mark" -v n="$name" '{ ts = $0; sub(/^\[ */, "", ts); sub(/\].*/, "", ts)
      if (ts + 0 > t + 0 && index($0, n)) { sub(/^\[[^]]*\] */, ""); print } }' | tail -n 3 | tr '\n' ' ' | sed 's/ *$//'
}

osr_mount_opts() {       # mount options for fs $1 in mode $2 (ro|rw)
  local i=$1 o
  case "${FS_TYPE[i]}:$2" in
    ext*:ro)  o=ro,noload ;;                  # noload: a dirty journal is not replayed (no write)
    ext*:rw)  o=rw,noatime ;;
    xfs:ro)   o=ro,norecovery,nouuid ;;       # nouuid: a helper from the same image has the same UUID
    xfs:rw)   o=rw,noatime,nouuid ;;
    btrfs:ro) o=ro,rescue=nologreplay ;;
    btrfs:rw) o=rw,noatime ;;
    *:ro)     o=ro ;;
    *:rw)     o=rw ;;
  esac
  [ -n "${FS_SUBVOL[i]}" ] && o+=",subvol=${FS_SUBVOL[i]}"
  printf '%s' "$o"
}

osr_fs_mount() {         # mount fs $1 ($2 = ro|rw) at $OSR_WORK/fs/$1; no-op when already so
  local i=$1 mode=$2 dir=$OSR_WORK/fs/$1 out
  [ "${FS_MOUNTED[i]}" = "$mode" ] && return 0
  [ -n "${FS_MOUNTED[i]}" ] && osr_fs_umount "$i"
  if [ -n "${FS_OVERSIZE[i]}" ]; then printf '%s' "${FS_OVERSIZE[i]}" >"$OSR_WORK/mount-error"; return 1; fi
  mkdir -p "$dir"
  local try kmsg reason
  for try in 1 2 3 4 5 6 7 8 9 10; do
    kmsg=$(osr_kmsg_mark)
    out=$(mount -t "${FS_TYPE[i]}" -o "$(osr_mount_opts "$i" "$mode")" "${FS_DEV[i]}" "$dir" 2>&1) && break
    # right after an overlay on it went away, the kernel may still hold the old superblock
    # for a moment ("already mounted or mount point busy"): wait for it, do not fail
    if [[ $out != *busy* && $out != *"already mounted"* ]] || [ "$try" = 10 ]; then
      # mount(8) only says "wrong fs type, bad option, bad superblock"; the kernel says why
      reason=$(osr_kernel_reason "${FS_DEV[i]}" "$kmsg")
      printf '%s%s' "$(tr '\n' ' ' <<<"$out" | sed 's/ *dmesg(1) may have more information after failed mount system call\. *//; s/ *$//')" \
        "${reason:+; the kernel says: $reason}" >"$OSR_WORK/mount-error"
      return 1
    fi
    sleep 0.3
  done
  FS_MOUNTED[i]=$mode
}

osr_fs_umount() {
  local i=$1
  [ -z "${FS_MOUNTED[i]}" ] && return 0
  umount "$OSR_WORK/fs/$i" || osr_die "cannot unmount ${FS_DEV[i]}"
  FS_MOUNTED[i]=''
}

osr_fs_umount_all() { local i; for i in "${!FS_DEV[@]}"; do osr_fs_umount "$i"; done; }

osr_is_fs_type() { case "${FS_TYPE[$1]}" in ext2|ext3|ext4|xfs|btrfs) return 0 ;; esac; return 1; }

osr_looks_like_root() {  # $1 = a mounted directory
  [ -e "$1/etc/fstab" ] && { [ -e "$1/etc/os-release" ] || [ -L "$1/etc/os-release" ] || [ -e "$1/usr/lib/os-release" ]; }
}

osr_ext_needs_recovery() { dumpe2fs -h "$1" 2>/dev/null | grep -q '^Filesystem features:.*needs_recovery'; }

osr_journal_replay() {   # a dirty ext journal is replayed before anything reads the filesystem
  # A disk whose hypervisor died has a dirty journal: its last writes (often the fstab edit that
  # broke the boot) are only in the journal, and a `noload` mount shows the state before them, so
  # every action would work on a view the guest's kernel never sees. Repair mode replays it (what
  # the kernel does at mount). Report mode replays it too, with an e2undo file, and undoes it at
  # cleanup (osr_journal_undo), so what it shows is what repair would do and the disk ends
  # byte-identical. `-p`: without it e2fsck asks for a terminal and exits 8 having done nothing.
  local i=$1 out rc=0 undo=''
  osr_ext_needs_recovery "${FS_DEV[i]}" || return 0
  if [ "$OSR_MODE" = report ]; then
    command -v e2undo >/dev/null || osr_die "${FS_DEV[i]}: the ext journal needs recovery, and report mode cannot read it without changing the disk: the helper has no e2undo (e2fsprogs); install it, or use repair mode"
    undo=$OSR_WORK/journal-$i.e2undo
  fi
  osr_log "${FS_DEV[i]}: the ext journal needs recovery: replaying it before anything reads the filesystem${undo:+ (undone at the end: report mode)}"
  out=$(e2fsck -p -E journal_only ${undo:+-z "$undo"} "${FS_DEV[i]}" 2>&1) || rc=$?
  [ -n "$undo" ] && [ -s "$undo" ] && JOURNAL_UNDO[i]=$undo
  # 0 and 1: replayed (1: and something corrected); 4 and up: it could not be done
  if [ "$rc" -ge 4 ] || osr_ext_needs_recovery "${FS_DEV[i]}"; then
    osr_die "${FS_DEV[i]}: the ext journal needs recovery and e2fsck could not replay it (exit $rc: $(grep -v '^$' <<<"$out" | tail -n2 | tr '\n' ' ')); nothing was read or changed. Run the fsck action, or e2fsck -fy ${FS_DEV[i]} on the helper"
  fi
  osr_warn "${FS_DEV[i]}: the ext journal needed recovery (a crash or a dead hypervisor): replayed before reading the filesystem${undo:+, and undone at the end (report mode)}"
}

osr_journal_undo() {     # report mode, at cleanup: give back the bytes the journal replay changed
  local i
  for i in "${!JOURNAL_UNDO[@]}"; do
    if e2undo "${JOURNAL_UNDO[i]}" "${FS_DEV[i]}" >&2 2>&1; then
      osr_log "${FS_DEV[i]}: journal replay undone (e2undo): the disk is as it was"
    else
      osr_warn "cleanup: could not undo the journal replay of ${FS_DEV[i]} (e2undo failed): the disk holds its journal replayed, as the kernel would at the next mount"
    fi
    unset 'JOURNAL_UNDO[i]'
  done
}

osr_find_root() {        # sets OSR_ROOT_INDEX; fails with the reason in OSR_ROOT_PROBLEM
  osr_phase "looking for the root filesystem"
  local i sv found unmountable=''
  local -a cands=() svs=()
  OSR_ROOT_PROBLEM=''
  for i in "${!FS_DEV[@]}"; do FS_TARGET[i]=''; done
  for i in "${!FS_DEV[@]}"; do
    osr_is_fs_type "$i" || continue
    case "${FS_TYPE[i]}" in ext*) osr_journal_replay "$i" ;; esac
    svs=('')
    [ "${FS_TYPE[i]}" = btrfs ] && svs=('' @ root @rootfs)   # Ubuntu/SUSE "@", Fedora "root"
    found=0
    for sv in "${svs[@]}"; do
      FS_SUBVOL[i]=$sv
      if ! osr_fs_mount "$i" ro; then
        if [ -z "$sv" ]; then
          osr_warn "cannot mount ${FS_DEV[i]} read-only: $(cat "$OSR_WORK/mount-error")"
          unmountable+="; $(osr_fs_name "$i") cannot be mounted: $(cat "$OSR_WORK/mount-error")"
        fi
        continue
      fi
      osr_looks_like_root "$OSR_WORK/fs/$i" && found=1
      osr_fs_umount "$i"
      [ "$found" = 1 ] && { cands+=("$i"); break; }
    done
    [ "$found" = 1 ] || FS_SUBVOL[i]=''
  done
  if [ "${#cands[@]}" = 0 ]; then
    local lvm_note=''
    [ "${#LVM_NOTE[@]}" -gt 0 ] && lvm_note=" (LVM: ${LVM_NOTE[*]})"
    OSR_ROOT_PROBLEM="no root filesystem found on $OSR_DEVICE: none of the filesystems that could be mounted holds /etc/fstab and /etc/os-release$lvm_note$unmountable"
    return 1
  fi
  OSR_ROOT_INDEX=${cands[0]}
  [ "${#cands[@]}" -gt 1 ] && osr_choose_root "${cands[@]}"
  FS_TARGET[OSR_ROOT_INDEX]=/
  osr_log "root: ${FS_DEV[OSR_ROOT_INDEX]} (${FS_TYPE[OSR_ROOT_INDEX]} uuid=${FS_UUID[OSR_ROOT_INDEX]})"
}

osr_fs_name() {          # how an operator recognises fs $1: device, partition, type, label, UUID
  local i=$1
  printf '%s (%s%s%s uuid=%s)' "${FS_DEV[i]}" "${FS_PARTNUM[i]:+partition ${FS_PARTNUM[i]}, }${FS_LV[i]:+LV ${FS_LV[i]}, }" \
    "${FS_TYPE[i]}" "${FS_LABEL[i]:+ label=${FS_LABEL[i]}}" "${FS_UUID[i]:-none}"
}

osr_boot_root_specs() {  # "FILE<TAB>SPEC" for each root= the disk's bootloader configs pass the kernel
  # GRUB's grub.cfg (its first linux line is the default entry), the BLS entries of RHEL 8+ (and
  # their $kernelopts in grubenv), on every filesystem of the disk: a separate /boot included
  local i d f
  for i in "${!FS_DEV[@]}"; do
    osr_is_fs_type "$i" || continue
    osr_fs_mount "$i" ro 2>/dev/null || continue
    d=$OSR_WORK/fs/$i
    for f in "$d"/boot/grub/grub.cfg "$d"/boot/grub2/grub.cfg "$d"/grub/grub.cfg "$d"/grub2/grub.cfg; do
      [ -f "$f" ] || continue
      grep -m1 -E '^[[:space:]]*linux(16|efi)?[[:space:]].*[[:space:]]root=' "$f" | grep -o 'root=[^[:space:]]*' | head -n1 |
        sed "s#^root=#${FS_DEV[i]}:${f#"$d"}\t#"
    done
    for f in "$d"/boot/loader/entries/*.conf "$d"/loader/entries/*.conf "$d"/boot/grub2/grubenv "$d"/grub2/grubenv; do
      [ -f "$f" ] || continue
      grep -E '^(options|kernelopts=)' "$f" | grep -o 'root=[^[:space:]]*' | head -n1 | sed "s#^root=#${FS_DEV[i]}:${f#"$d"}\t#"
    done
    osr_fs_umount "$i"
  done
}

osr_choose_root() {      # several filesystems look like a root: take the one that boots, or refuse
  # The rule: the root the bootloader passes the kernel (root= in grub.cfg, BLS entries, grubenv),
  # when every config on the disk names the same candidate; otherwise the candidate whose partition
  # has the MBR bootable flag, when exactly one has it. The first partition is never a reason: a
  # rescue copy or an old root often comes first, and fixing the wrong one "succeeds" and boots
  # nothing. Anything else is refused, with the candidates listed.
  local -a cands=("$@") voted=() flagged=()
  local c file spec j why='' list=''
  while IFS=$'\t' read -r file spec; do
    [ -n "$spec" ] || continue
    j=$(osr_spec_fs "${spec//\"/}") || { osr_log "  $file: root=$spec is not on this disk"; continue; }
    for c in "${cands[@]}"; do
      [ "$c" = "$j" ] && { voted+=("$j"); osr_log "  $file: root=$spec is ${FS_DEV[j]}"; }
    done
  done < <(osr_boot_root_specs)
  if [ "${#voted[@]}" -gt 0 ]; then
    if [ "$(printf '%s\n' "${voted[@]}" | sort -u | wc -l)" = 1 ]; then
      OSR_ROOT_INDEX=${voted[0]}
      osr_warn "several filesystems look like a root; using $(osr_fs_name "$OSR_ROOT_INDEX"): the one the bootloader boots (root=)"
      return 0
    fi
    why="the bootloader configs name different ones"
  fi
  for c in "${cands[@]}"; do
    [ "$(osr_blkid "${FS_DEV[c]}" PART_ENTRY_FLAGS)" = 0x80 ] && flagged+=("$c")
  done
  if [ "${#flagged[@]}" = 1 ]; then
    OSR_ROOT_INDEX=${flagged[0]}
    osr_warn "several filesystems look like a root; using $(osr_fs_name "$OSR_ROOT_INDEX"): ${why:+$why, and }its partition has the bootable flag"
    return 0
  fi
  [ -n "$why" ] || why="no bootloader config on the disk names one"
  [ "${#flagged[@]}" -gt 1 ] && why+=", and several have the bootable flag" || why+=", and none has the bootable flag"
  for c in "${cands[@]}"; do list+="${list:+; }$(osr_fs_name "$c")"; done
  osr_die "several filesystems look like a root and none is the one that boots ($why): $list. Nothing was changed. Mark the one that boots: on the helper, sfdisk --activate ${OSR_DEVICE} <its partition number> (this disk is the clone, not the original), then run again"
}

# fstab device specs -> filesystems of this disk
osr_spec_fs() {          # print the index of the filesystem SPEC names, or fail
  local spec=$1 i k v n vg lv
  spec=${spec//\"/}
  case $spec in
    /dev/disk/by-uuid/*) spec=UUID=${spec#/dev/disk/by-uuid/} ;;
    /dev/disk/by-label/*) spec=LABEL=${spec#/dev/disk/by-label/} ;;
    /dev/disk/by-partuuid/*) spec=PARTUUID=${spec#/dev/disk/by-partuuid/} ;;
    /dev/disk/by-partlabel/*) spec=PARTLABEL=${spec#/dev/disk/by-partlabel/} ;;
  esac
  k=${spec%%=*}; v=${spec#*=}
  for i in "${!FS_DEV[@]}"; do
    case $k in
      UUID) [ -n "${FS_UUID[i]}" ] && [ "${v,,}" = "${FS_UUID[i],,}" ] && { echo "$i"; return 0; } ;;
      LABEL) [ -n "${FS_LABEL[i]}" ] && [ "$v" = "${FS_LABEL[i]}" ] && { echo "$i"; return 0; } ;;
      PARTUUID) [ -n "${FS_PARTUUID[i]}" ] && [ "${v,,}" = "${FS_PARTUUID[i],,}" ] && { echo "$i"; return 0; } ;;
      PARTLABEL) [ -n "${FS_PARTLABEL[i]}" ] && [ "$v" = "${FS_PARTLABEL[i]}" ] && { echo "$i"; return 0; } ;;
    esac
  done
  # device names as the replacement server will see this disk: its first disk
  if [[ $spec =~ ^/dev/(sd|vd|xvd|hd)a([0-9]+)$ ]] || [[ $spec =~ ^/dev/(nvme0n1p|mmcblk0p)([0-9]+)$ ]]; then
    n=${BASH_REMATCH[2]}
    for i in "${!FS_DEV[@]}"; do [ "${FS_PARTNUM[i]}" = "$n" ] && { echo "$i"; return 0; }; done
  fi
  if [[ $spec =~ ^/dev/(sd|vd|xvd|hd)a$ ]]; then
    for i in "${!FS_DEV[@]}"; do [ -z "${FS_PARTNUM[i]}" ] && [ -z "${FS_LV[i]}" ] && { echo "$i"; return 0; }; done
  fi
  # logical volumes by the guest's own VG name: /dev/VG/LV and /dev/mapper/VG-LV (dashes doubled)
  for i in "${!FS_DEV[@]}"; do
    [ -n "${FS_LV[i]}" ] || continue
    vg=${FS_LV[i]%%/*}; lv=${FS_LV[i]#*/}
    [ "$spec" = "/dev/$vg/$lv" ] || [ "$spec" = "/dev/mapper/${vg//-/--}-${lv//-/--}" ] && { echo "$i"; return 0; }
  done
  return 1
}

osr_spec_on_disk() { osr_spec_fs "$1" >/dev/null; }

osr_plan_mounts() {      # the image's other filesystems on this disk, at their fstab mount points
  local fstab=$OSR_WORK/fs/$OSR_ROOT_INDEX/etc/fstab spec mnt type opts _ i
  osr_fs_mount "$OSR_ROOT_INDEX" ro || osr_die "cannot mount the root read-only: $(cat "$OSR_WORK/mount-error")"
  while read -r spec mnt type opts _; do
    [[ -z $spec || $spec == \#* || $mnt != /?* || $type == swap ]] && continue
    i=$(osr_spec_fs "$spec") || continue
    [ "$i" = "$OSR_ROOT_INDEX" ] && continue
    [ -n "${FS_TARGET[i]}" ] && continue
    [[ ,$opts, == *,subvol=* ]] && continue                 # btrfs subvolumes of the root: not separate
    if [ ! -d "$OSR_WORK/fs/$OSR_ROOT_INDEX$mnt" ]; then
      osr_warn "fstab mounts ${FS_DEV[i]} at $mnt, which does not exist in the root; not mounted"
      continue
    fi
    if ! osr_fs_mount "$i" ro; then
      osr_warn "cannot mount ${FS_DEV[i]} (${FS_TYPE[i]}) for $mnt on this helper: $(cat "$OSR_WORK/mount-error"); actions will not see it"
      continue
    fi
    FS_TARGET[i]=$mnt
    osr_log "  ${FS_DEV[i]} -> $mnt"
  done <"$fstab"
}

osr_targets_in_order() { # fs indexes with a mount point, parents before children
  local i
  for i in "${!FS_DEV[@]}"; do
    [ -n "${FS_TARGET[i]}" ] && printf '%s\t%s\n' "${#FS_TARGET[i]}" "$i"
  done | sort -n | cut -f2
}
