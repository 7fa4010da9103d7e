// The demo without a Pulumi CLI: preview, up, show the result, destroy, through the engine stand-in.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { destroy, formatResult, preview, up } from "./engine";
import { LAB_VERIFY, web1Run } from "./support/incident";
import { CLOUDS_YAML, requireLab } from "./support/lab";
import { osc } from "./support/oscli";
import { z } from "zod";

interface Report { actions: { name: string; diffs: { path: string; diff: string }[] }[] }

async function main(): Promise<void> {
    const seed = requireLab();
    const t0 = Date.now();
    const secs = () => `${((Date.now() - t0) / 1000).toFixed(0)}s`;
    process.env.OS_CLIENT_CONFIG_FILE = CLOUDS_YAML;
    const run = web1Run({
        seed,
        stack: "demo-web-1",
        cloudsFile: CLOUDS_YAML,
        stateDir: fs.mkdtempSync(path.join(os.tmpdir(), "osr-demo-")),
        config: { "openstack-recovery:verify": LAB_VERIFY }, // the operator's own check once the replacement is up
    });

    console.log(`\n$ pulumi preview --diff      (stand-in, ${secs()})`);
    console.log(formatResult(await preview(run), "Previewing update (demo-web-1)"));

    console.log(`\n$ pulumi up                  (stand-in, ${secs()})`);
    const result = await up(run);
    console.log(formatResult(result, "Updating (demo-web-1)"));
    const o = result.outputs;
    const server = osc(["server", "show", String(o.newServerId)], z.object({ name: z.string(), status: z.string(), addresses: z.unknown() }));
    console.log(`\nRecovered: ${server.name} ${server.status} at ${JSON.stringify(server.addresses)} (the old address), booted from ${o.repairedVolumeId}`);
    console.log(`verify (your check, run after the replacement was up): ${String(o.verifyOutput)}`);
    for (const a of (o.repairReport as Report).actions) for (const d of a.diffs) console.log(`\n${a.name}: ${d.path}\n${d.diff}`);

    console.log(`\n$ pulumi destroy             (stand-in, ${secs()})`);
    console.log(formatResult(await destroy(run), "Destroying (demo-web-1)"));
    console.log(`\nKept: ${(o.retained as string[]).join("; ")}. Done in ${secs()}.`);
}

main().catch((e: Error) => {
    console.error(`demo failed: ${e.message}`);
    process.exit(1);
});
