# shellcheck shell=bash
# driver/lvm.sh: volume groups on the disk: imported under another name on a clash with the
# helper's, activated, their logical volumes added as filesystems (renamed back in osr_cleanup).

# ---------------------------------------------------------------- 2b. LVM
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
