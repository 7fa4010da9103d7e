# shellcheck shell=bash
# driver.sh: the repair driver's common part: constants, the stdout/stderr split, logging, the
# run's state, and cleanup on every exit path (traps, killing what it started, the watchdog).
#
# The driver runs as root on the helper ("snap-mounter"). Not run on its own: toolkit/index.ts
# inlines this file, then driver/device.sh, driver/filesystems.sh, driver/lvm.sh, driver/view.sh,
# driver/report.sh, driver/main.sh (in that order), the chosen actions (toolkit/actions/*.sh) and
# the options (OSR_* variables) into one script that DiskRepair streams to `sudo -n bash -s` over SSH.
#
# What it does, in order:
#   1. find the attached volume by its serial (never by the name Nova returns), or take the
#      disk at the path given (devicePath); refuse it when the helper uses it;
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
OSR_DEVICE_PATH=${OSR_DEVICE_PATH:-}                 # set: the disk is this path, not found by serial
OSR_STATE_KEY=${OSR_STATE_KEY:-$OSR_VOLUME_ID}      # names this disk's files on the helper (report, undo)

# ---------------------------------------------------------------- output and JSON
exec 3>&1 1>&2            # stdout (fd 3) carries only the report; all other output -> stderr
set -o errtrace           # the ERR trap (which records the failing command) also fires in functions
export LC_ALL=C           # stable sorting and tool output
OSR_DETACHED=0            # 1 once the SSH session is gone: stop writing to it

osr_log() {
  [ "$OSR_DETACHED" = 1 ] && return 0
  printf 'osr: %s\n' "$*" >&2 2>/dev/null || true
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
declare -a FS_SIZE=() FS_LV=() FS_SUBVOL=() FS_MOUNTED=() FS_TARGET=() FS_OVERSIZE=()
declare -a LVM_ORIG=() LVM_NOW=() LVM_PVS=() LVM_ACTIVE=() LVM_NOTE=() LVM_IMPORTED=()
declare -a JOURNAL_UNDO=()     # report mode: by fs index, the e2undo file of its journal replay
OSR_HELD_WHY=''                # why a holder of the disk keeps it "in use" (osr_release_own_lv)
# LVM warns "File descriptor N leaked on vgchange invocation" for every fd bash holds open: noise in the log
export LVM_SUPPRESS_FD_WARNINGS=1

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

osr_vgrename() {         # $1 = PVs (comma-separated), $2 = from, $3 = to: an inactive VG renamed
  # vgrename refuses a new name that exists under /dev ("/dev/vg0: already exists in filesystem"),
  # and a helper whose own root VG has that name always has /dev/vg0. The VG being renamed is
  # inactive and needs no /dev entry, so then the rename runs in a private mount namespace whose
  # /dev holds only this disk's PVs (and null, zero, urandom): the helper's /dev is not touched.
  local pvs=$1 from=$2 to=$3 pv maj min kind nodes=''
  # `return $?`, not `return`: this runs in the EXIT trap, where a bare return gives the status the
  # script had before the trap (a failed run's), whatever vgrename did
  if [ ! -e "/dev/$to" ]; then vgrename --devices "$pvs" "$from" "$to"; return $?; fi
  local -a pvl=()
  IFS=, read -r -a pvl <<<"$pvs"
  for pv in "${pvl[@]}" /dev/null /dev/zero /dev/urandom; do
    read -r maj min kind < <(stat -L -c '%t %T %F' "$pv") && [ -n "$kind" ] || return 1
    [[ $kind == block* ]] && kind=b || kind=c
    nodes+="mkdir -p '${pv%/*}' && mknod -m 600 '$pv' $kind $((16#$maj)) $((16#$min)) && "
  done
  unshare -m --propagation private bash -c "mount -t tmpfs -o mode=755 osr-dev /dev && ${nodes} vgrename --devices '$pvs' '$from' '$to'"
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
  osr_journal_undo                 # before LVM goes: an LV's filesystem needs its LV active
  for i in "${!LVM_NOW[@]}"; do
    pvs=${LVM_PVS[$i]}
    if [ "${LVM_ACTIVE[$i]}" = 1 ]; then
      vgchange -an --devices "$pvs" "${LVM_NOW[$i]}" >&2 2>&1 || osr_warn "cleanup: vgchange -an ${LVM_NOW[$i]} failed"
    fi
    if [ "${LVM_NOW[$i]}" != "${LVM_ORIG[$i]}" ]; then
      # give the guest its own VG name back: its fstab, grub and initrd know only that one
      if osr_vgrename "$pvs" "${LVM_NOW[$i]}" "${LVM_ORIG[$i]}" >&2 2>&1; then
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
