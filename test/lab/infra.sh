#!/bin/bash
# Start the lab's MariaDB and RabbitMQ: private data dirs under .lab, loopback only, run by hand
# (no systemd, nothing in /etc used). Idempotent: what already runs is left alone.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
mkdir -p "$LOGS" "$RUN" "$ETC/rabbitmq" "$LAB/rabbitmq"

# ---- MariaDB: its own datadir and socket; --no-defaults keeps /etc/mysql out of it.
SQL_SOCK=$RUN/mysqld.sock
if [ ! -d "$LAB/mysql/mysql" ]; then
  say "initialising MariaDB datadir"
  mariadb-install-db --no-defaults --user=root --datadir="$LAB/mysql" \
    --auth-root-authentication-method=socket --skip-test-db >"$LOGS/mariadb-install.log" 2>&1
fi
start_bg mariadb /usr/sbin/mariadbd --no-defaults --user=root --datadir="$LAB/mysql" \
  --socket="$SQL_SOCK" --pid-file="$LAB/mysql/mariadbd.pid" --port=3306 --bind-address=127.0.0.1 \
  --skip-name-resolve --skip-log-bin --max-connections=1000 --innodb-buffer-pool-size=256M \
  --innodb-flush-log-at-trx-commit=2 --log-error="$LOGS/mariadb.err"

# ---- RabbitMQ: run the real server script as root with HOME (Erlang cookie), data and logs in .lab.
cat >"$ETC/rabbitmq/env" <<EOF
export HOME=$LAB/rabbitmq
export RABBITMQ_NODENAME=rabbit@localhost
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=5672
export RABBITMQ_DIST_PORT=25672
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_MNESIA_BASE=$LAB/rabbitmq/mnesia
export RABBITMQ_LOG_BASE=$LOGS/rabbitmq
export RABBITMQ_PID_FILE=$LAB/rabbitmq/beam.pid
export RABBITMQ_ENABLED_PLUGINS_FILE=$ETC/rabbitmq/enabled_plugins
export RABBITMQ_CONF_ENV_FILE=$ETC/rabbitmq/env-empty
EOF
echo '[].' >"$ETC/rabbitmq/enabled_plugins"
: >"$ETC/rabbitmq/env-empty"
source "$ETC/rabbitmq/env"
rmq() { /usr/lib/rabbitmq/bin/rabbitmqctl -q -n rabbit@localhost "$@"; }

# epmd (Erlang's name server) is started by us in the foreground, so it has a pid we own;
# otherwise Erlang would start a daemonised one that outlives `lab:down`.
start_bg epmd /usr/bin/epmd -address 127.0.0.1
rabbit_was_up=0
pid_alive rabbitmq && rabbit_was_up=1
start_bg rabbitmq /usr/lib/rabbitmq/bin/rabbitmq-server

for _ in $(seq 120); do
  mariadb-admin --no-defaults -S "$SQL_SOCK" ping >/dev/null 2>&1 && break; sleep 0.5
done
mariadb-admin --no-defaults -S "$SQL_SOCK" ping >/dev/null 2>&1 || die "MariaDB did not start; see $LOGS/mariadb.err"
if [ $rabbit_was_up = 0 ]; then   # each rabbitmqctl call costs about a second
  for _ in $(seq 120); do rmq await_startup >/dev/null 2>&1 && break; sleep 1; done
  rmq await_startup >/dev/null 2>&1 || die "RabbitMQ did not start; see $LOGS/rabbitmq.out"
  rmq list_users 2>/dev/null | grep -q '^openstack' || rmq add_user openstack "$PW" >/dev/null
  rmq set_permissions openstack ".*" ".*" ".*" >/dev/null
fi
say "MariaDB and RabbitMQ up"
