# shellcheck shell=bash
# grub: regenerate grub.cfg in a chroot and, when the disk's boot code is gone, reinstall GRUB.
#
# Why: a grub.cfg that names a removed kernel, a wrong root UUID or a deleted volume group stops
# the boot at the GRUB prompt or in the initramfs; a wiped MBR stops it before GRUB.
# What it changes:
#   - /boot/grub/grub.cfg (or /boot/grub2/grub.cfg): replaced by the image's own
#     grub-mkconfig / grub2-mkconfig output, only when that differs from the current file;
#   - the disk's BIOS boot code (MBR + embedding area / BIOS boot partition): only in repair mode
#     and only when the first sector holds no GRUB boot code and the image has GRUB's i386-pc
#     modules; `grub-install --target=i386-pc` runs in the chroot. The first MiB of the disk is
#     saved first to /var/lib/openstack-recovery/backup/disk-head-before-grub-install.img.
#   EFI (grub on the ESP) is not reinstalled: a report line says so when the image boots by EFI.
# Idempotent: the same image gives the same grub.cfg, so a second run writes nothing, and boot
# code that is present is never rewritten.
osr_register grub view

osr_action_grub() {
  local mk cfg inst target out rc=0
  if osr_chroot_has grub-mkconfig; then mk=grub-mkconfig; inst=grub-install; cfg=/boot/grub/grub.cfg
  elif osr_chroot_has grub2-mkconfig; then mk=grub2-mkconfig; inst=grub2-install; cfg=/boot/grub2/grub.cfg
  else osr_fail "the image has neither grub-mkconfig nor grub2-mkconfig: cannot regenerate grub.cfg"; fi
  [ -d "$ROOT${cfg%/*}" ] || osr_fail "${cfg%/*} does not exist in the image"
  # os-prober would list the helper's own disks as boot entries
  out=$(osr_chroot env GRUB_DISABLE_OS_PROBER=true "$mk" -o /run/osr-grub.cfg 2>&1) || rc=$?
  printf '%s\n' "$out" >&2
  { [ "$rc" = 0 ] && [ -s "$ROOT/run/osr-grub.cfg" ]; } || osr_fail "$mk failed (exit $rc): $(tail -n2 <<<"$out" | tr '\n' ' ')"
  if [ -f "$ROOT$cfg" ] && cmp -s "$ROOT/run/osr-grub.cfg" "$ROOT$cfg"; then
    osr_detail "$cfg is what $mk generates"
  else
    cat "$ROOT/run/osr-grub.cfg" >"$ROOT$cfg"
    osr_detail "$cfg regenerated with $mk"
  fi
  # BIOS boot code: reinstall only when it is missing (a rewrite is never byte-identical)
  if head -c 512 "$OSR_DEVICE" | grep -qa GRUB; then
    osr_detail "the disk's first sector holds GRUB boot code: not reinstalled"
  elif [ ! -d "$ROOT/usr/lib/grub/i386-pc" ]; then
    osr_detail "no GRUB boot code on the disk and no i386-pc GRUB in the image (EFI boot?): not reinstalled"
  elif [ "$OSR_MODE" != repair ]; then
    osr_detail "no GRUB boot code in the disk's first sector: repair mode would run $inst --target=i386-pc"
    printf 'would reinstall\n' >>"$OSR_ACT_DIR/block-changes"
  else
    target=$OSR_DEVICE
    mkdir -p "$ROOT/var/lib/openstack-recovery/backup"
    head -c 1048576 "$target" >"$ROOT/var/lib/openstack-recovery/backup/disk-head-before-grub-install.img"
    printf '%s (first MiB)\t%s\n' "$target" /var/lib/openstack-recovery/backup/disk-head-before-grub-install.img >>"$OSR_ACT_DIR/backups"
    osr_chroot "$inst" --target=i386-pc --boot-directory=/boot "$target" >&2 ||
      osr_fail "$inst --target=i386-pc $target failed"
    osr_changed "reinstalled GRUB boot code on $target ($inst --target=i386-pc); the old first MiB is in the backup"
  fi
  osr_summary "grub.cfg checked${inst:+ with $mk}"
}
