#!/usr/bin/env bash
# `npm run demo`: rehearse a recovery end to end on the local lab cloud. Installs what it needs,
# brings the lab up and seeds the broken server `web-1`, then previews, recovers and cleans up.
# With a Pulumi CLI on PATH it drives `pulumi` itself; without one (as on this project's CI) it
# says so and runs the same stack program under the engine stand-in (test/engine).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! npm ls --depth=0 >/dev/null 2>&1; then npm ci --no-audit --no-fund; fi
npm run --silent lab:up
npm run --silent lab:seed
if command -v pulumi >/dev/null 2>&1 && [ "${DEMO_STANDIN:-0}" != 1 ]; then
  exec bash test/demo-pulumi.sh
fi
echo
echo "No Pulumi CLI on PATH: running the stack program under the engine stand-in (test/engine),"
echo "with every dynamic resource in @pulumi/pulumi's real provider host, against the lab cloud."
exec node test/run-ts.js test/demo.ts
