# shellcheck shell=bash
# selinux-relabel: have the image relabel its files at the next boot.
#
# Why: files written from outside (by the other actions, or by the operator's script) may carry
# no SELinux label or a wrong one; with SELinux enforcing, a mislabelled /etc/fstab or initrd can
# stop the boot or a service. /.autorelabel makes the guest relabel everything once at boot.
# What it changes: creates the empty file /.autorelabel, only when /etc/selinux/config says
# SELINUX=enforcing (nothing to back up: deleting /.autorelabel undoes it).
# Idempotent: when /.autorelabel exists, nothing is written.
osr_register selinux-relabel view

osr_action_selinux_relabel() {
  local cfg=$ROOT/etc/selinux/config mode
  [ -f "$cfg" ] || osr_skip "no /etc/selinux/config: the image does not use SELinux"
  mode=$(sed -n 's/^[[:space:]]*SELINUX[[:space:]]*=[[:space:]]*"\{0,1\}\([A-Za-z]*\).*/\1/p' "$cfg" | tail -n1)
  [ "${mode,,}" = enforcing ] || osr_skip "SELinux is '${mode:-unset}' in the image, not enforcing: no relabel needed"
  if [ -e "$ROOT/.autorelabel" ]; then
    osr_summary "a relabel is already scheduled (/.autorelabel exists)"
    return 0
  fi
  : >"$ROOT/.autorelabel"
  osr_detail "SELinux is enforcing in the image: created /.autorelabel, the first boot relabels all files"
  osr_summary "relabel scheduled for the next boot"
}
