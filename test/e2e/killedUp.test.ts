// A killed `pulumi up` on the lab cloud (issue 7): the engine stand-in runs as a command of its own
// (test/engine/cli.ts, like the `pulumi` CLI) and is SIGKILLed, with the program runner and the provider host,
// in the middle of a step. The checkpoint must then hold what a killed CLI leaves: every finished step and a
// pending `creating` operation for the step under way. The operator's next commands, as the README names them:
//
//   - killed while cloning: `pulumi refresh --clear-pending-creates`. The clone may exist in Cinder, but the next
//     `up` adopts a clone tagged for this stack and source instead of cloning again, so forgetting the pending
//     create is right (and orphans nothing);
//   - killed while booting, the server already made in Nova: the same `pulumi refresh --clear-pending-creates`.
//     `--import-pending-creates URN ID` cannot serve a dynamic resource (the engine's import Read carries no
//     __provider: test/engine/rules.test.ts), so the next `up` adopts the server tagged for this stack and step
//     instead of booting a second one on the same port, and finishes what the killed run did not (waits ACTIVE,
//     moves the data volumes);
//   - a boot that timed out is not a kill: the step is recorded with initErrors, and the next `up` finishes it.
//
// Then `up` completes the recovery (replacement ACTIVE, the same IP, both data volumes) and `destroy` (nothing
// retained: the recovery undone, web-1 given back its port and volumes) leaves nothing tagged.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { z } from "zod";
import { readState, type StackRun, type StackState } from "../engine";
import { cli, processesMarked, startCli, writeRunFile } from "../support/cliRun";
import { ensureSeededIncident, GIVE_BACK, reseed, web1Incident } from "../support/incident";
import { CLOUDS_YAML, requireLab, slowBoots, waitFor, type Seed } from "../support/lab";
import { osc, oscExists } from "../support/oscli";

jest.setTimeout(10 * 60_000);

const Port = z.object({
    device_id: z.string(),
    fixed_ips: z.array(z.object({ ip_address: z.string() })),
    tags: z.array(z.string()).default([]),
});
const Server = z.object({ id: z.string(), status: z.string(), properties: z.unknown() });
const Servers = z.array(z.object({ ID: z.string(), Name: z.string() }));
const Attached = z.array(z.object({ "Volume ID": z.string() }));
const Volumes = z.array(z.object({ ID: z.string() }));
const Volume = z.object({ id: z.string(), description: z.string().nullish(), properties: z.unknown() });

const typeOf = (urn: string) => urn.split("::")[2]?.split("$").pop() ?? "";
const step = (st: StackState, name: string) => st.resources.find((r) => typeOf(r.urn).endsWith(`:${name}`));
const stackOutputs = (st: StackState) => st.resources.find((r) => r.type === "pulumi:pulumi:Stack")?.outputs ?? {};
/** the dynamic steps recorded in a checkpoint, by type name */
const recordedSteps = (st: StackState) =>
    st.resources
        .filter((r) => r.type.startsWith("pulumi-nodejs:dynamic"))
        .map((r) => typeOf(r.urn).split(":").pop())
        .sort();

/** Volumes this stack made (tagged for it), and any DELETE-ME or recovery-tagged volume at all. */
function volumesTagged(stack?: string): string[] {
    return osc(["volume", "list"], Volumes)
        .map((v) => osc(["volume", "show", v.ID], Volume))
        .filter((v) => {
            const props = JSON.stringify(v.properties ?? {});
            return stack
                ? props.includes(`"recovery-stack":"${stack}"`) || props.includes(`recovery-stack': '${stack}`)
                : /DELETE ME/.test(v.description ?? "") || props.includes("recovery-");
        })
        .map((v) => v.id);
}

interface Incident {
    seed: Seed;
    run: StackRun;
    runFile: string;
    marker: string;
    fq: string;
}

function incident(seed: Seed, stack: string, id: string, config: Record<string, unknown> = {}): Incident {
    const run = web1Incident(seed, stack, id, { ...GIVE_BACK, ...config });
    const marker = `${stack}-${process.pid}-${Date.now()}`;
    const runFile = writeRunFile(run, path.join(fs.mkdtempSync(path.join(os.tmpdir(), `osr-${stack}-`)), "run.json"));
    return { seed, run, runFile, marker, fq: `organization/openstack-recovery/${stack}` };
}

