// Running the generated repair script in these tests: locally as root (`bash -s` on stdin, as
// DiskRepair does over SSH), with the result parsed by the real parseRepairReport.
import { spawnSync } from "child_process";
import * as fs from "fs";
import { buildRepairScript, parseRepairReport, repairStateKey, RepairReport, RepairScriptOptions } from "../../toolkit";
import { AttachedDisk } from "../support/disks";

export interface ScriptRun {
    status: number | null;
    stdout: string;
    stderr: string;
    report: RepairReport;
    ms: number;
}

export function runScript(o: RepairScriptOptions): ScriptRun {
    const { script } = buildRepairScript(o);
    const t0 = Date.now();
    const r = spawnSync("bash", ["-s"], { input: script, encoding: "utf8", maxBuffer: 64 * 1024 * 1024, timeout: 300_000 });
    const ms = Date.now() - t0;
    let report: RepairReport;
    try {
        report = parseRepairReport(r.stdout);
    } catch (e) {
        throw new Error(`${(e as Error).message}\n--- stderr ---\n${r.stderr}`);
    }
    forgetHelperState(repairStateKey(o));
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, report, ms };
}

/** Options for a disk attached by test/support/disks.ts. */
export function optsFor(att: AttachedDisk, o: Omit<RepairScriptOptions, "volumeId" | "byIdDir">): RepairScriptOptions {
    return { volumeId: att.volumeId, byIdDir: att.byIdDir, deviceTimeoutSeconds: 5, ...o };
}

/** A failed expectation with the script's stderr attached. */
export function explain(run: ScriptRun): string {
    return `${JSON.stringify(run.report, null, 2)}\n--- stderr ---\n${run.stderr}`;
}

/** Remove what a run leaves on the helper (this machine) for a disk (its volume id or repairStateKey):
 *  the report copy and e2undo files. */
export function forgetHelperState(volumeId: string): void {
    fs.rmSync(`/var/lib/openstack-recovery/reports/${volumeId}.json`, { force: true });
    const undo = "/var/lib/openstack-recovery/undo";
    if (fs.existsSync(undo)) for (const f of fs.readdirSync(undo)) if (f.startsWith(volumeId)) fs.rmSync(`${undo}/${f}`);
}
