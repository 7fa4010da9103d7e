# shellcheck shell=bash
# driver/main.sh: running the actions (registry, the helpers actions call, each action in a child
# against the view or the unmounted disk) and osr_main, the order of the whole run.

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
  osr_log "openstack-recovery repair: ${OSR_DEVICE_PATH:+disk $OSR_DEVICE_PATH}${OSR_VOLUME_ID:+volume $OSR_VOLUME_ID}, mode $OSR_MODE, actions: ${OSR_ACTIONS[*]}"

  osr_find_device
  osr_check_not_in_use
  osr_list_partitions
  osr_lvm_setup
  export OSR_MODE OSR_DEVICE OSR_WORK
  local pos=0 name early=''
  if ! osr_find_root; then
    # a root that cannot be mounted is often what fsck is there for: the block actions need no
    # root, so they run first, and the root is looked for again after them
    for name in "${OSR_ACTIONS[@]}"; do [ "${OSR_ACTION_KIND[$name]}" = block ] && early+=" $name"; done
    [ -n "$early" ] || osr_die "$OSR_ROOT_PROBLEM"
    osr_warn "$OSR_ROOT_PROBLEM; running${early} first, then looking for the root again"
    for name in "${OSR_ACTIONS[@]}"; do
      pos=$((pos + 1))
      [ "${OSR_ACTION_KIND[$name]}" = block ] && osr_run_action "$pos" "$name"
    done
    osr_find_root || osr_die "$OSR_ROOT_PROBLEM (after${early})"
  fi
  osr_plan_mounts
  OSR_ROOT_DEV=${FS_DEV[OSR_ROOT_INDEX]}; OSR_ROOT_UUID=${FS_UUID[OSR_ROOT_INDEX]}; OSR_ROOT_FSTYPE=${FS_TYPE[OSR_ROOT_INDEX]}
  export OSR_ROOT_DEV OSR_ROOT_UUID OSR_ROOT_FSTYPE

  pos=0
  for name in "${OSR_ACTIONS[@]}"; do
    pos=$((pos + 1))
    [ -n "$early" ] && [ "${OSR_ACTION_KIND[$name]}" = block ] && continue   # ran already
    osr_run_action "$pos" "$name"
  done
  osr_phase "done"
}
