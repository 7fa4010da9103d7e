# shellcheck shell=bash
# fsck: check and repair every ext2/3/4 and XFS filesystem of the disk, unmounted.
#
# Why: a filesystem left dirty (a crash, a full disk, a hypervisor failure) makes the boot stop
# in emergency mode waiting for a manual fsck; an ext4 journal that still needs recovery means
# the files seen without replaying it are stale.
# What it changes: filesystem metadata, only when a read-only check finds a problem:
#   ext*: `e2fsck -fn` first; only when it fails, or the journal needs recovery, or the state is
#         not clean: `e2fsck -fy -z UNDO` (replays the journal, fixes errors). UNDO is an e2undo
#         file kept on the helper (OSR_HELPER_STATE/undo/...): `e2undo UNDO DEVICE` reverts.
#   xfs:  `xfs_repair -n` first; a dirty log is replayed by mounting and unmounting (nouuid);
#         corruption is repaired with `xfs_repair` (never -L: zeroing the log loses data; the
#         report says when only -L would help). No undo for XFS: the clone's source is the backup.
# Idempotent: a clean filesystem is only read (e2fsck -f without -n would rewrite the
# superblock's last-check time), so a second run changes nothing.
osr_register fsck block

osr_fsck_ext() {           # $1 = device
  local dev=$1 state feats rc=0 out undo n=1
  state=$(dumpe2fs -h "$dev" 2>/dev/null | sed -n 's/^Filesystem state:[[:space:]]*//p')
  feats=$(dumpe2fs -h "$dev" 2>/dev/null | sed -n 's/^Filesystem features:[[:space:]]*//p')
  out=$(e2fsck -fn "$dev" 2>&1) || rc=$?
  local -a why=()
  [[ " $feats " == *" needs_recovery "* ]] && why+=("the journal needs recovery")
  [ "$state" = clean ] || why+=("state is '$state'")
  [ "$rc" = 0 ] || why+=("e2fsck -fn found problems (exit $rc): $(tail -n1 <<<"$out")")
  if [ "${#why[@]}" = 0 ]; then
    osr_detail "$dev: clean (e2fsck -fn exit 0)"
    return 0
  fi
  if [ "$OSR_MODE" = report ]; then
    osr_changed "$dev: would run e2fsck -fy: ${why[*]}"
    return 0
  fi
  mkdir -p "$OSR_HELPER_STATE/undo"
  undo=$OSR_HELPER_STATE/undo/${OSR_STATE_KEY}-${dev##*/}.e2undo
  while [ -e "$undo" ]; do undo=$OSR_HELPER_STATE/undo/${OSR_STATE_KEY}-${dev##*/}.$n.e2undo; n=$((n + 1)); done
  rc=0
  out=$(e2fsck -fy -z "$undo" "$dev" 2>&1) || rc=$?
  printf '%s\n' "$out" >&2
  # e2fsck exit: 0 clean, 1 fixed, 2 fixed+reboot, 4 left uncorrected, 8+ operational error
  [ "$rc" -lt 4 ] || osr_fail "$dev: e2fsck -fy left errors (exit $rc): $(tail -n2 <<<"$out" | tr '\n' ' ')"
  printf '%s\thelper:%s\n' "$dev" "$undo" >>"$OSR_ACT_DIR/backups"
  osr_changed "$dev: repaired with e2fsck -fy (exit $rc) because ${why[*]}; undo with: e2undo $undo $dev"
  rc=0
  out=$(e2fsck -fn "$dev" 2>&1) || rc=$?
  [ "$rc" = 0 ] || osr_fail "$dev: still not clean after repair (e2fsck -fn exit $rc)"
}

osr_fsck_xfs() {           # $1 = device
  local dev=$1 rc=0 out mnt=$OSR_WORK/fsck-mnt
  out=$(xfs_repair -n "$dev" 2>&1) || rc=$?
  if [ "$rc" = 2 ]; then
    # a dirty log: the kernel replays it at mount; xfs_repair would otherwise need -L
    if [ "$OSR_MODE" = report ]; then
      osr_changed "$dev: the XFS log is dirty; would replay it (mount, unmount) and check again"
      return 0
    fi
    mkdir -p "$mnt"
    if ! { mount -t xfs -o nouuid "$dev" "$mnt" 2>/dev/null && umount "$mnt"; }; then
      osr_fail "$dev: the XFS log is dirty and mounting to replay it failed; only xfs_repair -L (loses the log) would go on: do it by hand"
    fi
    osr_changed "$dev: replayed the dirty XFS log (mount, unmount)"
    rc=0
    out=$(xfs_repair -n "$dev" 2>&1) || rc=$?
  fi
  if [ "$rc" = 0 ]; then
    osr_detail "$dev: clean (xfs_repair -n exit 0)"
    return 0
  fi
  if [ "$OSR_MODE" = report ]; then
    osr_changed "$dev: would run xfs_repair: xfs_repair -n exit $rc: $(tail -n1 <<<"$out")"
    return 0
  fi
  rc=0
  out=$(xfs_repair "$dev" 2>&1) || rc=$?
  printf '%s\n' "$out" >&2
  [ "$rc" = 0 ] || osr_fail "$dev: xfs_repair failed (exit $rc): $(tail -n2 <<<"$out" | tr '\n' ' ')"
  osr_changed "$dev: repaired with xfs_repair (no undo for XFS: the source volume is the backup)"
}

osr_action_fsck() {
  local i n=0
  for i in "${!FS_DEV[@]}"; do
    case "${FS_TYPE[i]}" in
      ext2|ext3|ext4) command -v e2fsck >/dev/null || osr_fail "the helper has no e2fsck (e2fsprogs)"
                      osr_fsck_ext "${FS_DEV[i]}"; n=$((n + 1)) ;;
      xfs) command -v xfs_repair >/dev/null || osr_fail "the helper has no xfs_repair (xfsprogs)"
           osr_fsck_xfs "${FS_DEV[i]}"; n=$((n + 1)) ;;
      '' | LVM2_member | swap) ;;
      *) osr_detail "${FS_DEV[i]}: ${FS_TYPE[i]} is not checked by this action" ;;
    esac
  done
  [ "$n" -gt 0 ] || osr_skip "no ext2/3/4 or XFS filesystem on the disk"
  if [ -s "$OSR_ACT_DIR/block-changes" ]; then
    osr_summary "$(wc -l <"$OSR_ACT_DIR/block-changes") filesystem fix(es) of $n checked"
  else
    osr_summary "$n filesystem(s) checked, all clean"
  fi
}
