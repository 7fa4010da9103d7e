// Issue 10, end to end on the lab: eph-1 boots from an image onto compute-1's local disk (a qcow2 overlay
// with the bad fstab over a clean _base file). The ephemeral recipe copies both from compute-1 over SSH,
// merges them here, uploads the merged image to the lab's Glance, makes a volume of it, repairs it on
// snap-mounter and boots eph-1-recovered from it with eph-1's port. Checked with the `openstack` CLI and
// by reading the volume's data, never by trusting the stack's outputs; the compute host's files by their
// sha256 before and after.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { z } from "zod";
import { destroy, preview, up, type StackRun } from "../engine";
import { ApiRecorder } from "../support/apiRecorder";
import { readExtFile } from "../support/disks";
import { eph1Run, recordedClouds, reseed } from "../support/incident";
import { requireLab, sha256File, volumeFile, type Seed } from "../support/lab";
import { osc } from "../support/oscli";

jest.setTimeout(20 * 60_000);

const Server = z.object({ id: z.string(), status: z.string(), properties: z.record(z.string(), z.unknown()).nullish() });
const Port = z.object({
    device_id: z.string(),
    fixed_ips: z.array(z.object({ ip_address: z.string() })),
    tags: z.array(z.string()).default([]),
});
const Rows = z.array(z.object({ ID: z.string() }));
const VolumeShow = z.object({ description: z.string().nullish(), properties: z.record(z.string(), z.unknown()).nullish() });
const ImageShow = z.object({ name: z.string(), properties: z.record(z.string(), z.unknown()).nullish() });

/** every volume and image of the project that says DELETE ME or carries a recovery tag */
function leftovers(): string[] {
    const volumes = osc(["volume", "list"], Rows)
        .map((v) => ({ id: v.ID, ...osc(["volume", "show", v.ID], VolumeShow) }))
        .filter((v) => /DELETE ME/.test(v.description ?? "") || JSON.stringify(v.properties ?? {}).includes("recovery-"))
        .map((v) => `volume ${v.id}`);
    const images = osc(["image", "list"], Rows)
        .map((i) => ({ id: i.ID, ...osc(["image", "show", i.ID], ImageShow) }))
        .filter((i) => /DELETE ME/.test(i.name) || JSON.stringify(i.properties ?? {}).includes("recovery-"))
        .map((i) => `image ${i.id}`);
    return [...volumes, ...images];
}

function fstabOf(file: string): string {
    const table = JSON.parse(execFileSync("sfdisk", ["--json", file], { encoding: "utf8" })) as {
        partitiontable: { sectorsize?: number; partitions: { start: number }[] };
    };
    for (const p of table.partitiontable.partitions) {
        const text = readExtFile(file, p.start * (table.partitiontable.sectorsize ?? 512), "/etc/fstab");
        if (text !== null) return text;
    }
    throw new Error(`no ext filesystem with /etc/fstab in ${file}`);
}

const STEPS = {
    "compute-host": ["create EphemeralDiskCopy", "create DiskFlatten", "create ImageUpload"],
    nova: ["create ServerSnapshot"],
} as const;
const SAID = {
    "compute-host":
        /way compute-host \(ephemeral\.computeHost is set: [^)]*\): copy \/var\/lib\/nova\/instances\/[0-9a-f-]+\/disk and its backing file from the compute host/,
    nova: /way nova \(no ephemeral\.computeHost: Nova makes the image[^)]*\): stop eph-1 and let Nova make an image of its disk/,
};

