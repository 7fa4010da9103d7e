# Shared settings and helpers for the lab scripts. Sourced, never run.
# Everything the lab creates lives under $LAB (= <repo>/.lab), so `lab:reset` can wipe it all.

LAB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)   # test/lab
REPO=$(cd "$LAB_SRC/../.." && pwd)
LAB=$REPO/.lab
ETC=$LAB/etc          # service configs
LOGS=$LAB/log         # service logs
RUN=$LAB/run          # pid files and sockets
STATE=$LAB/state      # service data (glance store, cinder export, nova state, keystone keys)

# Debian's python with the OpenStack libraries (a pyenv python3 may come first on PATH).
PY=/usr/bin/python3

# Loopback-only lab secrets: fine to hard-code, nothing outside this machine can reach them.
PW=lab-secret
DB_URL_BASE="mysql+pymysql://openstack:$PW@127.0.0.1:3306"
RABBIT_URL="rabbit://openstack:$PW@127.0.0.1:5672/"
KEYSTONE=http://127.0.0.1:5000

# The guests' network: a bridge on the host (gateway) and one netns + veth per guest.
NET_CIDR=10.251.0.0/24
NET_GW=10.251.0.1
NET_BRIDGE=osr-br0

# Process names in start order, with the TCP port each must answer on (0 = none).
INFRA_SERVICES="epmd:4369 rabbitmq:5672 mariadb:3306"
OS_SERVICES="keystone:5000 placement:8778 glance-api:9292 neutron-server:9696 cinder-api:8776
 cinder-scheduler:0 cinder-volume:0 nova-api:8774 nova-conductor:0 nova-scheduler:0 nova-compute:0"
# Ports the lab binds besides the ones above (RabbitMQ's Erlang distribution port).
EXTRA_PORTS="rabbitmq:25672"

# Guests: name, address, host-side veth name (at most 15 characters).
GUESTS="snap-mounter:10.251.0.20:osr-snapm compute-1:10.251.0.250:osr-cmp1"

T0=${LAB_T0:-$(date +%s.%N)}
export LAB_T0=$T0
# The lab's drivers find .lab through this.
export OSR_LAB_DIR=$LAB

# say MESSAGE: progress line with the time since the command started.
say() { printf '[%6.1fs] %s\n' "$(awk "BEGIN{print $(date +%s.%N) - $T0}")" "$*"; }
die() { echo "lab: $*" >&2; exit 1; }

# A pid file holds "PID START": START is the kernel's start time of the process, so a pid that
# was reused by some other process is never taken for ours (and nothing goes by process names).
# proc_start PID: the start time of PID; fails if it is gone or a zombie.
proc_start() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }          # the fields after "(command)"
  set -- $s            # $1 = state, ${20} = start time
  [ "$1" != Z ] && echo "${20}"
}

# pid_of NAME: the recorded pid of NAME (empty if none).
pid_of() { [ -s "$RUN/$1.pid" ] && cut -d' ' -f1 "$RUN/$1.pid" || true; }

# pid_alive NAME: the recorded process (leader of NAME's process group) still runs.
pid_alive() {
  local pid start
  [ -s "$RUN/$1.pid" ] || return 1
  read -r pid start <"$RUN/$1.pid"
  [ -n "$start" ] && [ "$(proc_start "$pid")" = "$start" ]
}

# start_bg NAME CMD...: run CMD in its own session (so its whole process group can be stopped
# later) with output in $LOGS/NAME.out, and record its pid. No-op when NAME already runs.
start_bg() {
  local name=$1; shift
  if pid_alive "$name"; then return 0; fi
  setsid "$@" </dev/null >>"$LOGS/$name.out" 2>&1 &
  echo "$! $(proc_start $!)" >"$RUN/$name.pid"
  say "started $name (pid $!)"
}

# stop_pid NAME...: TERM the process group of each NAME (all at once), wait up to 15 s for them
# to exit, then KILL what is left of those groups.
stop_pid() {
  local name pid start p w waiting=()
  for name in "$@"; do
    [ -s "$RUN/$name.pid" ] || continue
    read -r pid start <"$RUN/$name.pid"
    if pid_alive "$name"; then
      kill -TERM -- "-$pid" 2>/dev/null || true
      waiting+=("$name:$pid")
    else
      # the leader died: kill what is left of its session (e.g. workers still holding its port),
      # i.e. processes of session PID that started after it
      for p in $(ps -o pid= -s "$pid" 2>/dev/null); do
        [ "$(proc_start "$p")" -ge "${start:-0}" ] 2>/dev/null && kill -KILL "$p" 2>/dev/null
      done
    fi
  done
  for _ in $(seq 60); do
    local alive=0
    for w in "${waiting[@]}"; do proc_start "${w#*:}" >/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.25
  done
  for w in "${waiting[@]}"; do
    kill -KILL -- "-${w#*:}" 2>/dev/null || true
    say "stopped ${w%%:*} (pid ${w#*:})"
  done
  for name in "$@"; do rm -f "$RUN/$name.pid"; done
}

# port_owner PORT: "pid command" of the process listening on 127.0.0.1/any PORT, empty if free.
port_owner() {
  ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:(("\([^"]*\)",pid=\([0-9]*\).*/\2 \1/p' | head -n1
}

# pgid_of PID: the process group of PID.
pgid_of() { ps -o pgid= -p "$1" 2>/dev/null | tr -d ' '; }

# wait_http PORT [SECONDS]: until something answers HTTP on 127.0.0.1:PORT.
wait_http() {
  local port=$1 limit=${2:-120}
  for _ in $(seq $((limit * 4))); do
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/" && return 0
    sleep 0.25
  done
  return 1
}

# osenv: the environment every OpenStack service runs with.
osenv() {
  export PYTHONWARNINGS=ignore
  # Our lab drivers (lab_nfs.py, lab_virt.py) are imported from test/lab.
  export PYTHONPATH=$LAB_SRC
  # Compiled bytecode goes under .lab, not into /usr (matters with PYTHONOPTIMIZE).
  export PYTHONPYCACHEPREFIX=$LAB/pycache
}
