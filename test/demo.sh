#!/usr/bin/env bash
# `npm run demo -- [--recipe NAME] [SERVER | --host HOST]`: rehearse a recovery end to end on the local lab
# cloud (default: the seeded broken server web-1, recipe auto). Installs what it needs, checks the arguments
# (before the lab is touched: a mistake fails in seconds), brings the lab up, seeds it only when needed, then
# previews, recovers, sums up and cleans up. `npm run demo -- --help` for the arguments (test/support/demoArgs.ts).
# With a Pulumi CLI on PATH it drives `pulumi` itself; without one (as on this project's CI) it says so and
# runs the same stack program under the engine stand-in (test/engine).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! npm ls --depth=0 >/dev/null 2>&1; then npm ci --no-audit --no-fund; fi
rc=0
node test/run-ts.js test/demo.ts --check-args "$@" || rc=$?
case $rc in
  0) ;;
  10) exit 0 ;; # --help: the usage is printed
  *) exit "$rc" ;;
esac
# the boot proof's tools (debootstrap, qemu): without them the seed has no bootable web-1 and the demo cannot
# show the replacement's console reaching a login prompt
bash test/repairs/install-deps.sh --boot
npm run --silent lab:up
if command -v pulumi >/dev/null 2>&1 && [ "${DEMO_STANDIN:-0}" != 1 ]; then
  exec bash test/demo-pulumi.sh "$@"
fi
echo
echo "No Pulumi CLI on PATH: running the stack program under the engine stand-in (test/engine),"
echo "with every dynamic resource in @pulumi/pulumi's real provider host, against the lab cloud."
exec node test/run-ts.js test/demo.ts "$@"
