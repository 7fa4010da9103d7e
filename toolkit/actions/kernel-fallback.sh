# shellcheck shell=bash
# kernel-fallback: make GRUB boot the previous installed kernel by default.
#
# Why: an update that installed a kernel which panics, lacks a driver or has no initrd leaves an
# instance that fails before userspace; the kernel before it usually still boots.
# What it changes:
#   - BLS systems (RHEL/Fedora: /boot/loader/entries): saved_entry=<that kernel's entry> in the
#     grubenv, and GRUB_DEFAULT=saved in /etc/default/grub;
#   - grub.cfg systems (Debian/Ubuntu): the fixed `set default="..."` of grub.cfg and
#     GRUB_DEFAULT in /etc/default/grub (so a later update-grub keeps the choice) both name the
#     previous kernel's menu entry ("<submenu id>><entry id>").
# "Previous" = the second newest version among /boot/vmlinuz-* (rescue kernels excluded).
# Idempotent: when the default already names that kernel, nothing is written.
osr_register kernel-fallback view

osr_grubenv_set() {        # file key value: rewrite a GRUB environment block (exactly 1024 bytes)
  local f=$1 key=$2 val=$3 body
  body=$(
    if [ -f "$f" ]; then grep -v -e '^#' -e "^$key=" "$f" | tr -d '#' | grep -v '^$' || true; fi
    printf '%s=%s\n' "$key" "$val"
  )
  body="# GRUB Environment Block
$body
"
  [ "${#body}" -le 1024 ] || osr_fail "$f: the GRUB environment block would exceed 1024 bytes"
  { printf '%s' "$body"; printf '%*s' $((1024 - ${#body})) '' | tr ' ' '#'; } >"$f.new"
  if [ -f "$f" ] && cmp -s "$f" "$f.new"; then rm -f "$f.new"; return 0; fi
  cat "$f.new" >"$f"; rm -f "$f.new"
  osr_detail "${f#"$ROOT"}: $key=$val"
}

osr_default_grub_set() {   # GRUB_DEFAULT=value in /etc/default/grub (added when missing)
  local f=$ROOT/etc/default/grub val=$1 line="GRUB_DEFAULT=$1"
  [ -f "$f" ] || { osr_detail "no /etc/default/grub: a later grub-mkconfig will not keep this choice"; return 0; }
  grep -qxF "$line" "$f" && return 0
  if grep -q '^GRUB_DEFAULT=' "$f"; then
    sed "s|^GRUB_DEFAULT=.*|$line|" "$f" >"$f.new"
  else
    { cat "$f"; printf '%s\n' "$line"; } >"$f.new"
  fi
  cat "$f.new" >"$f"; rm -f "$f.new"
  osr_detail "/etc/default/grub: GRUB_DEFAULT=$val"
}

osr_action_kernel_fallback() {
  local boot=$ROOT/boot prev newest entry id cfg sub default env
  local -a kernels=()
  mapfile -t kernels < <(for f in "$boot"/vmlinuz-*; do [ -f "$f" ] && echo "${f##*/vmlinuz-}"; done | grep -v rescue | sort -V)
  [ "${#kernels[@]}" -ge 2 ] || osr_skip "only ${#kernels[@]} kernel(s) in /boot (${kernels[*]:-none}): nothing to fall back to"
  newest=${kernels[-1]}; prev=${kernels[-2]}
  osr_detail "kernels: ${kernels[*]}; newest $newest, falling back to $prev"
  if compgen -G "$boot/loader/entries/*.conf" >/dev/null; then
    entry=$(grep -l "^linux[[:space:]].*vmlinuz-$prev\([[:space:]]\|$\)" "$boot"/loader/entries/*.conf | head -n1 || true)
    [ -n "$entry" ] || osr_fail "no BLS entry in /boot/loader/entries for vmlinuz-$prev"
    id=$(basename "$entry" .conf)
    env=$boot/grub2/grubenv; [ -d "$boot/grub2" ] || env=$boot/grub/grubenv
    osr_grubenv_set "$env" saved_entry "$id"
    osr_default_grub_set saved
    osr_summary "default boot entry: $id (kernel $prev)"
    return 0
  fi
  cfg=$boot/grub/grub.cfg; [ -f "$cfg" ] || cfg=$boot/grub2/grub.cfg
  [ -f "$cfg" ] || osr_fail "neither /boot/loader/entries nor a grub.cfg: cannot choose the default kernel"
  # menuentry 'Debian GNU/Linux, with Linux 6.1.0-9' ... $menuentry_id_option 'gnulinux-6.1.0-9-advanced-UUID'
  id=$(grep -o "\$menuentry_id_option '[^']*-$prev-advanced-[^']*'" "$cfg" | head -n1 | cut -d"'" -f2 || true)
  [ -n "$id" ] || osr_fail "no menu entry for kernel $prev in ${cfg#"$ROOT"}; run the grub action first"
  sub=$(grep -o "^submenu .*\$menuentry_id_option '[^']*'" "$cfg" | head -n1 | sed "s/.*'\([^']*\)'\$/\1/" || true)
  default=$id; [ -n "$sub" ] && default="$sub>$id"
  if grep -q "^[[:space:]]*set default=\"[^\"\$]*\"" "$cfg"; then
    sed "s|^\([[:space:]]*\)set default=\"[^\"\$]*\"|\1set default=\"$default\"|" "$cfg" >"$cfg.new"
    if ! cmp -s "$cfg" "$cfg.new"; then
      cat "$cfg.new" >"$cfg"
      osr_detail "${cfg#"$ROOT"}: set default=\"$default\""
    fi
    rm -f "$cfg.new"
  else
    osr_fail "${cfg#"$ROOT"} has no fixed 'set default=\"...\"' line to change"
  fi
  osr_default_grub_set "\"$default\""
  osr_summary "default boot entry: $default (kernel $prev)"
}
