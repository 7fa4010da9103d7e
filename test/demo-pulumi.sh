#!/usr/bin/env bash
# The demo with a real Pulumi CLI: the same commands an operator runs (README "An incident").
set -euo pipefail
cd "$(dirname "$0")/.."
export PULUMI_BACKEND_URL="file://$PWD/.lab/pulumi-state" PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-lab-demo}"
export OS_CLIENT_CONFIG_FILE="$PWD/.lab/clouds.yaml"
mkdir -p .lab/pulumi-state
helper_ip=$(OS_CLOUD=lab-member openstack server show snap-mounter -f json -c addresses | node -e 'const a=JSON.parse(require("fs").readFileSync(0,"utf8")).addresses; console.log(Object.values(a)[0][0])')
host_key=$(awk -v ip="$helper_ip" '$1==ip {print $2" "$3}' .lab/known_hosts)
pulumi stack select --create demo-web-1
pulumi config set openstack:cloud lab-member
pulumi config set incident INC0042
pulumi config set server web-1
pulumi config set --path helper.server snap-mounter
pulumi config set --path helper.sshKeyFile "$PWD/.lab/keys/snap-mounter_ed25519"
pulumi config set --path helper.hostKey "$host_key"
# the operator's own check once the replacement is up (as LAB_VERIFY in test/support/incident.ts)
pulumi config set verify 'openstack --os-cloud lab-member server show "$RECOVERED_SERVER_ID" -f value -c status | grep -qx ACTIVE && echo "$RECOVERED_SERVER_NAME ACTIVE at $RECOVERED_IP, root $REPAIRED_VOLUME_ID"'
pulumi preview --diff
pulumi up --yes
pulumi stack output --json
pulumi destroy --yes
pulumi stack rm --yes demo-web-1
