#!/bin/bash
# Install Debian's OpenStack (Zed) packages and the disk/guest tools, non-interactively.
# Idempotent: when every package is already installed it returns in well under a second.
# Packages must not start anything (there is no systemd here, and the lab runs its own daemons).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PACKAGES=(
  mariadb-server rabbitmq-server python3-pymysql crudini curl
  keystone glance placement-api python3-osc-placement
  nova-api nova-conductor nova-scheduler nova-common nova-compute
  nova-compute-ironic   # satisfies nova-compute's hypervisor dependency without libvirt/qemu-system
  cinder-api cinder-scheduler cinder-volume
  nfs-common            # cinder's NFS driver checks for mount.nfs (the lab never mounts NFS)
  neutron-server neutron-common python3-openstackclient
  qemu-utils fuse3 fdisk xfsprogs e2fsprogs dosfstools util-linux
  qemu-system-common    # qemu-storage-daemon (a FUSE view of a qcow2 overlay, for the ephemeral seed)
  openssh-server openssh-client iproute2 kmod
  sudo openssl          # the helper guest's default user runs the repair with `sudo -n` (guest.sh)
)

installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null |
  awk '$NF == "installed" {print $1}' || true)
missing=()
for p in "${PACKAGES[@]}"; do grep -qx "$p" <<<"$installed" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  say "packages already installed"
  exit 0
fi
say "installing ${#missing[@]} missing packages (log: $LOGS/install.log)"

# Packages must start nothing: policy-rc.d answering 101 makes invoke-rc.d skip every start.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
fi

# The OpenStack packages ask (through debconf) to set up databases, RabbitMQ and endpoints:
# the lab does all of that itself, so every answer is "no".
for p in keystone glance glance-api glance-common placement-api placement-common nova-api nova-common \
         cinder-common cinder-api neutron-common neutron-server neutron-api; do
  debconf-set-selections <<EOF
$p $p/configure_db boolean false
$p $p/register-endpoint boolean false
$p $p/dbconfig-install boolean false
$p $p/dbconfig-upgrade boolean false
$p $p/configure_rabbit boolean false
$p $p/configure_ksat boolean false
EOF
done
echo "keystone keystone/create-admin-tenant boolean false" | debconf-set-selections

mkdir -p "$LOGS"   # run on its own (not from lab.sh up), on a machine that has no .lab yet
export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -q -y -o DPkg::Lock::Timeout=900 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
"${APT[@]}" update >>"$LOGS/install.log" 2>&1
# Without recommends: about half the packages (no libvirt, qemu-system, libguestfs, X libraries);
# everything the lab runs is a hard dependency of the packages above.
"${APT[@]}" install --no-install-recommends "${PACKAGES[@]}" >>"$LOGS/install.log" 2>&1 \
  || die "apt-get install failed; see $LOGS/install.log"
say "packages installed"
