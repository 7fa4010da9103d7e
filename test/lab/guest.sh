#!/bin/bash
# A lab "guest" plays the operating system of a server (or of a compute host): a real sshd in its
# own network namespace (address on the lab bridge), mount namespace and hostname. It shares the
# host's filesystem and tools, but its /dev is .lab/guests/<name>/dev, so the block devices and
# /dev/disk/by-id links that lab_guest.py puts there (when Nova attaches a volume to the server of
# that name) show only inside this guest, as on a real VM.
#
# usage: guest.sh up NAME ADDRESS VETH | down NAME | pids NAME
set -euo pipefail
source "$(dirname "$0")/lib.sh"

cmd=$1 name=$2
G=$LAB/guests/$name
NS=osr-$name

# Every process inside the guest: in its network namespace, or sharing its mount namespace.
guest_pids() {
  local leader mntns p
  ip netns pids "$NS" 2>/dev/null || true
  pid_alive "guest-$name" || return 0
  leader=$(pid_of "guest-$name")
  mntns=$(readlink "/proc/$leader/ns/mnt" 2>/dev/null) || return 0
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$mntns" ] && echo "${p#/proc/}"
  done
  return 0
}

ensure_bridge() {
  ip link show "$NET_BRIDGE" >/dev/null 2>&1 && return 0
  ip link add "$NET_BRIDGE" type bridge
  ip addr add "$NET_GW/${NET_CIDR#*/}" dev "$NET_BRIDGE"
  ip link set "$NET_BRIDGE" up
}

# The guest's /dev: the basic character devices, devpts/shm mount points, and disk/by-id.
make_dev() {
  local d=$G/dev
  mkdir -p "$d/pts" "$d/shm" "$d/disk/by-id"
  mk() { [ -e "$d/$1" ] || mknod -m "$2" "$d/$1" c "$3" "$4"; }
  mk null 666 1 3; mk zero 666 1 5; mk full 666 1 7; mk random 666 1 8; mk urandom 666 1 9
  mk tty 666 5 0; mk fuse 666 10 229; mk loop-control 660 10 237
  ln -sfn pts/ptmx "$d/ptmx"; ln -sfn /proc/self/fd "$d/fd"
  ln -sfn /proc/self/fd/0 "$d/stdin"; ln -sfn /proc/self/fd/1 "$d/stdout"
  ln -sfn /proc/self/fd/2 "$d/stderr"
}

# The helper's accounts, as on a cloud image: root (key only) and a default user with passwordless
# sudo, `cloud-user`, which the seed and the tests log in as; plus `pw-user`, whose sudo asks for a
# password (what a recovery must refuse clearly, since it runs `sudo -n`). The host's own account
# files are never edited: the guest gets private copies of /etc/passwd, shadow, group, hosts and
# /etc/sudoers.d, bind-mounted over the host's inside its mount namespace only (lines of $G/binds).
# The uids are the first ones >= 1000 the host does not use. Every login reads the one
# $G/authorized_keys (the seed's key): sshd reads it as the user, so it is world-readable.
PW_USER_PASSWORD=lab-password   # pw-user's, for whoever wants to try sudo by hand
helper_users() {
  local e=$G/etc uid
  rm -rf "$e" && mkdir -p "$e/sudoers.d" "$G/home"
  cp /etc/passwd "$e/passwd"; cp /etc/group "$e/group"
  cp /etc/shadow "$e/shadow" 2>/dev/null || : >"$e/shadow"
  chmod 640 "$e/shadow"
  { cat /etc/hosts; printf '127.0.1.1 %s\n' "$name"; } >"$e/hosts"   # sudo resolves the host name
  uid=1000
  for u in cloud-user pw-user; do
    while getent passwd "$uid" >/dev/null || getent group "$uid" >/dev/null; do uid=$((uid + 1)); done
    echo "$u:x:$uid:$uid:$u:$G/home/$u:/bin/bash" >>"$e/passwd"
    echo "$u:x:$uid:" >>"$e/group"
    mkdir -p "$G/home/$u" && chown "$uid:$uid" "$G/home/$u" && chmod 755 "$G/home/$u"
    uid=$((uid + 1))
  done
  # shadow: `*` (no password, key login allowed; `!` would be "locked", which sshd refuses without PAM)
  echo "cloud-user:*:20000:0:99999:7:::" >>"$e/shadow"
  echo "pw-user:$(openssl passwd -6 "$PW_USER_PASSWORD"):20000:0:99999:7:::" >>"$e/shadow"
  # what cloud-init writes for a cloud image's default user, and an ordinary sudoer
  echo "cloud-user ALL=(ALL) NOPASSWD:ALL" >"$e/sudoers.d/90-cloud-init-users"
  echo "pw-user ALL=(ALL:ALL) ALL" >"$e/sudoers.d/91-pw-user"
  chmod 440 "$e/sudoers.d"/*
  for f in passwd shadow group hosts sudoers.d; do echo "$e/$f /etc/$f"; done >>"$G/binds"
  echo cloud-user >"$G/login-user"
  echo pw-user >"$G/password-sudoer"
}

up() {
  local addr=$1 veth=$2
  mkdir -p "$G/ssh" "$G/attached" "$LAB/keys"
  [ -f "$G/ssh/ssh_host_ed25519_key" ] ||
    ssh-keygen -q -t ed25519 -N '' -C "$name-host" -f "$G/ssh/ssh_host_ed25519_key"
  touch "$G/authorized_keys" && chmod 644 "$G/authorized_keys"   # the seed writes the login key
  echo "$addr" >"$G/address"
  # A guest that runs keeps its files: its bind mounts hold the inodes of its private /etc, and
  # rewriting them (helper_users starts afresh) would leave it on deleted copies (no sudoers).
  if pid_alive "guest-$name"; then
    guest_known_hosts
    return 0
  fi
  # compute-1 is a simulated compute host: its /var/lib/nova/instances is a dir under .lab
  : >"$G/binds"
  echo root >"$G/login-user"   # who the seed and the tests log in as
  rm -f "$G/password-sudoer"
  if [ "$name" = compute-1 ]; then
    mkdir -p "$G/instances"
    echo "$G/instances /var/lib/nova/instances" >>"$G/binds"
  fi
  if [ "$name" = snap-mounter ]; then helper_users; fi
  make_dev
  cat >"$G/ssh/sshd_config" <<EOF
Port 22
ListenAddress $addr
HostKey $G/ssh/ssh_host_ed25519_key
PidFile none
AuthorizedKeysFile $G/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# the keys live under .lab, whose owner and modes sshd would otherwise check
StrictModes no
PrintMotd no
MaxStartups 50
MaxSessions 50
Subsystem sftp /usr/lib/openssh/sftp-server
SetEnv OSR_LAB_GUEST=$name
EOF
  mkdir -p /run/sshd   # sshd's compiled-in privilege-separation directory
  /usr/sbin/sshd -t -f "$G/ssh/sshd_config"

  ensure_bridge
  [ -e "/run/netns/$NS" ] || ip netns add "$NS"
  if ! ip link show "$veth" >/dev/null 2>&1; then
    ip link add "$veth" type veth peer name eth0 netns "$NS"
    ip link set "$veth" master "$NET_BRIDGE" up
    ip -n "$NS" addr add "$addr/${NET_CIDR#*/}" dev eth0
    ip -n "$NS" link set eth0 up
    ip -n "$NS" link set lo up
  fi
  echo "$veth" >"$G/veth"

  # ip netns exec and unshare both exec, so the recorded pid is the sshd itself.
  start_bg "guest-$name" ip netns exec "$NS" unshare --mount --uts --propagation slave \
    /bin/bash "$LAB_SRC/guest-init.sh" "$G"
  for _ in $(seq 40); do
    ip netns exec "$NS" ss -Hltn "sport = :22" | grep -q . && break; sleep 0.25
  done
  ip netns exec "$NS" ss -Hltn "sport = :22" | grep -q . || die "guest $name: sshd does not listen; see $LOGS/guest-$name.out"
  # volumes Nova still has attached to this guest's server come back after a lab:down/up
  "$PY" "$LAB_SRC/lab_guest.py" restore "$name"
  guest_known_hosts
}

# one known_hosts for every guest, for clients that pin host keys
guest_known_hosts() {
  for k in "$LAB"/guests/*/ssh/ssh_host_ed25519_key.pub; do
    printf '%s %s\n' "$(cat "$(dirname "$(dirname "$k")")/address")" "$(cut -d' ' -f1,2 "$k")"
  done >"$LAB/known_hosts"
}

down() {
  local pids
  pids=$(guest_pids | sort -u | tr '\n' ' ')
  stop_pid "guest-$name"
  # then whatever still runs inside (sessions, mounts' users): they belong to the guest
  # shellcheck disable=SC2086
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
  # loop devices go, the record of what Nova has attached stays (restored by the next `up`)
  [ -d "$G" ] && "$PY" "$LAB_SRC/lab_guest.py" release "$name"
  if [ -e "/run/netns/$NS" ]; then
    ip netns del "$NS"   # also removes the veth pair
    say "removed namespace $NS"
  fi
}

case $cmd in
  up) up "$3" "$4" ;;
  down) down ;;
  pids) guest_pids | sort -un ;;
  *) die "usage: guest.sh up NAME ADDRESS VETH | down NAME | pids NAME" ;;
esac
