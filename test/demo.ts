// The demo without a Pulumi CLI: preview, up, show the result, destroy, through the engine stand-in.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { destroy, formatResult, preview, up } from "./engine";
import { LAB_CLOUDS, requireLab, web1Run } from "./support/incident";

interface Report { actions: { name: string; diffs: { path: string; diff: string }[] }[] }

function helperAddress(): string {
    const out = execFileSync("openstack", ["server", "show", "snap-mounter", "-f", "json", "-c", "addresses"], { env: { ...process.env, OS_CLIENT_CONFIG_FILE: LAB_CLOUDS, OS_CLOUD: "lab-admin", PYTHONWARNINGS: "ignore" }, encoding: "utf8" });
    return Object.values(JSON.parse(out).addresses as Record<string, string[]>)[0][0];
}

async function main(): Promise<void> {
    requireLab();
    const t0 = Date.now();
    const secs = () => `${((Date.now() - t0) / 1000).toFixed(0)}s`;
    process.env.OS_CLIENT_CONFIG_FILE = LAB_CLOUDS;
    const run = web1Run({ stack: "demo-web-1", cloudsFile: LAB_CLOUDS, helperAddress: helperAddress(), stateDir: fs.mkdtempSync(path.join(os.tmpdir(), "osr-demo-")) });

    console.log(`\n$ pulumi preview --diff      (stand-in, ${secs()})`);
    console.log(formatResult(await preview(run), "Previewing update (demo-web-1)"));

    console.log(`\n$ pulumi up                  (stand-in, ${secs()})`);
    const result = await up(run);
    console.log(formatResult(result, "Updating (demo-web-1)"));
    const o = result.outputs;
    const server = JSON.parse(execFileSync("openstack", ["server", "show", String(o.newServerId), "-f", "json"], { env: { ...process.env, OS_CLOUD: "lab-admin", PYTHONWARNINGS: "ignore" }, encoding: "utf8" }));
    console.log(`\nRecovered: ${server.name} ${server.status} at ${JSON.stringify(server.addresses)} (the old address), booted from ${o.repairedVolumeId}`);
    for (const a of (o.repairReport as Report).actions) for (const d of a.diffs) console.log(`\n${a.name}: ${d.path}\n${d.diff}`);

    console.log(`\n$ pulumi destroy             (stand-in, ${secs()})`);
    console.log(formatResult(await destroy(run), "Destroying (demo-web-1)"));
    console.log(`\nKept: ${(o.retained as string[]).join("; ")}. Done in ${secs()}.`);
}

main().catch((e: Error) => {
    console.error(`demo failed: ${e.message}`);
    process.exit(1);
});
