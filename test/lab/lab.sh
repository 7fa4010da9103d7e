#!/bin/bash
# The lab cloud: a real OpenStack (Debian's Zed packages) on 127.0.0.1, all state in <repo>/.lab.
#
#   lab.sh up      install (first time), configure, start; returns when the cloud is usable
#   lab.sh down    stop everything the lab started; keep its state
#   lab.sh reset   down, then wipe .lab
#   lab.sh status  what runs
#   lab.sh seed    (re)create the seeded incidents in project "incidents"
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# The lab needs root (daemons, mounts, namespaces) and apt (Debian's OpenStack packages).
preflight() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || [ ! -f /etc/debian_version ]; then
    echo "the lab needs root and apt on Debian or Ubuntu; the fast tests still run" >&2
    exit 2
  fi
}

# Before changing anything: every port the lab will bind must be free, or be ours already.
check_ports() {
  local s name port owner pid pgid bad=0
  for s in $INFRA_SERVICES $OS_SERVICES $EXTRA_PORTS; do
    name=${s%%:*} port=${s#*:}
    [ "$port" = 0 ] && continue
    owner=$(port_owner "$port")
    [ -n "$owner" ] || continue
    pid=${owner%% *} pgid=$(pgid_of "$pid")
    if [ -n "$pgid" ] && [ "$pgid" = "$(pid_of "$name")" ]; then
      continue  # ours (a live service, or what is left of a half-dead one: start restarts it)
    fi
    echo "lab: port $port (for $name) is taken by pid $pid (${owner#* }); stop it, or free the port. Nothing was changed." >&2
    bad=1
  done
  return $bad
}

# The guests' subnet must not be in use on this machine by anything but the lab's bridge.
check_network() {
  local other
  other=$(ip -o -4 addr show to "$NET_CIDR" 2>/dev/null | awk -v br="$NET_BRIDGE" '$2 != br {print $2}' | head -n1)
  if [ -n "$other" ]; then
    echo "lab: the guests' subnet $NET_CIDR is already used by interface $other. Nothing was changed." >&2
    return 1
  fi
}

# Half-started lab: a service whose leader died but whose workers still hold its port is stopped
# completely, so that start.sh starts it again cleanly.
reap_half_dead() {
  local s name
  for s in $INFRA_SERVICES $OS_SERVICES; do
    name=${s%%:*}
    if [ -s "$RUN/$name.pid" ] && ! pid_alive "$name"; then
      say "$name had died: restarting it"
      stop_pid "$name"
    fi
  done
}

up() {
  preflight
  check_ports || exit 1
  check_network || exit 1
  mkdir -p "$LAB" "$LOGS" "$RUN"
  say "lab: $LAB"
  bash "$LAB_SRC/install.sh"
  reap_half_dead
  bash "$LAB_SRC/infra.sh"
  bash "$LAB_SRC/configure.sh"
  bash "$LAB_SRC/start.sh"
  say "clouds: $LAB/clouds.yaml (lab-admin, lab-member); openrc: $LAB/openrc-admin, $LAB/openrc-member"
}

case ${1:-} in
  up) up ;;
  down) preflight; bash "$LAB_SRC/stop.sh" ;;
  reset) preflight; bash "$LAB_SRC/stop.sh"; rm -rf "$LAB"; say "wiped $LAB" ;;
  status) bash "$LAB_SRC/status.sh" ;;
  seed) preflight; bash "$LAB_SRC/seed.sh" ;;
  *) sed -n '2,9s/^# \{0,1\}//p' "$0"; exit 2 ;;
esac
