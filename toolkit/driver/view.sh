# shellcheck shell=bash
# driver/view.sh: the copy-on-write view an action runs in (an overlay per filesystem over its
# read-only mount), chroot into it, then what changed: diffs, backups and, in repair mode, writes.

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

osr_blocks_of() {        # path, block size: blocks its data takes (a directory: all it holds), rounded up
  local n
  { [ -e "$1" ] || [ -L "$1" ]; } || { echo 0; return; }
  n=$(du -s --apparent-size -B1 "$1" 2>/dev/null | cut -f1)
  echo $(( (${n:-0} + $2 - 1) / $2 + 1 ))
}

osr_free_blocks() {      # fs $1 (mounted): "free-blocks block-size free-inodes" that a root-owned writer can use
  local i=$1 f a bs d resv name
  read -r f a bs d < <(stat -f -c '%f %a %S %d' "$OSR_WORK/fs/$i")
  case "${FS_TYPE[i]}" in
    ext*) # root may use the reserved blocks, but not the clusters ext4 keeps for its metadata
          # (reserved_clusters: 2% up to 4096), which statfs still counts as free
          name=$(readlink -f "${FS_DEV[i]}"); name=${name##*/}
          resv=$(cat "/sys/fs/ext4/$name/reserved_clusters" 2>/dev/null) || resv=''
          if [[ $resv =~ ^[0-9]+$ ]]; then f=$((f > resv ? f - resv : 0)); else f=$a; fi ;;
    *) f=$a ;;
  esac
  echo "$f $bs $d"
}

osr_check_space() {      # repair mode, before anything is mounted read-write: room for every write?
  # A write that runs out of space half-way leaves a half-done repair, and mounting read-write to
  # try changes the superblock (mount count, times): so the room is checked on the read-only
  # mounts first, and a full filesystem fails the run with the disk byte-identical. Counted: each
  # new file beside the old one (written, then renamed), each backup on the root, new directories,
  # inodes, and a little for the directories the backup path needs.
  local plan=$OSR_WORK/plan kind i rel low up bs free ifree r=$OSR_ROOT_INDEX msg=''
  local -A blk=() ino=() fbs=()
  for i in $(cut -f2 "$plan" | sort -u) "$r"; do
    read -r free bs ifree < <(osr_free_blocks "$i")
    fbs[$i]=$bs; blk[$i]=${blk[$i]:-8}; ino[$i]=${ino[$i]:-4}
  done
  while IFS=$'\t' read -r kind i rel; do
    low=$OSR_WORK/fs/$i/$rel; up=$OSR_WORK/cow/$i/upper/$rel
    case $kind in
      F) blk[$i]=$(( blk[$i] + $(osr_blocks_of "$up" "${fbs[$i]}") )); ino[$i]=$(( ino[$i] + 1 ))
         blk[$r]=$(( blk[$r] + $(osr_blocks_of "$low" "${fbs[$r]}") )); ino[$r]=$(( ino[$r] + 1 )) ;;
      D) blk[$r]=$(( blk[$r] + $(osr_blocks_of "$low" "${fbs[$r]}") ))
         ino[$r]=$(( ino[$r] + $(find "$low" 2>/dev/null | wc -l) )) ;;
      M) blk[$i]=$(( blk[$i] + 1 )); ino[$i]=$(( ino[$i] + 1 )) ;;
    esac
  done <"$plan"
  for i in "${!blk[@]}"; do
    read -r free bs ifree < <(osr_free_blocks "$i")
    if [ "$free" -lt "${blk[$i]}" ]; then
      msg+="${msg:+; }${FS_TARGET[i]:-?} ($(osr_fs_name "$i")) has $((free * bs / 1024)) KiB free, the changes and their backups need about $((blk[$i] * bs / 1024)) KiB"
    elif [ "$ifree" -gt 0 ] && [ "$ifree" -lt "${ino[$i]}" ]; then   # 0: no fixed inode count (btrfs)
      msg+="${msg:+; }${FS_TARGET[i]:-?} ($(osr_fs_name "$i")) has $ifree free inodes, the changes need ${ino[$i]}"
    fi
  done
  [ -z "$msg" ] || osr_apply_fail 0 "not enough space to write the repair: $msg. Nothing was written, and the disk is as it was. Make room first: extend the clone (openstack volume extend) and grow its partition and filesystem on the helper (growpart, resize2fs / xfs_growfs), then run again"
}

osr_last_error() { tail -n 2 "$OSR_WORK/write-error" 2>/dev/null | tr '\n' ' ' | sed 's/ *$//'; }

osr_apply_fail() {       # written-so-far, message: the action failed while writing; the run stops
  # the action's own summary says what it planned ("2 lines fixed"): it must not stand as done
  printf 'failed' >"$OSR_ACT_DIR/status"
  printf '%s' "$2" >"$OSR_ACT_DIR/error"
  if [ "$1" = 0 ]; then osr_summary "nothing written: $2"
  else osr_summary "stopped after writing $1 change(s) of $(wc -l <"$OSR_WORK/plan") (see written and backups): $2"; fi
  osr_die "[$OSR_ACT_NAME] $2"
}

osr_apply_changes() {    # $1 = action dir: record diffs; in repair mode back up and write for real
  local adir=$1 kind i rel abs low up real bk n=0 w=0 line
  local plan=$OSR_WORK/plan
  [ -s "$plan" ] || return 0
  if [ "$OSR_MODE" = repair ]; then
    osr_check_space
    # the root takes the backups, so it is made writable with any filesystem that changes
    osr_fs_mount "$OSR_ROOT_INDEX" rw || osr_apply_fail 0 "cannot mount the root read-write: $(cat "$OSR_WORK/mount-error")"
    while IFS=$'\t' read -r kind i rel; do
      osr_fs_mount "$i" rw || osr_apply_fail 0 "cannot mount ${FS_DEV[i]} read-write: $(cat "$OSR_WORK/mount-error")"
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
      { mkdir -p "$(dirname "$OSR_WORK/fs/$OSR_ROOT_INDEX$bk")" && cp -a --no-target-directory "$real" "$OSR_WORK/fs/$OSR_ROOT_INDEX$bk"; } 2>>"$OSR_WORK/write-error" || osr_apply_fail "$w" "backup of $abs failed: $(osr_last_error)"
      printf '%s\t%s\n' "$abs" "$bk" >>"$adir/backups"
    fi
    case $kind in
      F) # write beside, then rename: the file is never half-written
         if ! { cp -a --no-target-directory "$up" "$real.osr-new" && mv -fT "$real.osr-new" "$real"; } 2>>"$OSR_WORK/write-error"; then
           rm -f "$real.osr-new"
           osr_apply_fail "$w" "writing $abs failed: $(osr_last_error)"
         fi ;;
      A) if ! { chown --reference="$up" "$real" && chmod --reference="$up" "$real"; } 2>>"$OSR_WORK/write-error"; then
           osr_apply_fail "$w" "setting attributes of $abs failed: $(osr_last_error)"
         fi ;;
      M) if ! { mkdir "$real" && chown --reference="$up" "$real" && chmod --reference="$up" "$real"; } 2>>"$OSR_WORK/write-error"; then
           osr_apply_fail "$w" "creating $abs failed: $(osr_last_error)"
         fi ;;
      D) rm -rf "$real" 2>>"$OSR_WORK/write-error" || osr_apply_fail "$w" "deleting $abs failed: $(osr_last_error)" ;;
    esac
    line="$kind $abs"
    printf '%s\n' "$line" >>"$adir/written"; w=$((w + 1))
  done <"$plan"
  [ "$OSR_MODE" = repair ] && sync
  return 0
}
