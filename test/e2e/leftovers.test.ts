// The leftover sweep (ARCHITECTURE.md "The tag contract") on the lab cloud: what an interrupted `up` leaves that the state never recorded. The stack runs
// in report mode (lock, clone, attachment, repair; nothing is stopped or booted); then the leftovers of a
// crash between an API call and the state write are made by hand, and `destroy` must clean up after them:
// the clone still attached to the helper is released and deleted, a tagged DELETE-ME clone is deleted, a
// tagged port is kept (it may hold the address to keep) with its tags removed, a tagged server is left and
// reported. Decoys (another stack's DELETE-ME volume, an untagged one named like ours) are never touched.
import * as fs from "fs";
import { z } from "zod";
import { destroy, readState, up, type StackRun } from "../engine";
import { writeState } from "../engine/state";
import { ensureSeededIncident, web1Incident } from "../support/incident";
import { CLOUDS_YAML, requireLab, waitFor, type Seed } from "../support/lab";
import { osc, oscExists, oscRun } from "../support/oscli";

jest.setTimeout(15 * 60_000);

const STACK = "organization/openstack-recovery/leftovers";
const Id = z.object({ id: z.string() });
const Volume = z.object({ id: z.string(), status: z.string(), attachments: z.array(z.object({ server_id: z.string() })) });
const Port = z.object({ id: z.string(), tags: z.array(z.string()).default([]) });
const volumeStatus = (id: string) => osc(["volume", "show", id], Volume).status;

describe("destroy after an interrupted up: the sweep", () => {
    let seed: Seed;
    let run: StackRun;
    let cloneId = "";
    const made: { kind: "volume" | "port" | "server"; id: string }[] = [];
    const logs: string[] = [];

    beforeAll(async () => {
        seed = ensureSeededIncident(requireLab());
        process.env.OS_CLIENT_CONFIG_FILE = CLOUDS_YAML;
        run = web1Incident(seed, "leftovers", "INC0043", { repair: { mode: "report" } });
        const r = await up(run);
        logs.push(...r.diagnostics);
        cloneId = String(r.outputs.repairedVolumeId);

        // 1. the attach call went through, its state write did not: attached again, no HelperAttachment in the state
        oscRun(["server", "add", "volume", seed.snapMounter.serverId, cloneId]);
        await waitFor("the clone attached again", () => (volumeStatus(cloneId) === "in-use" ? true : undefined), 120_000, 1000);
        const state = readState(run.stateFile);
        const lost = state.resources.find((x) => x.type.endsWith(":HelperAttachment"))!.urn;
        const forget = (urns: string[]) => urns.filter((u) => u !== lost);
        const resources = state.resources
            .filter((x) => x.urn !== lost)
            .map((x) => ({
                ...x,
                dependencies: forget(x.dependencies),
                propertyDependencies: Object.fromEntries(Object.entries(x.propertyDependencies).map(([k, v]) => [k, forget(v)])),
            }));
        writeState(run.stateFile, { ...state, resources });

        // 2. a clone, a port and a server this stack created and tagged but never recorded
        const ours = ["--property", `recovery-stack=${STACK}`, "--property", "recovery-incident=INC0043"];
        made.push({
            kind: "volume",
            id: osc(
                ["volume", "create", "--size", "1", "--description", "INC0043 DELETE ME: clone of volume x", ...ours, "leftover-clone"],
                Id,
            ).id,
        });
        made.push({
            kind: "port",
            id: osc(
                [
                    "port",
                    "create",
                    "--network",
                    seed.network.id,
                    "--description",
                    "INC0043 DELETE ME: address kept",
                    "--tag",
                    `recovery-stack=${STACK}`,
                    "leftover-port",
                ],
                Id,
            ).id,
        });
        made.push({
            kind: "server",
            id: osc(
                [
                    "server",
                    "create",
                    "--flavor",
                    "m1.tiny",
                    "--image",
                    seed.images.base.id,
                    "--network",
                    seed.network.id,
                    ...ours,
                    "--wait",
                    "leftover-server",
                ],
                Id,
            ).id,
        });
        // 3. decoys: DELETE ME, but another stack's, or nobody's
        made.push({
            kind: "volume",
            id: osc(
                [
                    "volume",
                    "create",
                    "--size",
                    "1",
                    "--description",
                    "INC0043 DELETE ME: clone",
                    "--property",
                    "recovery-stack=organization/openstack-recovery/someone-else",
                    "decoy-other-stack",
                ],
                Id,
            ).id,
        });
        made.push({
            kind: "volume",
            id: osc(["volume", "create", "--size", "1", "--description", "INC0043 DELETE ME: clone", "vol-clone-INC0043"], Id).id,
        });
        for (const m of made.filter((x) => x.kind === "volume"))
            await waitFor(`volume ${m.id}`, () => (volumeStatus(m.id) === "available" ? true : undefined), 120_000, 1000);
    });

    afterAll(() => {
        for (const m of made) if (oscExists(m.kind, m.id)) oscRun([m.kind, "delete", ...(m.kind === "server" ? ["--wait"] : []), m.id]);
        if (cloneId && oscExists("volume", cloneId)) {
            oscRun(["server", "remove", "volume", seed.snapMounter.serverId, cloneId]);
            oscRun(["volume", "delete", cloneId]);
        }
        delete process.env.OS_CLIENT_CONFIG_FILE;
    });

    it("destroy leaves no clone and no attachment, keeps the port untagged, reports the server, and touches no decoy", async () => {
        const r = await destroy(run);
        logs.push(...r.diagnostics);
        expect(r.steps.filter((s) => s.error)).toEqual([]);
        const [leftoverClone, port, server, decoyOther, decoyUntagged] = made;

        // the clone in the state was released from the helper first, then deleted; so was the unrecorded one
        expect(oscExists("volume", cloneId)).toBe(false);
        expect(oscExists("volume", leftoverClone.id)).toBe(false);
        expect(osc(["server", "volume", "list", seed.snapMounter.serverId], z.array(z.unknown()))).toEqual([]);
        // the port may hold an address someone needs: kept, no longer ours
        expect(osc(["port", "show", port.id], Port).tags.filter((t) => t.startsWith("recovery-"))).toEqual([]);
        // a server may hold data: left, and the operator told what to do
        expect(oscExists("server", server.id)).toBe(true);
        expect(logs.join("\n")).toContain(`openstack server delete ${server.id}`);
        // never by description or name alone, never another stack's
        expect(oscExists("volume", decoyOther.id)).toBe(true);
        expect(oscExists("volume", decoyUntagged.id)).toBe(true);
        // and the lock is released
        expect(
            JSON.stringify(osc(["server", "show", seed.web1.serverId], z.object({ properties: z.unknown() })).properties ?? {}),
        ).not.toMatch(/recovery-lock/);
        expect(fs.existsSync(run.stateFile) ? readState(run.stateFile).resources : []).toEqual([]);
    });
});
