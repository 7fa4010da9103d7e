#!/bin/bash
# Start the OpenStack services (each in its own process group, pid in .lab/run) and the guests,
# write clouds.yaml and the openrc files, and return once every API answers and the compute node
# is up. Only what is not running is started, so this also repairs a half-started lab.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
osenv

# Cinder's NFS driver expects its share mounted at <mount base>/<md5 of the share>. Bind-mounting
# the local export there makes os-brick see it in /proc/mounts and skip the (kernel) NFS mount.
share=$(cat "$ETC/cinder/nfs_shares")
nfs_mnt=$STATE/cinder/mnt/$(printf '%s' "$share" | md5sum | cut -d' ' -f1)
mkdir -p "$nfs_mnt"
grep -q " $nfs_mnt " /proc/mounts || mount --bind "$STATE/cinder/export" "$nfs_mnt"

start_bg keystone uwsgi --ini "$ETC/keystone/uwsgi.ini"
# First start: keystone alone (it starts much faster without six services competing for the
# CPUs), then fill it: nova-conductor and nova-scheduler exit on a 401 from placement if their
# service users do not exist yet. Later starts launch everything at once.
if [ ! -f "$STATE/registered-identity" ]; then
  wait_http 5000 180 || die "keystone does not answer; see $LOGS/keystone-uwsgi.log"
  "$PY" "$LAB_SRC/register.py" identity && touch "$STATE/registered-identity"
  say "keystone: service users, catalog, project incidents, user operator"
fi
start_bg placement uwsgi --ini "$ETC/placement/uwsgi.ini"
start_bg glance-api glance-api --config-file "$ETC/glance/glance-api.conf"
# PYTHONOPTIMIZE=1 strips the assert()s of the ML2 "test" mechanism driver: they assume unit-test
# call patterns and fail port binding in real use.
start_bg neutron-server env PYTHONOPTIMIZE=1 neutron-server \
  --config-file "$ETC/neutron/neutron.conf" --config-file "$ETC/neutron/ml2_conf.ini"
for s in cinder-api cinder-scheduler cinder-volume; do
  start_bg $s $s --config-file "$ETC/cinder/cinder.conf"
done
for s in nova-api nova-conductor nova-scheduler; do
  start_bg $s $s --config-file "$ETC/nova/nova.conf"
done
start_bg nova-compute "$PY" "$LAB_SRC/nova_compute.py" --config-file "$ETC/nova/nova.conf" \
  --log-file "$LOGS/nova-compute.log"

wait_http 5000 180 || die "keystone does not answer; see $LOGS/keystone-uwsgi.log"
for p in 8778 9292 9696 8776 8774; do
  wait_http $p 180 || die "nothing answers on port $p; see the logs in $LOGS"
done
say "all APIs answer"
if [ ! -f "$STATE/registered-compute" ]; then
  "$PY" "$LAB_SRC/register.py" compute && touch "$STATE/registered-compute"
  say "flavors m1.tiny, m1.small; volume type nfs"
fi

# ---- the guests (sshd in namespaces; see guest.sh)
for g in $GUESTS; do
  IFS=: read -r name addr veth <<<"$g"
  bash "$LAB_SRC/guest.sh" up "$name" "$addr" "$veth"
done

# ---- credentials for the CLI, the SDK and the tests
cloud() { # name user project
  cat <<EOF
  $1:
    auth:
      auth_url: $KEYSTONE/v3
      username: $2
      password: $PW
      project_name: $3
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
    identity_api_version: 3
EOF
}
openrc() { # user project
  cat <<EOF
export OS_AUTH_URL=$KEYSTONE/v3
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=$1
export OS_PASSWORD=$PW
export OS_PROJECT_NAME=$2
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
export OS_INTERFACE=public
export PYTHONWARNINGS=ignore
EOF
}
{ echo "clouds:"; cloud lab-admin admin admin; cloud lab-member operator incidents; } >"$LAB/clouds.yaml"
openrc admin admin >"$LAB/openrc-admin"
openrc operator incidents >"$LAB/openrc-member"

"$PY" "$LAB_SRC/ready.py" 240 || die "the cloud did not become ready; see the logs in $LOGS"
say "lab is up: compute node ready, every API answers"
