// Issue 3, end to end on the lab cloud: the whole stack program (stacks/program.ts) runs under the
// engine stand-in, its dynamic resources in @pulumi/pulumi's real provider host, against real
// OpenStack services. What the stack did is checked with the `openstack` CLI (not our client) and
// by reading the volumes' data files, never by trusting the stack's own outputs.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { z } from "zod";
import { destroy, preview, up, type RunResult, type StackRun } from "../engine";
import { ApiRecorder } from "../support/apiRecorder";
import { readExtFile } from "../support/disks";
import { LAB_VERIFY, ensureSeededIncident, recordedClouds, reseed, web1Run } from "../support/incident";
import { requireLab, sha256File, volumeFile, type Seed } from "../support/lab";
import { osc as oscParsed } from "../support/oscli";

jest.setTimeout(20 * 60_000);

type Row = Record<string, unknown>;
/** The `openstack` CLI as an independent oracle, as a member of the incidents project. */
const osc = <T extends Row | Row[] = Row>(...args: string[]): T =>
    oscParsed(args, z.union([z.record(z.string(), z.unknown()), z.array(z.record(z.string(), z.unknown()))])) as T;

/** /etc/fstab of the root filesystem inside a raw volume file (found by sfdisk, read with debugfs). */
function fstabOf(file: string): { text: string; offset: number } {
    const table = JSON.parse(execFileSync("sfdisk", ["--json", file], { encoding: "utf8" })) as {
        partitiontable: { sectorsize?: number; partitions: { start: number }[] };
    };
    for (const p of table.partitiontable.partitions) {
        const offset = p.start * (table.partitiontable.sectorsize ?? 512);
        const text = readExtFile(file, offset, "/etc/fstab");
        if (text !== null) return { text, offset };
    }
    throw new Error(`no ext filesystem with /etc/fstab in ${file}`);
}
const activeLines = (fstab: string) =>
    fstab
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith("#"));
const customSteps = (r: RunResult) => r.steps.filter((s) => s.custom);