/** `up` until a step begins (and the checkpoint records it as pending, and `ready` holds), then SIGKILL everything. */
async function upKilledAt(inc: Incident, urnEnd: string, ready: () => boolean | Promise<boolean> = () => true): Promise<string> {
    const p = startCli("up", inc.runFile, [], inc.marker);
    try {
        const line = await p.waitForLine(new RegExp(`^begin create \\S+::${urnEnd}$`));
        const urn = line.split(" ")[2]!;
        await waitFor(
            `a pending create of ${urn} in the checkpoint`,
            async () =>
                fs.existsSync(inc.run.stateFile) &&
                readState(inc.run.stateFile).pendingOperations.some((o) => o.resource.urn === urn) &&
                (await ready())
                    ? true
                    : undefined,
            120_000,
            200,
        );
        return urn;
    } finally {
        await p.kill();
        expect(processesMarked(inc.marker)).toEqual([]);
    }
}

/** The recovery is complete: the replacement ACTIVE, web-1's port (the same IP) and both data volumes on it. */
function expectRecovered(inc: Incident, st: StackState): { serverId: string; cloneId: string } {
    const out = stackOutputs(st);
    const serverId = String(out.newServerId);
    const cloneId = String(out.repairedVolumeId);
    expect(osc(["server", "show", serverId], Server).status).toBe("ACTIVE");
    const port = osc(["port", "show", inc.seed.web1.portId], Port);
    expect(port.device_id).toBe(serverId);
    expect(port.fixed_ips.map((f) => f.ip_address)).toEqual([inc.seed.web1.fixedIp]);
    const attached = osc(["server", "volume", "list", serverId], Attached).map((v) => v["Volume ID"]);
    expect(attached.sort()).toEqual([cloneId, ...inc.seed.web1.dataVolumes.map((v) => v.id)].sort());
    // one server, one clone: nothing the killed run made was made twice
    expect(osc(["server", "list", "--name", "^web-1-recovered$"], Servers).map((s) => s.ID)).toEqual([serverId]);
    expect(volumesTagged(inc.fq)).toEqual([cloneId]);
    expect(st.pendingOperations).toEqual([]);
    return { serverId, cloneId };
}

/** destroy (nothing retained) undoes the recovery and leaves nothing tagged anywhere. */
async function expectDestroyLeavesNothing(inc: Incident, made: { serverId: string; cloneId: string }): Promise<void> {
    await cli("destroy", inc.runFile, [], inc.marker);
    expect(readState(inc.run.stateFile).resources).toEqual([]);
    expect(oscExists("server", made.serverId)).toBe(false);
    expect(oscExists("volume", made.cloneId)).toBe(false);
    const port = osc(["port", "show", inc.seed.web1.portId], Port);
    expect(port.device_id).toBe(inc.seed.web1.serverId);
    expect(port.tags.filter((t) => t.startsWith("recovery-"))).toEqual([]);
    expect(osc(["server", "volume", "list", inc.seed.snapMounter.serverId], z.array(z.unknown()))).toEqual([]);
    expect(JSON.stringify(osc(["server", "show", inc.seed.web1.serverId], Server).properties ?? {})).not.toMatch(/recovery-/);
    expect(volumesTagged()).toEqual([]);
}

