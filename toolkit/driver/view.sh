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
