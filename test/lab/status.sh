#!/bin/bash
# Print what of the lab runs: each service and guest (pid, up/down, port), the lab's mounts,
# loop devices, namespaces and the guests' attached volumes. Exit 0 when everything runs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ -d "$LAB" ] || { echo "no lab yet ($LAB): npm run lab:up"; exit 3; }

down=0
row() { # name port
  local state=down pid=- port=${2:-0}
  if pid_alive "$1"; then pid=$(pid_of "$1"); state=up; else down=$((down + 1)); fi
  [ "$port" = 0 ] && port=- 
  printf '  %-22s %-5s pid %-8s port %s\n' "$1" "$state" "$pid" "$port"
}
echo "services:"
for s in $INFRA_SERVICES $OS_SERVICES; do row "${s%%:*}" "${s#*:}"; done
echo "guests:"
for g in $GUESTS; do
  IFS=: read -r name addr _ <<<"$g"
  row "guest-$name" "22 on $addr"
  for f in "$LAB/guests/$name/attached"/*.json; do
    [ -e "$f" ] || continue
    "$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print("      attached %s -> %s (%s)" % (r["volume_id"], r.get("loop", "not plugged"), r.get("link", "-")))' "$f"
  done
done
echo "mounts:"
grep " $LAB/" /proc/mounts | awk '{print "  " $2 " (" $3 ")"}' || echo "  none"
echo "loop devices:"
losetup -n -O NAME,BACK-FILE -l 2>/dev/null | grep " $LAB/" | sed 's/^/  /' || echo "  none"
echo "namespaces:"
ls /run/netns 2>/dev/null | grep '^osr-' | sed 's/^/  /' || echo "  none"
[ -f "$LAB/seed.json" ] && echo "seeded: $LAB/seed.json" || echo "not seeded: npm run lab:seed"
[ "$down" = 0 ]