describe("a killed up, then refresh and up finish the recovery", () => {
    let seed: Seed;

    beforeAll(() => {
        seed = ensureSeededIncident(requireLab());
        process.env.OS_CLIENT_CONFIG_FILE = CLOUDS_YAML;
    });
    afterAll(() => {
        slowBoots(undefined); // whatever happened to the tests: the lab's boots are quick again
        delete process.env.OS_CLIENT_CONFIG_FILE;
        reseed(); // web-1 back to its broken, running state
    });

    it("killed while cloning: the lock is recorded, the clone pending; refresh --clear-pending-creates, and up adopts the clone", async () => {
        const inc = incident(seed, "killed-clone", "INC0046");
        const urn = await upKilledAt(inc, "INC0046-web-1-clone");

        const st = readState(inc.run.stateFile);
        expect(recordedSteps(st)).toEqual(["IncidentLock", "LeftoverSweep"]);
        expect(step(st, "IncidentLock")?.id).toBeTruthy();
        expect(st.pendingOperations.map((o) => [o.type, o.resource.urn])).toEqual([["creating", urn]]);

        await cli("refresh", inc.runFile, ["--clear-pending-creates"], inc.marker);
        expect(readState(inc.run.stateFile).pendingOperations).toEqual([]);

        const lines = await cli("up", inc.runFile, [], inc.marker);
        const made = expectRecovered(inc, readState(inc.run.stateFile));
        // when the kill came after Cinder's POST, the clone it started was adopted, not cloned again
        if (lines.join("\n").includes("adopting volume")) expect(lines.join("\n")).toContain(`adopting volume ${made.cloneId}`);
        await expectDestroyLeavesNothing(inc, made);
    });

    it("killed while booting: the steps before are recorded, the server pending; refresh --clear-pending-creates, and up adopts the server", async () => {
        const inc = incident(seed, "killed-boot", "INC0047");
        let serverId = "";
        // a slow hypervisor: the server is still building when the CLI dies (the boot already under way goes on)
        slowBoots(90); // long enough that a loaded machine still finds it building at the next up
        let urn: string;
        try {
            urn = await upKilledAt(inc, "INC0047-web-1-server", () => {
                serverId = osc(["server", "list", "--name", "^web-1-recovered$"], Servers)[0]?.ID ?? "";
                return serverId !== "";
            });
        } finally {
            slowBoots(undefined);
        }
        expect(osc(["server", "show", serverId], Server).status).toBe("BUILD");

        const st = readState(inc.run.stateFile);
        expect(recordedSteps(st)).toEqual([
            "DiskRepair",
            "HelperAttachment",
            "IncidentLock",
            "LeftoverSweep",
            "ReservedPort",
            "VolumeClone",
        ]);
        expect(st.pendingOperations.map((o) => [o.type, o.resource.urn])).toEqual([["creating", urn]]);

        await cli("refresh", inc.runFile, ["--clear-pending-creates"], inc.marker);
        expect(readState(inc.run.stateFile).pendingOperations).toEqual([]);

        const lines = await cli("up", inc.runFile, [], inc.marker);
        expect(lines.join("\n")).toContain(`adopting server web-1-recovered (${serverId}, BUILD)`);
        const made = expectRecovered(inc, readState(inc.run.stateFile));
        expect(made.serverId).toBe(serverId);
        await expectDestroyLeavesNothing(inc, made);
    });

    it("a boot that timed out is recorded with initErrors, and the next up finishes it", async () => {
        // a hypervisor slower than the boot timeout (the fence and the ports, also bounded by it, are quick)
        const inc = incident(seed, "boot-timeout", "INC0048", { timeouts: { bootSeconds: 20 } });
        slowBoots(60);
        const first = startCli("up", inc.runFile, [], inc.marker);
        try {
            expect(await first.done).toBe(1);
        } finally {
            slowBoots(undefined);
        }
        expect(first.lines.join("\n")).toMatch(
            /replacement server \S+: boot: timed out after 20s waiting for server web-1-recovered to become ACTIVE/,
        );
        const st = readState(inc.run.stateFile);
        const server = step(st, "ReplacementServer");
        expect(server?.id).toBeTruthy();
        expect(server?.initErrors.length).toBeGreaterThan(0);
        expect(st.pendingOperations).toEqual([]);

        // the operator gives the boot its normal time
        writeRunFile({ ...web1Incident(seed, "boot-timeout", "INC0048", GIVE_BACK), stateFile: inc.run.stateFile }, inc.runFile);
        const lines = await cli("up", inc.runFile, [], inc.marker);
        expect(lines.some((l) => /^end update \S+::INC0048-web-1-server$/.test(l))).toBe(true);
        const made = expectRecovered(inc, readState(inc.run.stateFile));
        expect(made.serverId).toBe(server?.id);
        expect(step(readState(inc.run.stateFile), "ReplacementServer")?.initErrors).toEqual([]);
        await expectDestroyLeavesNothing(inc, made);
    });
});
