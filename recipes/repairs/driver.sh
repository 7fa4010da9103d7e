# shellcheck shell=bash
# openstack-recovery repair driver: runs as root on the helper ("snap-mounter").
#
# Not run on its own: recipes/repairs/index.ts inlines this file, the chosen actions
# (recipes/repairs/actions/*.sh) and the options (OSR_* variables) into one script that
# DiskRepair streams to `sudo -n bash -s` over SSH.
#
# What it does, in order:
#   1. find the attached volume by its serial (never by the name Nova returns);
#   2. list its partitions and logical volumes, find the root (the filesystem holding
#      /etc/fstab and /etc/os-release) and the image's other filesystems on this disk;
#   3. run each action in order against a copy-on-write view of the image (an overlay whose
#      lower layers are read-only mounts), then turn what the action wrote into backups,
#      unified diffs and, in repair mode only, real writes;
#   4. whatever happens (error, SIGTERM, the SSH session dying): kill what it started,
#      unmount everything, deactivate and rename back LVM, then print the JSON report.
#
# Why the overlay: a read-write mount alone changes an ext4 superblock (mount count, times)
# and an XFS log, so "mount rw, run the action, see if it changed anything" is never
# idempotent at the byte level. Mounting read-only, letting the action write into a tmpfs
# upper layer and comparing, lets the driver mount read-write only the filesystems that
# really change. Report mode throws the upper layer away: the disk is never opened for write.
#
# Contract for an action (actions/<name>.sh defines osr_action_<name>, run in a subshell):
#   $ROOT            the image's root as the action should see it (write freely);
#   $OSR_MODE        repair | report;
#   osr_log MSG      progress line on stderr;
#   osr_detail MSG   one line of "what and why" for the report;
#   osr_skip MSG     not applicable here: the action stops, status "skipped";
#   osr_fail MSG     cannot do it: the action stops, status "failed";
#   osr_chroot CMD   run CMD chrooted in $ROOT (/dev /proc /sys bound, tmpfs /run /tmp);
#   osr_spec_on_disk SPEC   0 when an fstab device spec names a filesystem of this disk.
# Block-level actions (fsck) are registered with "block": they get the filesystems
# unmounted and report their own changes with osr_changed.

OSR_MARK_BEGIN='-----BEGIN OPENSTACK-RECOVERY REPORT-----'
OSR_MARK_END='-----END OPENSTACK-RECOVERY REPORT-----'
OSR_BACKUP_DIR=/var/lib/openstack-recovery/backup   # inside the image's root filesystem
OSR_HELPER_STATE=/var/lib/openstack-recovery        # on the helper (e2fsck undo files, logs)
OSR_HEARTBEAT=${OSR_HEARTBEAT:-3}                   # seconds between "still working" lines
OSR_DIFF_LIMIT=65536                                 # bytes of unified diff kept per file

# ---------------------------------------------------------------- output and JSON
exec 3>&1 1>&2            # stdout (fd 3) carries only the report; all other output -> stderr
set -o errtrace           # the ERR trap (which records the failing command) also fires in functions
export LC_ALL=C           # stable sorting and tool output
OSR_DETACHED=0            # 1 once the SSH session is gone: stop writing to it

osr_log() {
  [ "$OSR_DETACHED" = 1 ] && return 0
  printf 'osr: %s\n' "$*" >&2 2>/dev/null || true
}

