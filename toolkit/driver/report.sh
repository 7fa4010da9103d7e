# shellcheck shell=bash
# driver/report.sh: the JSON report printed on fd 3 (the script's stdout) at exit, a copy kept on
# the helper, and the JSON string helpers it is built with.

# ---------------------------------------------------------------- 5. the report
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
  { mkdir -p "$OSR_HELPER_STATE/reports" && printf '%s\n' "$json" >"$OSR_HELPER_STATE/reports/$OSR_STATE_KEY.json"; } 2>/dev/null || true
  printf '%s\n%s\n%s\n' "$OSR_MARK_BEGIN" "$json" "$OSR_MARK_END" >&3 2>/dev/null || true
}
