# shellcheck shell=bash
# fstab: make /etc/fstab bootable on the replacement server.
#
# Why: an entry for a device that is not there (a data volume left behind, a disk renamed from
# /dev/vdb) makes systemd wait 90 s and drop to emergency mode; so does a / entry that names a
# filesystem which does not exist, or a line mount cannot parse.
# What it changes (only /etc/fstab; the driver keeps the backup and the diff):
#   - a line that is not "spec file type [options [dump [pass]]]" is commented out (malformed);
#   - a / entry whose device is not the root filesystem of this disk is pointed at UUID=<root>;
#   - another entry whose device is not on this disk gets `nofail` (policy "nofail", the
#     default: the data volume moved to the replacement mounts again, and boot does not wait for
#     it) or is commented out (policy "comment": OSR_FSTAB_POLICY=comment);
#   - left alone: comments, network and virtual filesystems, bind mounts, noauto/nofail/_netdev
#     entries, swap files, and every entry whose device is on this disk.
# Idempotent: a second run finds only lines it already made good, so it writes nothing.
osr_register fstab view

OSR_FSTAB_TAG='# openstack-recovery disabled'

osr_fstab_leave_alone() {  # type options spec: entries that never block a boot on a missing disk
  local type=$1 opts=",$2," spec=$3
  case $type in
    proc|sysfs|tmpfs|devpts|devtmpfs|cgroup|cgroup2|securityfs|debugfs|tracefs|hugetlbfs|mqueue|\
    pstore|efivarfs|binfmt_misc|configfs|fusectl|none|nfs|nfs4|cifs|smb3|smbfs|glusterfs|ceph|\
    fuse|fuse.*|9p|virtiofs|overlay|ramfs|squashfs|iso9660|auto) return 0 ;;
  esac
  case $opts in *,bind,*|*,rbind,*|*,nofail,*|*,noauto,*|*,_netdev,*|*,x-systemd.automount,*) return 0 ;; esac
  [ "$type" = swap ] && [[ $spec == /* && $spec != /dev/* ]] && return 0      # a swap file
  [[ $spec == *:/* || $spec == //* ]] && return 0                             # network shares
  return 1
}

osr_fstab_malformed() {    # why a split line cannot be an fstab entry (empty when it can)
  local -a fields=("$@")
  if [ "${#fields[@]}" -lt 3 ]; then echo "only ${#fields[@]} field(s), at least 3 needed"; return; fi
  if [ "${#fields[@]}" -gt 6 ]; then echo "${#fields[@]} fields, at most 6 allowed"; return; fi
  [[ ${fields[1]} == /* || ${fields[1]} == none || ${fields[1]} == swap ]] || { echo "mount point '${fields[1]}' is not a path"; return; }
  [ "${#fields[@]}" -ge 5 ] && [[ ! ${fields[4]} =~ ^[0-9]+$ ]] && { echo "dump field '${fields[4]}' is not a number"; return; }
  [ "${#fields[@]}" -ge 6 ] && [[ ! ${fields[5]} =~ ^[0-9]+$ ]] && { echo "pass field '${fields[5]}' is not a number"; return; }
  return 0
}

osr_fstab_set_field() {   # line field value: the line with field N (0-based) set, its whitespace kept
  # (an operator's column alignment, tabs or spaces, survives; a missing field is appended with the
  # line's last separator)
  local rest=$1 n=$2 val=$3 out lead field sep last=$'\t' k=0
  lead=${rest%%[![:space:]]*}; out=$lead; rest=${rest#"$lead"}
  while [ -n "$rest" ]; do
    field=${rest%%[[:space:]]*}; rest=${rest#"$field"}
    sep=${rest%%[![:space:]]*}; rest=${rest#"$sep"}
    [ "$k" = "$n" ] && field=$val
    out+=$field$sep; k=$((k + 1))
    [ -n "$sep" ] && last=$sep
  done
  if [ "$k" -le "$n" ]; then [[ $out == *[[:space:]] ]] || out+=$last; out+=$val; fi
  printf '%s' "$out"
}

osr_btrfs_root_has_subvol() {  # options: is the subvol=/subvolid= they name a subvolume of the root fs?
  local opts=",$1," want id p
  [ "$OSR_ROOT_FSTYPE" = btrfs ] || return 1
  command -v btrfs >/dev/null || return 1
  if [[ $opts =~ ,subvol=([^,]*), ]]; then want=${BASH_REMATCH[1]#/}
  elif [[ $opts =~ ,subvolid=([0-9]+), ]]; then id=${BASH_REMATCH[1]}
  else return 1; fi
  # the root's read-only mount, the view's lower layer (btrfs cannot list through the overlay)
  while read -r _ sid _ _ _ _ _ _ p; do
    p=${p#<FS_TREE>/}
    { [ -n "${want:-}" ] && [ "$p" = "$want" ]; } || { [ -n "${id:-}" ] && [ "$sid" = "$id" ]; } && return 0
  done < <(btrfs subvolume list -a "$OSR_WORK/fs/$OSR_ROOT_INDEX" 2>/dev/null)
  return 1
}

osr_action_fstab() {
  local fstab=$ROOT/etc/fstab new=$OSR_WORK/fstab.new line bare cr why spec mnt type opts n=0 edits=0
  local policy=${OSR_FSTAB_POLICY:-nofail} root_spec=''
  [ -f "$fstab" ] || osr_skip "the image has no /etc/fstab"
  # the / entry's device: a btrfs subvolume entry (/home on subvol=@home) with the same device is
  # part of the root, and is re-pointed with it rather than made optional
  root_spec=$(awk '$1 !~ /^#/ && $2 == "/" { print $1; exit }' "$fstab" | tr -d '\r')
  : >"$new"
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    bare=${line%$'\r'}; cr=${line:${#bare}}   # a CRLF file keeps its CRs
    local -a fld=()
    read -r -a fld <<<"$bare" || true
    if [ "${#fld[@]}" = 0 ] || [[ ${fld[0]} == \#* ]]; then
      printf '%s\n' "$line" >>"$new"; continue
    fi
    why=$(osr_fstab_malformed "${fld[@]}")
    if [ -n "$why" ]; then
      printf '%s (malformed: %s): %s%s\n' "$OSR_FSTAB_TAG" "$why" "$bare" "$cr" >>"$new"
      osr_detail "line $n: commented out, malformed ($why): $bare"
      edits=$((edits + 1)); continue
    fi
    spec=${fld[0]}; mnt=${fld[1]}; type=${fld[2]}; opts=${fld[3]:-defaults}
    if [ "$mnt" = / ]; then
      if [ "$(osr_spec_fs "$spec" || true)" = "$OSR_ROOT_INDEX" ]; then
        printf '%s\n' "$line" >>"$new"; continue
      fi
      printf '%s%s\n' "$(osr_fstab_set_field "$bare" 0 "UUID=$OSR_ROOT_UUID")" "$cr" >>"$new"
      osr_detail "line $n: / named $spec, which is not this disk's root; now UUID=$OSR_ROOT_UUID ($OSR_ROOT_DEV)"
      edits=$((edits + 1)); continue
    fi
    if osr_fstab_leave_alone "$type" "$opts" "$spec" || osr_spec_on_disk "$spec"; then
      printf '%s\n' "$line" >>"$new"; continue
    fi
    if [ "$type" = btrfs ] && [ "$spec" = "$root_spec" ] && osr_btrfs_root_has_subvol "$opts"; then
      printf '%s%s\n' "$(osr_fstab_set_field "$bare" 0 "UUID=$OSR_ROOT_UUID")" "$cr" >>"$new"
      osr_detail "line $n: $mnt is a subvolume of the root ($opts) named by the root's old device $spec; now UUID=$OSR_ROOT_UUID, like /"
      edits=$((edits + 1)); continue
    fi
    if [ "$policy" = comment ]; then
      printf '%s (device not on this disk): %s%s\n' "$OSR_FSTAB_TAG" "$bare" "$cr" >>"$new"
      osr_detail "line $n: commented out, $spec ($mnt) is not on this disk"
    else
      printf '%s%s\n' "$(osr_fstab_set_field "$bare" 3 "$opts,nofail")" "$cr" >>"$new"
      osr_detail "line $n: added nofail, $spec ($mnt) is not on this disk: boot goes on without it"
    fi
    edits=$((edits + 1))
  done <"$fstab"
  # keep a missing final newline missing: otherwise an untouched file would "change"
  [ -n "$(tail -c1 "$fstab")" ] && truncate -s -1 "$new"
  if [ "$edits" = 0 ]; then
    osr_summary "fstab is fine: every entry is on this disk or cannot block the boot"
    return 0
  fi
  cat "$new" >"$fstab"      # in place: keeps the inode's owner, mode and SELinux label
  osr_summary "$edits fstab line(s) fixed (policy $policy)"
}