osr_json_str() {         # JSON string literal of $1 (escapes \ " and control characters)
  local s=$1 out='' c i
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\t'/\\t}; s=${s//$'\r'/\\r}
  if [[ $s == *[$'\001'-$'\037']* ]]; then
    for ((i = 0; i < ${#s}; i++)); do
      c=${s:i:1}
      if [[ $c == [$'\001'-$'\037'] ]]; then printf -v c '\\u%04x' "'$c"; fi
      out+=$c
    done
    s=$out
  fi
  printf '"%s"' "$s"
}

osr_json_lines() {       # JSON array of the lines of file $1 (empty array when missing)
  local first=1 line
  printf '['
  if [ -f "$1" ]; then
    while IFS= read -r line || [ -n "$line" ]; do
      [ "$first" = 1 ] || printf ','
      first=0
      osr_json_str "$line"
    done <"$1"
  fi
  printf ']'
}

osr_json_opt() {         # "key":"value" or "key":null
  printf '"%s":' "$1"
  if [ -n "$2" ]; then osr_json_str "$2"; else printf 'null'; fi
}

# ---------------------------------------------------------------- state
OSR_WORK=''
OSR_MAIN_PID=$$
OSR_FATAL=''              # the error that stopped the run, if any
OSR_PHASE=start
OSR_DEVICE=''; OSR_DEVICE_LINK=''
OSR_ROOT_INDEX=''
OSR_CLEANUP_DONE=0
declare -a FS_DEV=() FS_TYPE=() FS_UUID=() FS_LABEL=() FS_PARTNUM=() FS_PARTUUID=() FS_PARTLABEL=()
declare -a FS_SIZE=() FS_LV=() FS_SUBVOL=() FS_MOUNTED=() FS_TARGET=()
declare -a LVM_ORIG=() LVM_NOW=() LVM_PVS=() LVM_ACTIVE=() LVM_NOTE=() LVM_IMPORTED=()

osr_warn() { osr_log "warning: $*"; printf '%s\n' "$*" >>"$OSR_WORK/warnings"; }

osr_die() {              # fatal: stop the run; the EXIT trap cleans up and reports
  OSR_FATAL=$*
  osr_log "error: $*"
  exit 1
}

# ---------------------------------------------------------------- cleanup, traps, watchdog
osr_children() {         # child pids of $1 (from /proc: no procps needed)
  grep -ls "^PPid:[[:space:]]*$1\$" /proc/[0-9]*/status 2>/dev/null | sed 's#^/proc/\([0-9]*\)/status$#\1#'
}

osr_kill_tree() {        # signal $2 (default TERM) to a process and all its descendants
  local pid=$1 sig=${2:-TERM} child
  kill -STOP "$pid" 2>/dev/null || true          # no new children while we walk the tree
  for child in $(osr_children "$pid"); do osr_kill_tree "$child" "$sig"; done
  kill "-$sig" "$pid" 2>/dev/null || true
  kill -CONT "$pid" 2>/dev/null || true
}

osr_stop_child() {       # stop the running action, politely then firmly
  local pid=$1 n
  osr_kill_tree "$pid" TERM
  for n in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && osr_kill_tree "$pid" KILL
  wait "$pid" 2>/dev/null || true
}

osr_kill_chrooted() {    # processes left running inside our view (daemons started by postinst)
  local p r
  for p in /proc/[0-9]*; do
    r=$(readlink "$p/root" 2>/dev/null) || continue
    case $r in "$OSR_WORK"/*) kill -KILL "${p#/proc/}" 2>/dev/null || true ;; esac
  done
}

osr_umount_under() {     # unmount every mount point below $1, deepest first
  local base=$1 t tries
  for tries in 1 2 3; do
    local -a targets=()
    while read -r t; do targets+=("$t"); done < <(
      awk -v b="$base" '{ t=$5; gsub(/\\040/, " ", t); if (t == b || index(t, b "/") == 1) print length(t) "\t" t }' \
        /proc/self/mountinfo | sort -rn | cut -f2-)
    [ "${#targets[@]}" = 0 ] && return 0
    for t in "${targets[@]}"; do umount "$t" 2>/dev/null || [ "$tries" != 3 ] || umount -l "$t" 2>/dev/null || true; done
    sleep 0.2
  done
  awk -v b="$base" '{ if ($5 == b || index($5, b "/") == 1) f=1 } END { exit !f }' /proc/self/mountinfo && return 1
  return 0
}

osr_cleanup() {          # runs exactly once, on every exit path
  [ "$OSR_CLEANUP_DONE" = 1 ] && return 0
  OSR_CLEANUP_DONE=1
  local i pvs
  [ -n "${OSR_WATCHDOG:-}" ] && osr_kill_tree "$OSR_WATCHDOG" TERM   # with its sleep: it holds our stdout
  [ -n "${OSR_CHILD:-}" ] && osr_stop_child "$OSR_CHILD"
  [ -n "$OSR_WORK" ] || return 0
  osr_kill_chrooted
  sleep 0.1
  osr_kill_chrooted
  if ! osr_umount_under "$OSR_WORK"; then
    osr_warn "cleanup: some mounts under $OSR_WORK could not be unmounted"
  fi
  sync
  for i in "${!LVM_NOW[@]}"; do
    pvs=${LVM_PVS[$i]}
    if [ "${LVM_ACTIVE[$i]}" = 1 ]; then
      vgchange -an --devices "$pvs" "${LVM_NOW[$i]}" >&2 2>&1 || osr_warn "cleanup: vgchange -an ${LVM_NOW[$i]} failed"
    fi
    if [ "${LVM_NOW[$i]}" != "${LVM_ORIG[$i]}" ]; then
      # give the guest its own VG name back: its fstab, grub and initrd know only that one
      if vgrename --devices "$pvs" "${LVM_NOW[$i]}" "${LVM_ORIG[$i]}" >&2 2>&1; then
        osr_log "lvm: renamed ${LVM_NOW[$i]} back to ${LVM_ORIG[$i]}"
        LVM_NOW[i]=${LVM_ORIG[i]}
      else
        osr_warn "cleanup: could not rename VG ${LVM_NOW[$i]} back to ${LVM_ORIG[$i]}"
      fi
    fi
  done
}

osr_on_signal() {        # SIGHUP/SIGTERM/SIGINT/SIGPIPE: the session is gone or we were told to stop
  trap '' HUP PIPE INT
  OSR_DETACHED=1
  OSR_FATAL="interrupted by SIG$1 during $OSR_PHASE"
  exit 3
}

osr_on_exit() {
  local rc=$?
  trap '' HUP PIPE INT TERM
  [ "$rc" != 0 ] && [ -z "$OSR_FATAL" ] && OSR_FATAL="unexpected failure (exit $rc) during $OSR_PHASE${OSR_LAST_ERR:+: $OSR_LAST_ERR}"
  osr_cleanup
  osr_emit_report
  [ -n "$OSR_WORK" ] && rm -rf "$OSR_WORK" 2>/dev/null
  if [ -n "$OSR_FATAL" ]; then exit "$(( rc == 0 ? 1 : rc ))"; fi
  osr_report_ok || exit 2
  exit 0
}

osr_watchdog() {         # background: a dead SSH session shows as a failed write to stderr
  trap '' PIPE HUP
  local n=0
  while sleep "$OSR_HEARTBEAT"; do
    kill -0 "$OSR_MAIN_PID" 2>/dev/null || exit 0
    n=$((n + OSR_HEARTBEAT))
    if ! printf 'osr: ... %s (%ss)\n' "$(cat "$OSR_WORK/phase" 2>/dev/null)" "$n" >&2 2>/dev/null; then
      kill -TERM "$OSR_MAIN_PID" 2>/dev/null
      exit 0
    fi
  done
}

osr_phase() { OSR_PHASE=$1; printf '%s\n' "$1" >"$OSR_WORK/phase"; osr_log "$1"; }

osr_run_waiting() {      # run a function in a child and wait: signals interrupt `wait`, not a child
  "$@" &
  OSR_CHILD=$!
  local rc=0
  wait "$OSR_CHILD" || rc=$?
  OSR_CHILD=''
  return "$rc"
}

# ---------------------------------------------------------------- 1. the device, by serial
osr_find_device() {
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

osr_check_not_in_use() { # never touch a disk something else has mounted (e.g. the helper's own root)
  local base=${OSR_DEVICE##*/} p dev
  for p in "/sys/class/block/$base" "/sys/class/block/$base"/"$base"*; do
    [ -e "$p/dev" ] || continue
    dev=$(cat "$p/dev")
    if awk -v d="$dev" '$3 == d { f=1 } END { exit !f }' /proc/self/mountinfo; then
      osr_die "refusing: /dev/${p##*/} is mounted on this helper (is this the helper's own disk?)"
    fi
    local -a holders=("$p"/holders/*)
    if [ -e "${holders[0]}" ]; then
      osr_die "refusing: /dev/${p##*/} is held by ${holders[*]##*/} (active LVM/dm on the helper?)"
    fi
  done
}

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
  FS_SUBVOL[i]=''; FS_MOUNTED[i]=''; FS_TARGET[i]=''
  osr_log "  $dev: ${FS_TYPE[i]:-no filesystem}${FS_UUID[i]:+ uuid=${FS_UUID[i]}}${FS_LABEL[i]:+ label=${FS_LABEL[i]}}"
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

osr_lvm_setup() {        # volume groups on this disk: rename on a clash, activate, add their LVs
  local i pvs='' vg out lv path
  for i in "${!FS_DEV[@]}"; do
    [ "${FS_TYPE[i]}" = LVM2_member ] && pvs+="${pvs:+,}${FS_DEV[i]}"
  done
  [ -z "$pvs" ] && return 0
  command -v lvm >/dev/null || { osr_warn "lvm: physical volumes found ($pvs) but the helper has no lvm2"; return 0; }
  osr_phase "lvm: physical volumes $pvs"
  local -a vgs=()
  mapfile -t vgs < <(pvs --devices "$pvs" --noheadings -o vg_name 2>/dev/null | awk 'NF { print $1 }' | sort -u)
  for vg in "${vgs[@]}"; do
    local n=${#LVM_ORIG[@]} now=$vg
    # the helper's own VGs: every PV that is not on this disk
    if pvs --noheadings -o pv_name,vg_name 2>/dev/null | awk -v vg="$vg" -v mine=",$pvs," \
        '$2 == vg && index(mine, "," $1 ",") == 0 { f=1 } END { exit !f }'; then
      now="osr_${vg}"
      osr_log "lvm: VG $vg clashes with the helper's; importing it as $now (vgimportclone)"
      # vgimportclone also gives the PVs and the VG new UUIDs (reported); the name goes back at cleanup
      local -a pvlist=()
      IFS=, read -r -a pvlist <<<"$pvs"
      if ! out=$(vgimportclone --basevgname "$now" "${pvlist[@]}" 2>&1); then
        osr_warn "lvm: vgimportclone of $vg failed: $(tail -n1 <<<"$out")"
        continue
      fi
      osr_warn "lvm: VG $vg had to be renamed to $now to be used next to the helper's; renamed back at the end, but its VG and PV UUIDs are new (update /etc/lvm/devices/system.devices in the image if it lists them)"
    fi
    LVM_ORIG[n]=$vg; LVM_NOW[n]=$now; LVM_PVS[n]=$pvs; LVM_ACTIVE[n]=0; LVM_NOTE[n]=''
    [ "$now" != "$vg" ] && LVM_IMPORTED[n]=$now || LVM_IMPORTED[n]=''
    if out=$(vgchange -ay --devices "$pvs" "$now" 2>&1); then
      LVM_ACTIVE[n]=1
    else
      LVM_NOTE[n]="activation failed: $(grep -v 'leaked on' <<<"$out" | head -n2 | tr '\n' ' ')"
      osr_warn "lvm: cannot activate $now (${LVM_NOTE[n]}); its logical volumes are not searched"
      continue
    fi
    while read -r lv path; do
      [ -b "$path" ] && osr_add_fs "$path" '' "$vg/$lv"
    done < <(lvs --devices "$pvs" --noheadings -o lv_name,lv_path "$now" 2>/dev/null)
  done
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
  mkdir -p "$dir"
  local try
  for try in 1 2 3 4 5 6 7 8 9 10; do
    out=$(mount -t "${FS_TYPE[i]}" -o "$(osr_mount_opts "$i" "$mode")" "${FS_DEV[i]}" "$dir" 2>&1) && break
    # right after an overlay on it went away, the kernel may still hold the old superblock
    # for a moment ("already mounted or mount point busy"): wait for it, do not fail
    if [[ $out != *busy* && $out != *"already mounted"* ]] || [ "$try" = 10 ]; then
      printf '%s' "$out" >"$OSR_WORK/mount-error"
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

osr_journal_replay() {   # repair mode: a dirty ext journal is replayed before anything is read
  local i=$1 out
  dumpe2fs -h "${FS_DEV[i]}" 2>/dev/null | grep -q '^Filesystem features:.*needs_recovery' || return 0
  if [ "$OSR_MODE" = report ]; then
    osr_warn "${FS_DEV[i]}: the ext journal needs recovery; report mode shows the state before replay (run fsck in repair mode)"
    return 0
  fi
  osr_log "${FS_DEV[i]}: replaying the ext journal before reading the filesystem"
  out=$(e2fsck -E journal_only "${FS_DEV[i]}" 2>&1) || true
  osr_warn "${FS_DEV[i]}: ext journal had to be replayed before reading the filesystem ($(tail -n1 <<<"$out"))"
}

osr_find_root() {
  osr_phase "looking for the root filesystem"
  local i sv found
  local -a cands=() svs=()
  for i in "${!FS_DEV[@]}"; do
    osr_is_fs_type "$i" || continue
    # a dirty ext journal is replayed first, unless fsck is the first action (it will, and report it)
    case "${FS_TYPE[i]}" in ext*) [ "${OSR_ACTIONS[0]}" = fsck ] || osr_journal_replay "$i" ;; esac
    svs=('')
    [ "${FS_TYPE[i]}" = btrfs ] && svs=('' @ root @rootfs)   # Ubuntu/SUSE "@", Fedora "root"
    found=0
    for sv in "${svs[@]}"; do
      FS_SUBVOL[i]=$sv
      if ! osr_fs_mount "$i" ro; then
        [ -z "$sv" ] && osr_warn "cannot mount ${FS_DEV[i]} read-only: $(cat "$OSR_WORK/mount-error")"
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
    osr_die "no filesystem on $OSR_DEVICE holds /etc/fstab and /etc/os-release$lvm_note"
  fi
  OSR_ROOT_INDEX=${cands[0]}
  if [ "${#cands[@]}" -gt 1 ]; then
    # several roots (e.g. a rescue copy): prefer the one whose own fstab names it as /
    for i in "${cands[@]}"; do
      osr_fs_mount "$i" ro || continue
      if osr_fstab_root_is "$OSR_WORK/fs/$i/etc/fstab" "$i"; then OSR_ROOT_INDEX=$i; osr_fs_umount "$i"; break; fi
      osr_fs_umount "$i"
    done
    osr_warn "several filesystems look like a root (${cands[*]/#/fs}); using ${FS_DEV[OSR_ROOT_INDEX]}"
  fi
  FS_TARGET[OSR_ROOT_INDEX]=/
  osr_log "root: ${FS_DEV[OSR_ROOT_INDEX]} (${FS_TYPE[OSR_ROOT_INDEX]} uuid=${FS_UUID[OSR_ROOT_INDEX]})"
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

osr_fstab_root_is() {    # does fstab $1 name fs $2 as / ?
  local spec mnt _
  while read -r spec mnt _; do
    [[ $spec == \#* ]] && continue
    [ "$mnt" = / ] && [ "$(osr_spec_fs "$spec")" = "$2" ] && return 0
  done <"$1"
  return 1
}

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

# ---------------------------------------------------------------- 3. the copy-on-write view
osr_view_up() {          # overlay per filesystem: lower = its (ro or rw) mount, upper = tmpfs
  local i t
  ROOT=$OSR_WORK/view
  mkdir -p "$ROOT" "$OSR_WORK/cow"
  mount -t tmpfs -o mode=0700 osr-cow "$OSR_WORK/cow"
  for i in $(osr_targets_in_order); do
    osr_fs_mount "$i" "${FS_MOUNTED[i]:-ro}" || osr_die "cannot mount ${FS_DEV[i]}: $(cat "$OSR_WORK/mount-error")"
    t=$ROOT${FS_TARGET[i]%/}
    [ "$i" = "$OSR_ROOT_INDEX" ] || [ -d "$t" ] || { osr_warn "mount point ${FS_TARGET[i]} missing"; continue; }
    mkdir -p "$OSR_WORK/cow/$i/upper" "$OSR_WORK/cow/$i/work"
    # no redirect_dir/metacopy/index: every change shows as a plain file in the upper layer
    mount -t overlay "osr-view-$i" \
      -o "lowerdir=$OSR_WORK/fs/$i,upperdir=$OSR_WORK/cow/$i/upper,workdir=$OSR_WORK/cow/$i/work,redirect_dir=off,metacopy=off,index=off,xino=off" \
      "${t:-$ROOT}"
  done
  export ROOT
}

osr_chroot() {           # for actions: run "$@" chrooted in the view, with /dev /proc /sys
  local d
  if [ ! -e "$OSR_WORK/chroot-ready" ]; then
    for d in dev proc sys run tmp; do [ -d "$ROOT/$d" ] || osr_fail "the image has no /$d: cannot chroot"; done
    mount --bind /dev "$ROOT/dev"
    [ -d "$ROOT/dev/pts" ] && mount --bind /dev/pts "$ROOT/dev/pts"
    mount -t proc osr-proc "$ROOT/proc"
    mount -t sysfs osr-sys "$ROOT/sys"
    # scratch space that must not end up in the image
    mount -t tmpfs osr-run "$ROOT/run"
    mount -t tmpfs osr-tmp "$ROOT/tmp"
    : >"$OSR_WORK/chroot-ready"
  fi
  chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive "$@"
}

osr_chroot_has() {       # is command $1 available inside the image?
  local d
  for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
    [ -x "$ROOT$d/$1" ] && return 0
  done
  return 1
}

osr_same_entry() {       # are $1 (lower) and $2 (upper) the same, ignoring timestamps?
  local a=$1 b=$2
  [ -e "$a" ] || [ -L "$a" ] || return 1
  [ "$(stat -c '%F %a %u %g %t:%T' "$a")" = "$(stat -c '%F %a %u %g %t:%T' "$b")" ] || return 1
  if [ -L "$b" ]; then [ "$(readlink "$a")" = "$(readlink "$b")" ]; return; fi
  if [ -f "$b" ]; then cmp -s "$a" "$b"; return; fi
  return 0
}

osr_is_whiteout() { [ -c "$1" ] && [ "$(stat -c '%t:%T' "$1")" = 0:0 ]; }

osr_collect_changes() {  # while the view is mounted: what the action changed, per filesystem
  local i up low merged rel p e plan=$OSR_WORK/plan
  : >"$plan"
  for i in $(osr_targets_in_order); do
    up=$OSR_WORK/cow/$i/upper; low=$OSR_WORK/fs/$i; merged=$ROOT${FS_TARGET[i]%/}
    [ -d "$up" ] || continue
    while IFS= read -r -d '' p; do
      rel=${p#"$up"/}
      if [[ $rel == *$'\n'* ]]; then osr_warn "ignoring a changed path with a newline in its name"; continue; fi
      if osr_is_whiteout "$p"; then
        { [ -e "$low/$rel" ] || [ -L "$low/$rel" ]; } && printf 'D\t%s\t%s\n' "$i" "$rel" >>"$plan"
      elif [ -d "$p" ] && [ ! -L "$p" ]; then
        if [ ! -d "$low/$rel" ]; then
          printf 'M\t%s\t%s\n' "$i" "$rel" >>"$plan"
        else
          osr_same_entry "$low/$rel" "$p" || printf 'A\t%s\t%s\n' "$i" "$rel" >>"$plan"
          # an opaque directory hides what was below it: anything the view no longer shows is deleted
          for e in "$low/$rel"/* "$low/$rel"/.[!.]* "$low/$rel"/..?*; do
            { [ -e "$e" ] || [ -L "$e" ]; } || continue
            [ -e "$merged/$rel/${e##*/}" ] || [ -L "$merged/$rel/${e##*/}" ] || [ -e "$up/$rel/${e##*/}" ] ||
              printf 'D\t%s\t%s\n' "$i" "$rel/${e##*/}" >>"$plan"
          done
        fi
      elif ! osr_same_entry "$low/$rel" "$p"; then
        printf 'F\t%s\t%s\n' "$i" "$rel" >>"$plan"
      fi
    done < <(find "$up" -mindepth 1 -print0 | sort -z)
  done
}

osr_view_down() {        # kill leftovers and unmount the view; the upper layers stay in the tmpfs
  osr_kill_chrooted
  local t
  for t in tmp run sys proc dev/pts dev; do
    mountpoint -q "$ROOT/$t" 2>/dev/null && { umount "$ROOT/$t" 2>/dev/null || umount -l "$ROOT/$t"; }
  done
  rm -f "$OSR_WORK/chroot-ready"
  [ -d "$ROOT" ] && osr_collect_changes
  osr_umount_under "$ROOT" || osr_die "cannot unmount the view $ROOT"
}

osr_backup_name() {      # first free backup name for absolute path $1 (the first backup is never overwritten)
  local b=$OSR_BACKUP_DIR$1 n=1
  local rootfs=$OSR_WORK/fs/$OSR_ROOT_INDEX
  while [ -e "$rootfs$b" ] || [ -L "$rootfs$b" ]; do b=$OSR_BACKUP_DIR$1.$n; n=$((n + 1)); done
  printf '%s' "$b"
}

osr_diff() {             # unified diff of lower $1 -> upper $2 for absolute path $3, size-capped
  local a=$1 b=$2 path=$3 out
  [ -f "$a" ] || a=/dev/null
  [ -f "$b" ] || b=/dev/null
  out=$(diff -u --label "a$path" --label "b$path" "$a" "$b" 2>&1 | head -c "$OSR_DIFF_LIMIT") || true
  [ -n "$out" ] || out="(metadata only: $(stat -c '%A %U:%G' "$1" 2>/dev/null || echo new) -> $(stat -c '%A %U:%G' "$2" 2>/dev/null || echo deleted))"
  printf '%s' "$out"
}

osr_apply_changes() {    # $1 = action dir: record diffs; in repair mode back up and write for real
  local adir=$1 kind i rel abs low up real bk n=0 line
  local plan=$OSR_WORK/plan
  [ -s "$plan" ] || return 0
  if [ "$OSR_MODE" = repair ]; then
    # the root takes the backups, so it is made writable with any filesystem that changes
    osr_fs_mount "$OSR_ROOT_INDEX" rw || osr_die "cannot mount the root read-write: $(cat "$OSR_WORK/mount-error")"
    while IFS=$'\t' read -r kind i rel; do
      osr_fs_mount "$i" rw || osr_die "cannot mount ${FS_DEV[i]} read-write: $(cat "$OSR_WORK/mount-error")"
    done <"$plan"
  fi
  mkdir -p "$adir/diffs"
  while IFS=$'\t' read -r kind i rel; do
    abs=${FS_TARGET[i]%/}/$rel
    low=$OSR_WORK/fs/$i/$rel; up=$OSR_WORK/cow/$i/upper/$rel; real=$low
    n=$((n + 1))
    printf '%s' "$abs" >"$adir/diffs/$n.path"
    case $kind in
      F|A) osr_diff "$low" "$up" "$abs" >"$adir/diffs/$n.diff" ;;
      M) printf 'new directory %s' "$abs" >"$adir/diffs/$n.diff" ;;
      D) osr_diff "$low" /dev/null "$abs" >"$adir/diffs/$n.diff" ;;
    esac
    [ "$OSR_MODE" = repair ] || continue
    bk=''
    if [ "$kind" = F ] || [ "$kind" = D ] && { [ -e "$real" ] || [ -L "$real" ]; }; then
      bk=$(osr_backup_name "$abs")
      mkdir -p "$(dirname "$OSR_WORK/fs/$OSR_ROOT_INDEX$bk")"
      cp -a --no-target-directory "$real" "$OSR_WORK/fs/$OSR_ROOT_INDEX$bk" || osr_die "backup of $abs failed"
      printf '%s\t%s\n' "$abs" "$bk" >>"$adir/backups"
    fi
    case $kind in
      F) # write beside, then rename: the file is never half-written
         if ! { cp -a --no-target-directory "$up" "$real.osr-new" && mv -fT "$real.osr-new" "$real"; }; then
           osr_die "writing $abs failed"
         fi ;;
      A) if ! { chown --reference="$up" "$real" && chmod --reference="$up" "$real"; }; then
           osr_die "setting attributes of $abs failed"
         fi ;;
      M) if ! { mkdir "$real" && chown --reference="$up" "$real" && chmod --reference="$up" "$real"; }; then
           osr_die "creating $abs failed"
         fi ;;
      D) rm -rf "$real" || osr_die "deleting $abs failed" ;;
    esac
    line="$kind $abs"
    printf '%s\n' "$line" >>"$adir/written"
  done <"$plan"
  [ "$OSR_MODE" = repair ] && sync
  return 0
}

# ---------------------------------------------------------------- 4. running the actions
declare -A OSR_ACTION_KIND=()
osr_register() { OSR_ACTION_KIND[$1]=$2; }        # name, view|block

osr_detail()  { printf '%s\n' "$*" >>"$OSR_ACT_DIR/details"; osr_log "[$OSR_ACT_NAME] $*"; }
osr_summary() { printf '%s' "$*" >"$OSR_ACT_DIR/summary"; }
osr_changed() { printf '%s\n' "$*" >>"$OSR_ACT_DIR/block-changes"; osr_detail "$*"; }
osr_skip()    { printf 'skipped' >"$OSR_ACT_DIR/status"; osr_summary "$*"; osr_log "[$OSR_ACT_NAME] skipped: $*"; exit 0; }
osr_fail()    { printf 'failed' >"$OSR_ACT_DIR/status"; printf '%s' "$*" >"$OSR_ACT_DIR/error"; osr_log "[$OSR_ACT_NAME] failed: $*"; exit 1; }

osr_action_child() {     # in the child: run one action with its own error handling
  set -euo pipefail
  trap - EXIT HUP TERM INT PIPE
  # shellcheck disable=SC2064  # the action name is fixed now
  trap "printf 'osr: [%s] stopped\n' '$OSR_ACT_NAME' >&2 2>/dev/null; exit 143" TERM
  "osr_action_${OSR_ACT_NAME//-/_}"
}

osr_run_action() {       # $1 = position, $2 = name
  local pos=$1 name=$2 rc=0 status summary
  OSR_ACT_NAME=$name
  OSR_ACT_DIR=$OSR_WORK/actions/$(printf '%02d' "$pos")-$name
  mkdir -p "$OSR_ACT_DIR"
  export OSR_ACT_NAME OSR_ACT_DIR
  osr_phase "action $name"
  if [ "${OSR_ACTION_KIND[$name]}" = block ]; then
    osr_fs_umount_all                        # e2fsck/xfs_repair need the filesystems unmounted
    osr_run_waiting osr_action_child || rc=$?
  else
    osr_view_up
    osr_run_waiting osr_action_child || rc=$?
    osr_view_down
    osr_apply_changes "$OSR_ACT_DIR"
    umount "$OSR_WORK/cow"; rm -rf "${OSR_WORK:?}/view"
  fi
  status=$(cat "$OSR_ACT_DIR/status" 2>/dev/null || true)
  if [ "$rc" != 0 ] && [ "$status" != failed ]; then
    printf 'failed' >"$OSR_ACT_DIR/status"
    printf 'the action exited with status %s' "$rc" >"$OSR_ACT_DIR/error"
    status=failed
  fi
  if [ -z "$status" ]; then
    if [ -s "$OSR_WORK/plan" ] || [ -s "$OSR_ACT_DIR/block-changes" ]; then
      if [ "$OSR_MODE" = repair ]; then status=changed; else status='would-change'; fi
    else
      status=unchanged
    fi
    printf '%s' "$status" >"$OSR_ACT_DIR/status"
  fi
  : >"$OSR_WORK/plan"
  summary=$(cat "$OSR_ACT_DIR/summary" 2>/dev/null || true)
  osr_log "[$name] $status${summary:+: $summary}"
}

# ---------------------------------------------------------------- 5. the report
osr_report_ok() {
  [ -z "$OSR_FATAL" ] || return 1
  local d
  for d in "$OSR_WORK"/actions/*/; do
    [ -d "$d" ] || continue
    [ "$(cat "$d/status" 2>/dev/null)" = failed ] && return 1
  done
  return 0
}

osr_fs_json() {          # one filesystem as a JSON object
  local i=$1
  printf '{"device":%s,' "$(osr_json_str "${FS_DEV[i]}")"
  printf '"partition":%s,' "${FS_PARTNUM[i]:-null}"
  osr_json_opt lv "${FS_LV[i]}"; printf ','
  osr_json_opt fsType "${FS_TYPE[i]}"; printf ','
  osr_json_opt uuid "${FS_UUID[i]}"; printf ','
  osr_json_opt label "${FS_LABEL[i]}"; printf ','
  osr_json_opt partUuid "${FS_PARTUUID[i]}"; printf ','
  osr_json_opt partLabel "${FS_PARTLABEL[i]}"; printf ','
  osr_json_opt mountPoint "${FS_TARGET[i]}"; printf ','
  osr_json_opt subvolume "${FS_SUBVOL[i]}"; printf ','
  printf '"sizeBytes":%s}' "${FS_SIZE[i]:-0}"
}

osr_action_json() {      # $1 = action dir
  local d=$1 name status changed=false would=false f first=1 path bk
  name=${d##*/}; name=${name#*-}
  status=$(cat "$d/status" 2>/dev/null || echo failed)
  case $status in changed) changed=true; would=true ;; would-change) would=true ;; esac
  printf '{"name":%s,"status":%s,"changed":%s,"wouldChange":%s,' "$(osr_json_str "$name")" "$(osr_json_str "$status")" "$changed" "$would"
  osr_json_opt summary "$(cat "$d/summary" 2>/dev/null || true)"; printf ','
  printf '"details":%s,' "$(osr_json_lines "$d/details")"
  bk=$(head -n1 "$d/backups" 2>/dev/null | cut -f2 || true)
  osr_json_opt backup "$bk"; printf ',"backups":['
  if [ -f "$d/backups" ]; then
    while IFS=$'\t' read -r path bk; do
      [ "$first" = 1 ] || printf ','; first=0
      printf '{"path":%s,"backup":%s}' "$(osr_json_str "$path")" "$(osr_json_str "$bk")"
    done <"$d/backups"
  fi
  printf '],"diffs":['
  first=1
  for f in "$d"/diffs/*.path; do
    [ -f "$f" ] || continue
    [ "$first" = 1 ] || printf ','; first=0
    printf '{"path":%s,"diff":%s}' "$(osr_json_str "$(cat "$f")")" "$(osr_json_str "$(cat "${f%.path}.diff")")"
  done
  printf '],'
  osr_json_opt error "$(cat "$d/error" 2>/dev/null || true)"
  printf '}'
}

osr_emit_report() {
  local json ok=false
  osr_report_ok && ok=true
  json=$(
    printf '{"version":1,"volumeId":%s,"mode":%s,"ok":%s,' "$(osr_json_str "$OSR_VOLUME_ID")" "$(osr_json_str "$OSR_MODE")" "$ok"
    osr_json_opt error "$OSR_FATAL"; printf ','
    printf '"device":'
    if [ -n "$OSR_DEVICE" ]; then
      printf '{"path":%s,"link":%s}' "$(osr_json_str "$OSR_DEVICE")" "$(osr_json_str "$OSR_DEVICE_LINK")"
    else printf 'null'; fi
    printf ',"filesystems":['
    first=1
    for i in "${!FS_DEV[@]}"; do [ "$first" = 1 ] || printf ','; first=0; osr_fs_json "$i"; done
    printf '],"root":'
    if [ -n "$OSR_ROOT_INDEX" ]; then osr_fs_json "$OSR_ROOT_INDEX"; else printf 'null'; fi
    printf ',"lvm":['
    first=1
    for i in "${!LVM_ORIG[@]}"; do
      [ "$first" = 1 ] || printf ','; first=0
      printf '{"vg":%s,' "$(osr_json_str "${LVM_ORIG[i]}")"
      osr_json_opt importedAs "${LVM_IMPORTED[i]}"; printf ','
      printf '"nameNow":%s,"activated":%s,' "$(osr_json_str "${LVM_NOW[i]}")" "$( [ "${LVM_ACTIVE[i]}" = 1 ] && echo true || echo false)"
      osr_json_opt note "${LVM_NOTE[i]}"; printf '}'
    done
    printf '],"actions":['
    first=1
    for d in "$OSR_WORK"/actions/*; do
      [ -d "$d" ] || continue
      [ "$first" = 1 ] || printf ','; first=0
      osr_action_json "$d"
    done
    printf '],"warnings":%s}' "$(osr_json_lines "$OSR_WORK/warnings")"
  )
  # a copy on the helper: the report survives an SSH session that died
  { mkdir -p "$OSR_HELPER_STATE/reports" && printf '%s\n' "$json" >"$OSR_HELPER_STATE/reports/$OSR_VOLUME_ID.json"; } 2>/dev/null || true
  printf '%s\n%s\n%s\n' "$OSR_MARK_BEGIN" "$json" "$OSR_MARK_END" >&3 2>/dev/null || true
}

# ---------------------------------------------------------------- main
osr_main() {
  trap osr_on_exit EXIT
  trap 'osr_on_signal HUP' HUP
  trap 'osr_on_signal TERM' TERM
  trap 'osr_on_signal INT' INT
  trap 'osr_on_signal PIPE' PIPE
  trap 'OSR_LAST_ERR="line $LINENO: $BASH_COMMAND"' ERR
  [ "$(id -u)" = 0 ] || { OSR_FATAL="must run as root (use sudo -n bash -s)"; echo "osr: $OSR_FATAL" >&2; exit 1; }
  OSR_WORK=$(mktemp -d /run/openstack-recovery.XXXXXX 2>/dev/null || mktemp -d)
  : >"$OSR_WORK/warnings"
  mkdir -p "$OSR_WORK/actions"
  modprobe overlay 2>/dev/null || true
  grep -qw overlay /proc/filesystems || osr_die "the helper's kernel has no overlayfs (modprobe overlay): it is needed to change nothing until a change is certain"
  if [ -n "${OSR_CUSTOM_SCRIPT_B64:-}" ]; then
    printf '%s' "$OSR_CUSTOM_SCRIPT_B64" | base64 -d >"$OSR_WORK/custom.sh" || osr_die "cannot decode the custom script"
  fi
  osr_watchdog &
  OSR_WATCHDOG=$!
  osr_log "openstack-recovery repair: volume $OSR_VOLUME_ID, mode $OSR_MODE, actions: ${OSR_ACTIONS[*]}"

  osr_find_device
  osr_check_not_in_use
  osr_list_partitions
  osr_lvm_setup
  osr_find_root
  osr_plan_mounts
  export OSR_MODE OSR_DEVICE OSR_WORK
  OSR_ROOT_DEV=${FS_DEV[OSR_ROOT_INDEX]}; OSR_ROOT_UUID=${FS_UUID[OSR_ROOT_INDEX]}; OSR_ROOT_FSTYPE=${FS_TYPE[OSR_ROOT_INDEX]}
  export OSR_ROOT_DEV OSR_ROOT_UUID OSR_ROOT_FSTYPE

  local pos=0 name
  for name in "${OSR_ACTIONS[@]}"; do
    pos=$((pos + 1))
    osr_run_action "$pos" "$name"
  done
  osr_phase "done"
}