describe("volume-backed recovery of web-1 on the lab cloud", () => {
    let recorder: ApiRecorder;
    let run: StackRun;
    let tmp: string;
    let seed: Seed;
    const before = { serverId: "", rootVolumeId: "", rootSha: "", dataVolumeIds: [] as string[], portId: "", ip: "", helperId: "" };
    let newServerId = "";
    let cloneId = "";
    const logs: string[] = []; // everything the providers printed, across runs

    beforeAll(async () => {
        seed = ensureSeededIncident(requireLab());
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "osr-e2e-"));
        recorder = await ApiRecorder.start("http://127.0.0.1:5000/v3");
        const clouds = recordedClouds(recorder, tmp);
        process.env.OS_CLIENT_CONFIG_FILE = clouds; // the program's own reads go through the recorder too

        const web1 = osc<Row>("server", "show", "web-1");
        const helper = osc<Row>("server", "show", "snap-mounter");
        before.serverId = String(web1.id);
        before.helperId = String(helper.id);
        const attached = osc<Row[]>("server", "volume", "list", before.serverId);
        const root = attached.find((a) => /\/dev\/[sv]da$/.test(String(a.Device)))!;
        before.rootVolumeId = String(root["Volume ID"]);
        before.dataVolumeIds = attached
            .filter((a) => a !== root)
            .map((a) => String(a["Volume ID"]))
            .sort();
        const ports = osc<Row[]>("port", "list", "--server", before.serverId);
        before.portId = String(ports[0].ID);
        before.ip = String((osc<Row>("port", "show", before.portId).fixed_ips as { ip_address: string }[])[0].ip_address);
        before.rootSha = sha256File(volumeFile(before.rootVolumeId));
        run = web1Run({
            seed,
            stack: "e2e-web-1",
            cloudsFile: clouds,
            stateDir: tmp,
            // the operator's own check after the recovery, run on this machine with the recovered server's facts
            config: { "openstack-recovery:verify": LAB_VERIFY },
        });
        expect(before.dataVolumeIds).toHaveLength(2);
    });
    afterAll(async () => {
        delete process.env.OS_CLIENT_CONFIG_FILE;
        await recorder?.stop();
        reseed(); // web-1 back to its broken state for the next test and the next rehearsal
    });

    it("preview lists clone, attachment, repair, port and replacement, and changes nothing", async () => {
        recorder.reset();
        const r = await preview(run);
        expect(customSteps(r).map((s) => `${s.op} ${s.type.split(":").pop()}`)).toEqual([
            "create LeftoverSweep",
            "create IncidentLock",
            "create VolumeClone",
            "create HelperAttachment",
            "create DiskRepair",
            "create ReservedPort",
            "create ReplacementServer",
            "create Command", // the check: planned, not run
        ]);
        expect(recorder.calls.length).toBeGreaterThan(0); // it did look at the cloud...
        expect(recorder.mutating()).toEqual([]); // ...and changed nothing
        expect([...new Set(r.rpcCalls.map((c) => c.method))].sort()).toEqual(["Check", "Configure", "GetPluginInfo", "Handshake"]); // no Diff: nothing exists yet
        expect(fs.existsSync(run.stateFile)).toBe(false);
    });

    it("up recovers web-1 in one run: replacement ACTIVE on the repaired clone, same IP, data volumes, broken server stopped", async () => {
        const r = await up(run);
        logs.push(...r.diagnostics);
        expect(r.changes.create).toBeGreaterThanOrEqual(6);
        newServerId = String(r.outputs.newServerId);
        cloneId = String(r.outputs.repairedVolumeId);

        const server = osc<Row>("server", "show", newServerId);
        expect(server.status).toBe("ACTIVE");
        const volumes = osc<Row[]>("server", "volume", "list", newServerId);
        const rootAttachment = volumes.find((v) => /\/dev\/[sv]da$/.test(String(v.Device)));
        expect(rootAttachment?.["Volume ID"]).toBe(cloneId);
        expect(
            volumes
                .map((v) => String(v["Volume ID"]))
                .filter((id) => id !== cloneId)
                .sort(),
        ).toEqual(before.dataVolumeIds);

        // the same port, the same address, now the replacement's
        const port = osc<Row>("port", "show", before.portId);
        expect(port.device_id).toBe(newServerId);
        expect((port.fixed_ips as { ip_address: string }[])[0].ip_address).toBe(before.ip);

        // the broken server is stopped, not deleted, and locked for this stack
        const broken = osc<Row>("server", "show", before.serverId);
        expect(broken.status).toBe("SHUTOFF");
        expect(broken.properties).toMatchObject({ "recovery-lock": "organization/openstack-recovery/e2e-web-1" });

        // the repaired clone, read from its data: no active line names a device that is not there
        const { text, offset } = fstabOf(volumeFile(cloneId));
        expect(activeLines(text).some((l) => l.startsWith("/dev/vdb") && !/nofail/.test(l))).toBe(false);
        expect(text).toMatch(/\/dev\/vdb/); // commented out or nofail, not silently dropped
        expect(execFileSync("e2fsck", ["-fn", `${volumeFile(cloneId)}?offset=${offset}`], { encoding: "utf8" })).toMatch(/clean|files/);
        // the original root volume is byte for byte what it was
        expect(sha256File(volumeFile(before.rootVolumeId))).toBe(before.rootSha);
        expect(activeLines(fstabOf(volumeFile(before.rootVolumeId)).text).some((l) => l.startsWith("/dev/vdb"))).toBe(true);

        // the clone is a root now: no DELETE ME on it; the helper holds nothing
        expect(String(osc<Row>("volume", "show", cloneId).description)).not.toMatch(/DELETE ME/);
        expect(osc<Row[]>("server", "volume", "list", before.helperId)).toEqual([]);
        // the repair report came back and says what changed
        expect(String(r.outputs.repairSummary)).toMatch(/fstab/);
        // the operator's check ran after the replacement was up, and saw the kept address
        expect(r.outputs.verifyOutput).toBe(`web-1-recovered ACTIVE at ${before.ip}, root ${cloneId}`);
    });

    it("a second up with no change changes nothing", async () => {
        recorder.reset();
        const r = await up(run).catch((e: { result?: RunResult }) => {
            console.log(JSON.stringify(e.result?.steps.map((s) => [s.op, s.urn.split("::").pop(), s.diffs, s.replaces])));
            throw e;
        });
        expect(r.changes).toMatchObject({ create: 0, update: 0, replace: 0, delete: 0 });
        expect(recorder.mutating()).toEqual([]);
    });

    it("keeps secrets out of state and provider logs", () => {
        const state = fs.readFileSync(run.stateFile, "utf8");
        expect(state).not.toMatch(/lab-secret|PRIVATE KEY/);
        expect(logs.join("\n")).toMatch(/cloning volume/); // the providers did report progress...
        expect(logs.join("\n")).not.toMatch(/lab-secret|PRIVATE KEY|X-Auth-Token/); // ...and no secret
    });

    it("destroy removes every DELETE-ME and temporary piece, keeps the recovered server, its port and root volume, promoted", async () => {
        const r = await destroy(run);
        expect(r.steps.some((s) => s.error)).toBe(false);
        const volumes = osc<Row[]>("volume", "list", "--long");
        const details = volumes.map((v) => osc<Row>("volume", "show", String(v.ID)));
        expect(details.filter((v) => /DELETE ME/.test(String(v.description)))).toEqual([]);
        expect(details.filter((v) => JSON.stringify(v.properties ?? {}).includes("recovery-stack"))).toEqual([]);
        expect(osc<Row[]>("server", "volume", "list", before.helperId)).toEqual([]);
        const kept = osc<Row>("server", "show", newServerId);
        expect(kept.status).toBe("ACTIVE");
        expect(JSON.stringify(kept.properties ?? {})).not.toMatch(/recovery-/);
        expect(osc<Row>("volume", "show", cloneId).status).toBe("in-use");
        expect(JSON.stringify(osc<Row>("port", "show", before.portId).tags ?? [])).not.toMatch(/recovery-/);
        // the original root volume is still untouched, and the lock is released
        expect(sha256File(volumeFile(before.rootVolumeId))).toBe(before.rootSha);
        expect(JSON.stringify(osc<Row>("server", "show", before.serverId).properties ?? {})).not.toMatch(/recovery-lock/);
    });
});
