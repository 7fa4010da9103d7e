# shellcheck shell=bash
# initrd: rebuild a missing, empty or corrupt initramfs, in a chroot, with the image's own tool.
#
# Why: an interrupted kernel update or a full /boot leaves a kernel without a usable initramfs:
# the boot stops at "unable to mount root fs" or in the dracut/initramfs shell.
# What it changes: /boot/initrd.img-<version> (Debian/Ubuntu, update-initramfs) or
# /boot/initramfs-<version>.img (RHEL/Fedora/SUSE, dracut), for each kernel in /boot whose
# initramfs is missing, empty or not a known archive (cpio, gzip, xz, zstd, lz4, bzip2, lzma).
# The driver keeps the old file as the backup and records the (binary) diff.
# It cannot help when the image has no initramfs tool or no /lib/modules/<version>: it says so.
# Idempotent: valid initramfs files are never rebuilt (a rebuild is never byte-identical).
osr_register initrd view

osr_initrd_valid() {       # is $1 a non-empty file that starts like an initramfs archive?
  local f=$1 magic
  [ -s "$f" ] || return 1
  magic=$(head -c 6 "$f" | od -An -tx1 | tr -d ' \n')
  case $magic in
    303730373031*|303730373032*) return 0 ;;   # cpio newc (also the early-microcode prefix)
    1f8b*|fd377a585a00*|28b52ffd*|02214c18*|425a68*|5d0000*|894c5a4f*) return 0 ;;  # gzip xz zstd lz4 bzip2 lzma lzo
  esac
  return 1
}

osr_action_initrd() {
  local k v img tool rebuilt=0 bad=0
  local -a versions=()
  mapfile -t versions < <(for k in "$ROOT"/boot/vmlinuz-*; do [ -f "$k" ] && echo "${k##*/vmlinuz-}"; done | grep -v rescue | sort -V)
  [ "${#versions[@]}" -gt 0 ] || osr_skip "no kernel (/boot/vmlinuz-*) in the image"
  if osr_chroot_has update-initramfs; then tool=update-initramfs
  elif osr_chroot_has dracut; then tool=dracut
  else tool=''; fi
  for v in "${versions[@]}"; do
    img=''
    for k in "/boot/initrd.img-$v" "/boot/initramfs-$v.img" "/boot/initrd-$v"; do
      { [ -e "$ROOT$k" ] || [ -L "$ROOT$k" ]; } && { img=$k; break; }
    done
    if [ -n "$img" ] && osr_initrd_valid "$ROOT$img"; then
      osr_detail "kernel $v: $img is valid"
      continue
    fi
    bad=$((bad + 1))
    osr_detail "kernel $v: initramfs ${img:-missing}$( [ -n "$img" ] && echo ' is empty or not an archive')"
    [ -n "$tool" ] || continue
    [ -d "$ROOT/lib/modules/$v" ] || [ -d "$ROOT/usr/lib/modules/$v" ] ||
      osr_fail "kernel $v: no /lib/modules/$v in the image: an initramfs cannot be built for it"
    case $tool in
      update-initramfs)
        img=/boot/initrd.img-$v
        rm -f "$ROOT$img"
        osr_chroot update-initramfs -c -k "$v" >&2 || osr_fail "update-initramfs -c -k $v failed" ;;
      dracut)
        [ -n "$img" ] || img=/boot/initramfs-$v.img
        osr_chroot dracut --force --kver "$v" "$img" >&2 || osr_fail "dracut --force --kver $v failed" ;;
    esac
    osr_initrd_valid "$ROOT$img" || osr_fail "kernel $v: $tool ran but $img is still not a valid initramfs"
    osr_detail "kernel $v: rebuilt $img with $tool"
    rebuilt=$((rebuilt + 1))
  done
  if [ "$bad" = 0 ]; then
    osr_summary "every kernel has a valid initramfs"
  elif [ -z "$tool" ]; then
    osr_fail "$bad kernel(s) without a valid initramfs, and the image has neither update-initramfs nor dracut"
  else
    osr_summary "rebuilt $rebuilt initramfs with $tool"
  fi
}