describe.each(["compute-host", "nova"] as const)("ephemeral recovery of eph-1 on the lab, the %s way", (way) => {
    let seed: Seed;
    let recorder: ApiRecorder;
    let run: StackRun;
    let tmp: string;
    let workDir: string;
    const onHost = { disk: "", base: "", diskSha: "", baseSha: "" };

    beforeAll(async () => {
        seed = requireLab();
        reseed(); // eph-1 as seeded: running, its port on it
        seed = requireLab();
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "osr-eph-"));
        workDir = path.join(tmp, "work");
        recorder = await ApiRecorder.start("http://127.0.0.1:5000/v3");
        const clouds = recordedClouds(recorder, tmp);
        process.env.OS_CLIENT_CONFIG_FILE = clouds;
        const e = seed.eph1;
        onHost.disk = path.join(e.hostInstancesDir, e.serverId, "disk");
        onHost.base = path.join(e.hostInstancesDir, path.relative("/var/lib/nova/instances", e.basePath));
        onHost.diskSha = sha256File(onHost.disk);
        onHost.baseSha = sha256File(onHost.base);
        expect(onHost.baseSha).toBe(e.baseSha256);
        run = eph1Run({
            seed,
            stack: "e2e-eph-1",
            cloudsFile: clouds,
            stateDir: tmp,
            workDir,
            config: {
                "openstack-recovery:retain": JSON.stringify({ server: true, port: true, rootVolume: true }),
                // the Nova way: no compute host named (a project member's view)
                ...(way === "nova" ? { "openstack-recovery:ephemeral": JSON.stringify({ workDir }) } : {}),
            },
        });
    });
    afterAll(async () => {
        delete process.env.OS_CLIENT_CONFIG_FILE;
        await recorder?.stop();
        fs.rmSync(tmp, { recursive: true, force: true });
        reseed();
    });

    it("preview shows the way chosen and why, and every step, and changes nothing", async () => {
        recorder.reset();
        const r = await preview(run);
        expect(r.steps.filter((s) => s.custom).map((s) => `${s.op} ${s.type.split(":").pop()}`)).toEqual([
            "create LeftoverSweep",
            "create IncidentLock",
            ...STEPS[way],
            "create VolumeClone",
            "create HelperAttachment",
            "create DiskRepair",
            "create ReservedPort",
            "create ReplacementServer",
        ]);
        const said = r.diagnostics.join("\n");
        expect(said).toMatch(/strategy auto chose ephemeral: eph-1 boots from image .* onto its compute host's local disk/);
        expect(said).toMatch(SAID[way]);
        expect(recorder.calls.length).toBeGreaterThan(0);
        expect(recorder.mutating()).toEqual([]);
        expect(fs.existsSync(workDir)).toBe(false); // nothing copied
    });

    it("up: eph-1-recovered ACTIVE from a volume whose fstab is fixed, eph-1's IP kept, eph-1 SHUTOFF, the compute host's files unchanged", async () => {
        const r = await up(run);
        const serverId = String(r.outputs.newServerId);
        const volumeId = String(r.outputs.repairedVolumeId);
        expect(osc(["server", "show", serverId], Server).status).toBe("ACTIVE");
        const attached = osc(["server", "volume", "list", serverId], z.array(z.object({ "Volume ID": z.string(), Device: z.string() })));
        expect(attached.find((a) => /\/dev\/[sv]da$/.test(a.Device))?.["Volume ID"]).toBe(volumeId);
        // the fstab as the volume's own bytes hold it: the bad line made harmless
        const fstab = fstabOf(volumeFile(volumeId));
        expect(fstab).toMatch(/\/dev\/vdb/);
        expect(fstab.split("\n").some((l) => /^\/dev\/vdb\s/.test(l) && !/nofail/.test(l))).toBe(false);
        const port = osc(["port", "show", seed.eph1.portId], Port);
        expect(port.device_id).toBe(serverId);
        expect(port.fixed_ips[0]?.ip_address).toBe(seed.eph1.fixedIp);
        expect(osc(["server", "show", seed.eph1.serverId], Server).status).toBe("SHUTOFF");
        // only read on the compute host
        expect(sha256File(onHost.disk)).toBe(onHost.diskSha);
        expect(sha256File(onHost.base)).toBe(onHost.baseSha);
        // the merged image reached Glance whole (the compute host's way compares sha512s); DELETE ME until destroy
        expect(osc(["image", "show", String(r.outputs.mergedImageId)], ImageShow).name).toMatch(/INC0042 DELETE ME merged root of eph-1/);
    });

    it("a second up changes nothing", async () => {
        const r = await up(run);
        expect(r.steps.filter((s) => s.custom && s.op !== "same")).toEqual([]);
    });

    it("destroy leaves no DELETE ME image or volume, no file in the work directory, no recovery tag", async () => {
        const d = await destroy(run);
        expect(d.steps.filter((s) => s.error)).toEqual([]);
        expect(leftovers()).toEqual([]);
        // every file the copy made is gone (the Nova way made none); empty directories may stay
        const files = fs.existsSync(workDir) ? (fs.readdirSync(workDir, { recursive: true }) as string[]) : [];
        expect(files.filter((f) => fs.statSync(path.join(workDir, f)).isFile())).toEqual([]);
        expect(osc(["port", "show", seed.eph1.portId], Port).tags.filter((t) => t.startsWith("recovery-"))).toEqual([]);
        expect(
            Object.keys(osc(["server", "show", seed.eph1.serverId], Server).properties ?? {}).filter((k) => k.startsWith("recovery-")),
        ).toEqual([]);
    });
});
