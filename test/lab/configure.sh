#!/bin/bash
# Write every service's config under .lab/etc (nothing in /etc is edited), and on the first run
# create the databases, run every db sync, set up nova's cells and bootstrap keystone.
# Configs are rewritten on every run (cheap); the database work happens once (marker file).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
mkdir -p "$ETC"/{keystone,glance,placement,nova,cinder,neutron} "$LOGS" "$STATE"/{locks,neutron} \
  "$STATE"/keystone "$STATE"/glance/{images,staging,tasks} "$STATE"/nova/instances \
  "$STATE"/cinder/{export,mnt}

db() { echo "$DB_URL_BASE/$1?charset=utf8"; }

# [keystone_authtoken] for a service that validates tokens as user $1.
authtoken() {
  cat <<EOF
[keystone_authtoken]
www_authenticate_uri = $KEYSTONE
auth_url = $KEYSTONE
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $PW
service_token_roles = service
service_token_roles_required = true
EOF
}
# [$1] credentials used to call another service as user $2.
svcauth() {
  cat <<EOF
[$1]
auth_url = $KEYSTONE
auth_type = password
project_domain_name = Default
user_domain_name = Default
region_name = RegionOne
project_name = service
username = $2
password = $PW
EOF
}
# uwsgi in front of a WSGI script: port $1, script $2, env line $3, log name $4.
uwsgi_ini() {
  cat <<EOF
[uwsgi]
plugins = python3
http-socket = 127.0.0.1:$1
wsgi-file = $2
master = true
processes = 1
threads = 8
lazy-apps = true
buffer-size = 65535
# without it keystoneauth's POSTs fail with ConnectionResetError (devstack sets it too)
add-header = Connection: close
enable-threads = true
die-on-term = true
env = $3
logto = $LOGS/$4.log
EOF
}

# ---------------- keystone (fernet tokens; uwsgi on :5000)
cat >"$ETC/keystone/keystone.conf" <<EOF
[DEFAULT]
log_dir = $LOGS
[database]
connection = $(db keystone)
[token]
provider = fernet
[fernet_tokens]
key_repository = $STATE/keystone/fernet-keys
[fernet_receipts]
key_repository = $STATE/keystone/fernet-keys
[credential]
key_repository = $STATE/keystone/credential-keys
EOF
uwsgi_ini 5000 /usr/bin/keystone-wsgi-public "OS_KEYSTONE_CONFIG_FILES=$ETC/keystone/keystone.conf" \
  keystone-uwsgi >"$ETC/keystone/uwsgi.ini"

# ---------------- placement (uwsgi on :8778)
cat >"$ETC/placement/placement.conf" <<EOF
[DEFAULT]
log_dir = $LOGS
[placement_database]
connection = $(db placement)
[api]
auth_strategy = keystone
$(authtoken placement)
EOF
uwsgi_ini 8778 /usr/bin/placement-api "OS_PLACEMENT_CONFIG_DIR=$ETC/placement" \
  placement-uwsgi >"$ETC/placement/uwsgi.ini"

# ---------------- glance (file store under .lab)
cat >"$ETC/glance/glance-api.conf" <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = 9292
workers = 1
log_file = $LOGS/glance-api.log
enabled_backends = file:file
image_size_cap = 10737418240
[database]
connection = $(db glance)
$(authtoken glance)
[paste_deploy]
flavor = keystone
config_file = /etc/glance/glance-api-paste.ini
[glance_store]
default_backend = file
[file]
filesystem_store_datadir = $STATE/glance/images
[os_glance_staging_store]
filesystem_store_datadir = $STATE/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $STATE/glance/tasks
[oslo_concurrency]
lock_path = $STATE/locks
[oslo_policy]
enforce_new_defaults = false
EOF

# ---------------- nova (fake hypervisor + the lab's guest driver: lab_virt.py, nova_compute.py)
cp /etc/nova/api-paste.ini "$ETC/nova/api-paste.ini"
cat >"$ETC/nova/nova.conf" <<EOF
[DEFAULT]
# neutron's ML2 "test" mechanism driver binds ports only for this host name
host = host-ovs-no_filter
my_ip = 127.0.0.1
transport_url = $RABBIT_URL
compute_driver = lab_virt.LabGuestDriver
state_path = $STATE/nova
instances_path = $STATE/nova/instances
log_dir = $LOGS
enabled_apis = osapi_compute
osapi_compute_listen = 127.0.0.1
osapi_compute_listen_port = 8774
osapi_compute_workers = 1
# no L2 agent: ports never report "plugged"
vif_plugging_is_fatal = false
vif_plugging_timeout = 0
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = $ETC/nova/api-paste.ini
[api_database]
connection = $(db nova_api)
[database]
connection = $(db nova)
$(authtoken nova)
$(svcauth service_user nova)
# the volume-detach security fix (OSSA-2023-003) needs nova's service token
send_service_user_token = true
$(svcauth placement placement)
$(svcauth neutron neutron)
$(svcauth cinder cinder)
os_region_name = RegionOne
[glance]
region_name = RegionOne
[conductor]
workers = 1
[scheduler]
workers = 1
# finds the compute node without a manual "nova-manage cell_v2 discover_hosts"
discover_hosts_in_cells_interval = 5
[vnc]
enabled = false
[oslo_concurrency]
lock_path = $STATE/locks
[oslo_messaging_notifications]
driver = noop
EOF

