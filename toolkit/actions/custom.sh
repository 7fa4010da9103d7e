# shellcheck shell=bash
# custom: the operator's own script, run on the helper as root.
#
# Why: the runbook ends with "inspect the partition" and whatever the incident needs; this is
# that step, with the same safety as the built-in actions.
# Environment: RECOVERY_ROOT (the image's root, mounted with its /boot etc.: write freely),
#   RECOVERY_MODE (repair|report), RECOVERY_DEVICE (the attached disk), RECOVERY_ROOT_DEVICE,
#   RECOVERY_ROOT_UUID, RECOVERY_ROOT_FSTYPE. To run a command inside the image:
#   chroot "$RECOVERY_ROOT" CMD (bind /dev /proc /sys yourself, or use a built-in action).
# What it changes: whatever the script writes under RECOVERY_ROOT. It writes into a
# copy-on-write view: the driver backs up each file it changed, records the diff, and writes the
# changes to the disk in repair mode only; in report mode they are thrown away.
# Idempotent when the script is (the driver writes nothing when the files end up the same).
osr_register custom view

osr_action_custom() {
  [ -s "$OSR_WORK/custom.sh" ] || osr_fail "no custom script was given (customScript)"
  local rc=0
  RECOVERY_ROOT=$ROOT RECOVERY_MODE=$OSR_MODE RECOVERY_DEVICE=$OSR_DEVICE \
    RECOVERY_ROOT_DEVICE=$OSR_ROOT_DEV RECOVERY_ROOT_UUID=$OSR_ROOT_UUID RECOVERY_ROOT_FSTYPE=$OSR_ROOT_FSTYPE \
    bash "$OSR_WORK/custom.sh" </dev/null || rc=$?
  [ "$rc" = 0 ] || osr_fail "the custom script exited with status $rc"
  osr_summary "custom script ran"
}
