#!/usr/bin/env bash
# The demo with a real Pulumi CLI: the same commands an operator runs (README "An incident").
# Arguments as `npm run demo`'s, [--recipe NAME] [SERVER | --host HOST], read by the same parser
# (test/support/demoArgs.ts): they become `pulumi config set server` and `pulumi config set strategy`.
set -euo pipefail
cd "$(dirname "$0")/.."
rc=0
target=$(node test/run-ts.js test/demo.ts --print-target "$@") || rc=$?
case $rc in
  0) ;;
  10) exit 0 ;; # --help: the usage is printed
  *) exit "$rc" ;;
esac
server=$(sed -n 1p <<<"$target")
recipe=$(sed -n 2p <<<"$target")
stack="demo-${server//[^A-Za-z0-9_.-]/-}"
node test/run-ts.js test/demo.ts --ensure-seed # seeds only when never seeded, or web-1 is not as seeded
export PULUMI_BACKEND_URL="file://$PWD/.lab/pulumi-state" PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE:-lab-demo}"
export OS_CLIENT_CONFIG_FILE="$PWD/.lab/clouds.yaml"
mkdir -p .lab/pulumi-state
work=$(mktemp -d "${TMPDIR:-/tmp}/osr-demo-XXXXXX")
trap 'rm -rf "$work"' EXIT
helper_ip=$(OS_CLOUD=lab-member openstack server show snap-mounter -f json -c addresses | node -e 'const a=JSON.parse(require("fs").readFileSync(0,"utf8")).addresses; console.log(Object.values(a)[0][0])')
host_key=$(awk -v ip="$helper_ip" '$1==ip {print $2" "$3}' .lab/known_hosts)
echo
echo "Rehearsing the recovery of $server with recipe $recipe (stack $stack)"
case $server in web-1 | eph-1) ;; *) echo "The demo has web-1's and eph-1's config (helper, compute host, verify); for $server it sets server $server and lets the stack's preview decide." ;; esac
pulumi stack select --create "$stack"
pulumi config set openstack:cloud lab-member
pulumi config set incident INC0042
pulumi config set server "$server"
pulumi config set strategy "$recipe"
pulumi config set --path helper.server snap-mounter
# the helper's default user, a passwordless sudoer as on a cloud image (the repair runs `sudo -n bash -s`)
pulumi config set --path helper.sshUser "$(node -e 'console.log(JSON.parse(require("fs").readFileSync(".lab/seed.json","utf8")).snapMounter.guest.user)')"
pulumi config set --path helper.sshKeyFile "$PWD/.lab/keys/snap-mounter_ed25519"
pulumi config set --path helper.hostKey "$host_key"
# the operator's own check once the replacement is up (as LAB_VERIFY in test/support/incident.ts)
pulumi config set verify 'openstack --os-cloud lab-member server show "$RECOVERED_SERVER_ID" -f value -c status | grep -qx ACTIVE && echo "$RECOVERED_SERVER_NAME ACTIVE at $RECOVERED_IP, root $REPAIRED_VOLUME_ID"'
# eph-1 (an ephemeral root on compute-1): its compute host, as an admin reaches it, and a work directory
if [ "$server" = eph-1 ]; then
  seed_get() { node -e 'const s=JSON.parse(require("fs").readFileSync(".lab/seed.json","utf8")); console.log(eval("s."+process.argv[1]))' "$1"; }
  compute_ip=$(seed_get eph1.computeHost.address)
  pulumi config set --path ephemeral.computeHost.address "$compute_ip"
  pulumi config set --path ephemeral.computeHost.sshUser "$(seed_get eph1.computeHost.user)"
  pulumi config set --path ephemeral.computeHost.sshKeyFile "$(seed_get eph1.computeHost.keyPath)"
  pulumi config set --path ephemeral.computeHost.hostKey "$(awk -v ip="$compute_ip" '$1==ip {print $2" "$3}' .lab/known_hosts)"
  pulumi config set --path ephemeral.workDir "$PWD/.lab/work"
fi
# the replacement's boot read from its console (the default), where the lab's compute driver really boots it (web-1's disk)
if [ "$server" = web-1 ] && [ -s .lab/state/nova/boot-image ]; then boot=true; else boot=false; fi
pulumi config set --path bootProof.enabled "$boot"
if ! pulumi preview --diff; then
  echo >&2
  echo "The stack's preview refused $server (its error above; nothing was changed)." >&2
  pulumi stack rm --yes "$stack" >/dev/null || true
  exit 1
fi
if ! pulumi up --yes 2>&1 | tee "$work/up.log"; then
  # a rehearsal cleans up after itself: what up made (a DELETE ME clone attached to the helper) goes now
  echo >&2
  echo "pulumi up failed for $server (its error above); destroying what it made, as after a failed rehearsal." >&2
  pulumi destroy --yes || echo "destroy failed too: run 'pulumi destroy' on stack $stack (backend $PULUMI_BACKEND_URL)" >&2
  exit 1
fi
pulumi stack output --json | tee "$work/outputs.json"
# what up recovered, read now (the replacement's status before destroy), shown at the end
node test/run-ts.js test/demo.ts --summary "$work/outputs.json" "$work/up.log" "$server" >"$work/summary.txt"
pulumi destroy --yes
pulumi stack rm --yes "$stack"
echo
echo "Summary (stack $stack)"
cat "$work/summary.txt"
