// Issue 9, "the recovery proves the boot", on the lab cloud: web-1's root volume holds a Debian that
// really boots (the seed's bootable disk, test/lab/disk.sh `bootable`) with an fstab line naming a data
// disk that is not there, and the lab's compute driver boots a server from it under qemu TCG
// (test/lab/lab_virt.py "real boots"). After `up`, the BootProof step has read the replacement's
// console through Nova until a login prompt, and the outputs say so; with a repair that changes
// nothing (`repair.actions: [custom]`, a script that writes nothing) the fstab still blocks the boot,
// and the step fails the `up` with systemd's emergency-mode lines. The console is read again here
// with the `openstack` CLI, not through the stack.
import { z } from "zod";
import { destroy, EngineRunError, up, type RunResult, type StackRun } from "../engine";
import { readExtFile } from "../support/disks";
import { ensureSeededIncident, GIVE_BACK, reseed, web1Incident } from "../support/incident";
import { CLOUDS_YAML, LAB_DIR, labBootsForReal, requireLab, volumeFile, type Seed } from "../support/lab";
import { osc, oscRun } from "../support/oscli";
import { EMERGENCY, LOGIN } from "../../toolkit/bootConsole";

jest.setTimeout(30 * 60_000);

const BootProofOutput = z.object({ outcome: z.literal("login"), evidence: z.array(z.string()).min(1), seconds: z.number() });
const consoleOf = (serverId: string) => oscRun(["console", "log", "show", serverId]);
const ServerStatus = z.object({ status: z.string() });

async function waitFor(ok: () => boolean, what: string, seconds = 120): Promise<void> {
    for (const end = Date.now() + seconds * 1000; Date.now() < end; await new Promise((r) => setTimeout(r, 2000))) if (ok()) return;
    throw new Error(`${what}: not within ${seconds} s`);
}

describe("the recovery proves the boot on the lab: web-1's repaired disk boots under qemu", () => {
    let seed: Seed;
    const runs: StackRun[] = [];

    beforeAll(() => {
        seed = ensureSeededIncident(requireLab());
        process.env.OS_CLIENT_CONFIG_FILE = CLOUDS_YAML;
        if (!labBootsForReal())
            throw new Error(
                `the lab's web-1 does not really boot (no ${LAB_DIR}/state/nova/boot-image): run npm run lab:seed with test/repairs/boot-image.sh working`,
            );
    });
    // the servers (and their qemu) go with the stacks, after each case: a case that failed half-way must not
    // leave its recovery lock on web-1 for the next; the seed puts web-1 back as it was
    afterEach(async () => {
        for (const run of runs.splice(0)) await destroy(run).catch(() => undefined);
    });
    afterAll(() => {
        delete process.env.OS_CLIENT_CONFIG_FILE;
        reseed();
    });

    it("after up the replacement's console shows a login prompt, and the outputs say so", async () => {
        const run = web1Incident(seed, "boot-proof", "INC0090", { ...GIVE_BACK, bootProof: { enabled: true, timeoutSeconds: 600 } });
        runs.push(run);
        const t0 = Date.now();
        const r: RunResult = await up(run);
        const proof = BootProofOutput.parse(r.outputs.bootProof);
        const serverId = String(r.outputs.newServerId);
        expect(proof.evidence.at(-1)).toMatch(/^web-1 login:/);
        // the repaired fstab is what booted: the bad line is nofail (or commented out) on the disk that booted
        // stopped first (the lab's driver kills its qemu): a guest that runs writes its root under the reader
        oscRun(["server", "stop", serverId]);
        await waitFor(() => osc(["server", "show", serverId], ServerStatus).status === "SHUTOFF", "the replacement SHUTOFF");
        const file = volumeFile(String(r.outputs.repairedVolumeId));
        const fstab = readExtFile(file, seed.web1.rootPartitionOffset, "/etc/fstab") ?? "";
        expect(fstab).toMatch(/\/dev\/vdb/);
        expect(fstab.split("\n").some((l) => /^\/dev\/vdb\s/.test(l) && !/nofail/.test(l))).toBe(false);
        // Nova's own answer, through the CLI
        const log = consoleOf(serverId);
        expect(log).toMatch(LOGIN);
        expect(log).not.toMatch(EMERGENCY);
        expect(r.diagnostics.join("\n")).toMatch(/booted to a login prompt in \d+s/);
        console.log(`boot proof on the lab: up ${Math.round((Date.now() - t0) / 1000)} s, console to login prompt ${proof.seconds} s`);

        const d = await destroy(run);
        expect(d.steps.filter((s) => s.error)).toEqual([]);
        runs.pop();
    });

    it("with a repair that changes nothing the fstab still blocks the boot: the step reports emergency mode and fails the up", async () => {
        // the previous case gave web-1 its port and data volumes back (GIVE_BACK): the same incident, again
        const run = web1Incident(seed, "boot-proof-unrepaired", "INC0091", {
            ...GIVE_BACK,
            repair: { actions: ["custom"], customScript: "echo 'looked, changed nothing'" },
            bootProof: { enabled: true, timeoutSeconds: 600 },
        });
        runs.push(run);
        let failure: unknown;
        try {
            await up(run);
        } catch (e) {
            failure = e;
        }
        expect(failure).toBeInstanceOf(EngineRunError);
        const message = (failure as Error).message;
        expect(message).toMatch(/is ACTIVE but its boot ended in emergency mode/);
        expect(message).toMatch(EMERGENCY);
        // the cause, as systemd printed it: the data disk that is not there
        expect(message).toMatch(/dev-vdb\.device|\/dev\/vdb|mnt-data\.mount|\/mnt\/data/);
        const replacement = osc(
            ["server", "list", "--name", "^web-1-recovered$"],
            z.array(z.object({ ID: z.string(), Status: z.string() })),
        );
        expect(replacement.map((s) => s.Status)).toEqual(["ACTIVE"]);
        expect(consoleOf(replacement[0]!.ID)).toMatch(EMERGENCY);
    });
});