# ---------------- cinder (NFS driver on a local directory, see lab_nfs.py and start.sh)
echo "127.0.0.1:$STATE/cinder/export" >"$ETC/cinder/nfs_shares"
cat >"$ETC/cinder/cinder.conf" <<EOF
[DEFAULT]
transport_url = $RABBIT_URL
auth_strategy = keystone
my_ip = 127.0.0.1
host = cinder-host
osapi_volume_listen = 127.0.0.1
osapi_volume_listen_port = 8776
osapi_volume_workers = 1
state_path = $STATE/cinder
log_dir = $LOGS
api_paste_config = /etc/cinder/api-paste.ini
rootwrap_config = /etc/cinder/rootwrap.conf
enabled_backends = nfs1
default_volume_type = nfs
glance_api_servers = http://127.0.0.1:9292
[nfs1]
volume_driver = lab_nfs.LabNfsDriver
volume_backend_name = nfs1
nfs_shares_config = $ETC/cinder/nfs_shares
nfs_mount_point_base = $STATE/cinder/mnt
nfs_sparsed_volumes = true
nfs_qcow2_volumes = false
nfs_snapshot_support = true
nas_secure_file_operations = false
nas_secure_file_permissions = false
[database]
connection = $(db cinder)
$(authtoken cinder)
$(svcauth nova nova)
[oslo_concurrency]
lock_path = $STATE/locks
[oslo_messaging_notifications]
driver = noop
EOF

# ---------------- neutron (ML2 with the "test" mechanism driver shipped in python3-neutron; no agents)
cat >"$ETC/neutron/neutron.conf" <<EOF
[DEFAULT]
core_plugin = ml2
service_plugins =
auth_strategy = keystone
transport_url = $RABBIT_URL
bind_host = 127.0.0.1
bind_port = 9696
api_workers = 1
rpc_workers = 1
rpc_state_report_workers = 0
state_path = $STATE/neutron
log_dir = $LOGS
api_paste_config = /etc/neutron/api-paste.ini
dhcp_agent_notification = false
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
allow_overlapping_ips = true
[database]
connection = $(db neutron)
$(authtoken neutron)
$(svcauth nova nova)
[oslo_concurrency]
lock_path = $STATE/locks
[agent]
root_helper = sudo neutron-rootwrap /etc/neutron/rootwrap.conf
EOF
cat >"$ETC/neutron/ml2_conf.ini" <<EOF
[ml2]
type_drivers = local,flat,vlan,vxlan
tenant_network_types = local
mechanism_drivers = test
extension_drivers = port_security
[ml2_type_flat]
flat_networks = *
[securitygroup]
enable_security_group = true
firewall_driver = noop
EOF

[ -f "$STATE/db-synced" ] && exit 0

# ---------------- databases, schema, cells, keystone bootstrap (first run only)
say "creating databases and running db syncs (about a minute)"
mariadb --no-defaults -S "$RUN/mysqld.sock" -uroot <<EOF
CREATE DATABASE IF NOT EXISTS keystone; CREATE DATABASE IF NOT EXISTS glance;
CREATE DATABASE IF NOT EXISTS placement; CREATE DATABASE IF NOT EXISTS nova_api;
CREATE DATABASE IF NOT EXISTS nova; CREATE DATABASE IF NOT EXISTS nova_cell0;
CREATE DATABASE IF NOT EXISTS cinder; CREATE DATABASE IF NOT EXISTS neutron;
CREATE USER IF NOT EXISTS 'openstack'@'127.0.0.1' IDENTIFIED BY '$PW';
GRANT ALL PRIVILEGES ON *.* TO 'openstack'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF
osenv
K="keystone-manage --config-file $ETC/keystone/keystone.conf"
N="nova-manage --config-file $ETC/nova/nova.conf"
keystone_db() {
  $K db_sync
  $K fernet_setup --keystone-user root --keystone-group root
  $K credential_setup --keystone-user root --keystone-group root
  $K bootstrap --bootstrap-password "$PW" --bootstrap-region-id RegionOne \
    --bootstrap-admin-url "$KEYSTONE/v3/" --bootstrap-internal-url "$KEYSTONE/v3/" \
    --bootstrap-public-url "$KEYSTONE/v3/"
}
nova_db() {
  $N api_db sync
  $N cell_v2 map_cell0 --database_connection "$(db nova_cell0)"
  $N cell_v2 list_cells | grep -q ' cell1 ' || $N cell_v2 create_cell --name cell1
  $N db sync
}
# The services' schemas are independent: sync them in parallel (about half the time on 2 cores).
declare -A syncs
sync_bg() { local name=$1; shift; "$@" >"$LOGS/db-sync-$name.log" 2>&1 & syncs[$name]=$!; }
sync_bg keystone keystone_db
sync_bg glance glance-manage --config-file "$ETC/glance/glance-api.conf" db_sync
sync_bg placement placement-manage --config-dir "$ETC/placement" db sync
sync_bg nova nova_db
sync_bg cinder cinder-manage --config-file "$ETC/cinder/cinder.conf" db sync
sync_bg neutron neutron-db-manage --config-file "$ETC/neutron/neutron.conf" \
  --config-file "$ETC/neutron/ml2_conf.ini" upgrade head
for name in "${!syncs[@]}"; do
  wait "${syncs[$name]}" || die "the $name db sync failed; see $LOGS/db-sync-$name.log"
done
touch "$STATE/db-synced"
say "databases ready"
