// Two chains in one stack (issue 8), as the whole-host recipe will run them: web-1 and a second
// volume-backed server web-2 broken the same way, recovered by one `up` of a test stack
// (test/e2e/two-chains: one LeftoverSweep, one volume-backed chain per server, named
// <incident>-<server>). Neither chain touches the other's ports, volumes or tags: each replacement
// has its own server's address and data volumes, every tagged thing names its own server as
// recovery-source, a second preview changes nothing, and destroy leaves nothing of the stack's.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { z } from "zod";
import { checkpointPath, destroy, preview, up, type StackRun } from "../engine";
import { ensureSeededIncident, reseed, web1Run } from "../support/incident";
import { CLOUDS_YAML, requireLab, type Seed } from "../support/lab";
import { osc, oscRun } from "../support/oscli";

jest.setTimeout(20 * 60_000);

const Id = z.object({ id: z.string() });
const Port = z.object({
    id: z.string(),
    device_id: z.string(),
    fixed_ips: z.array(z.object({ ip_address: z.string() })),
    tags: z.array(z.string()).default([]),
});
const Ports = z.array(z.object({ ID: z.string() }));
const Servers = z.array(z.object({ ID: z.string(), Name: z.string() }));
const STACK = "organization/two-chains/two-chains";
const tagged = (tags: string[], key: string) => tags.find((t) => t.startsWith(`${key}=`))?.slice(key.length + 1);

describe("two chains in one stack: web-1 and web-2", () => {
    let seed: Seed;
    let run: StackRun;
    const web2 = { serverId: "", portId: "", ip: "10.251.0.11", rootId: "", dataId: "" };
    let outputs: Record<string, Record<string, unknown>> = {};

    beforeAll(() => {
        seed = ensureSeededIncident(requireLab());
        process.env.OS_CLIENT_CONFIG_FILE = CLOUDS_YAML;
        // web-2: booted from a volume holding the same broken disk as web-1, with a port and a data volume of its own
        web2.rootId = osc(["volume", "create", "--image", seed.images.web1Root.id, "--size", "1", "--bootable", "web-2-root"], Id).id;
        web2.dataId = osc(["volume", "create", "--size", "1", "web-2-data"], Id).id;
        for (const v of [web2.rootId, web2.dataId]) waitVolume(v, "available");
        web2.portId = osc(
            [
                "port",
                "create",
                "--network",
                seed.network.id,
                "--fixed-ip",
                `subnet=${seed.network.subnetId},ip-address=${web2.ip}`,
                "web-2-port",
            ],
            Id,
        ).id;
        web2.serverId = osc(
            ["server", "create", "--flavor", "m1.tiny", "--volume", web2.rootId, "--port", web2.portId, "--wait", "web-2"],
            Id,
        ).id;
        oscRun(["server", "add", "volume", web2.serverId, web2.dataId]);
        waitVolume(web2.dataId, "in-use");
        const base = web1Run({ seed, stack: "two-chains", cloudsFile: CLOUDS_YAML, config: { "openstack-recovery:incident": "INC0050" } });
        const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "osr-two-chains-"));
        run = {
            ...base,
            projectDir: path.join(__dirname, "two-chains"),
            stateFile: checkpointPath(stateDir, "two-chains", "two-chains"),
            config: {
                ...base.config,
                "two-chains:servers": JSON.stringify(["web-1", "web-2"]),
                "openstack-recovery:retain": JSON.stringify({ server: false, rootVolume: false, port: false }),
            },
        };
    });
    afterAll(() => {
        for (const args of [
            ["server", "delete", "--wait", "web-2"],
            ["volume", "delete", web2.dataId],
            ["volume", "delete", web2.rootId],
            ["port", "delete", web2.portId],
        ]) {
            try {
                oscRun(args);
            } catch {
                // already gone
            }
        }
        delete process.env.OS_CLIENT_CONFIG_FILE;
        reseed();
    });

    it("one up recovers both, each replacement with its own server's address and data volumes", async () => {
        const r = await up(run);
        expect(r.steps.filter((s) => s.error)).toEqual([]);
        outputs = r.outputs as typeof outputs;
        const names = r.steps
            .filter((s) => s.op === "create" && s.custom)
            .map((s) => s.urn.split("::").pop())
            .sort();
        expect(names).toEqual(
            expect.arrayContaining([
                "leftover-sweep",
                "INC0050-web-1-clone",
                "INC0050-web-2-clone",
                "INC0050-web-1-server",
                "INC0050-web-2-server",
            ]),
        );
        expect(names.filter((n) => n === "leftover-sweep")).toHaveLength(1);
        const cases = [
            {
                name: "web-1",
                portId: seed.web1.portId,
                ip: seed.web1.fixedIp,
                data: seed.web1.dataVolumes.map((v) => v.id),
                brokenId: seed.web1.serverId,
            },
            { name: "web-2", portId: web2.portId, ip: web2.ip, data: [web2.dataId], brokenId: web2.serverId },
        ];
        for (const c of cases) {
            const newId = String(outputs[c.name]!.newServerId);
            expect(outputs[c.name]!.newServerIps).toEqual([c.ip]);
            expect(osc(["port", "show", c.portId], Port).device_id).toBe(newId);
            const attached = osc(
                ["server", "volume", "list", newId, "-c", "Volume ID"],
                z.array(z.object({ "Volume ID": z.string() })),
            ).map((v) => v["Volume ID"]);
            expect(attached.filter((v) => v !== outputs[c.name]!.repairedVolumeId).sort()).toEqual([...c.data].sort());
            // everything of this chain names its own broken server as recovery-source
            expect(tagged(osc(["port", "show", c.portId], Port).tags, "recovery-source")).toBe(c.brokenId);
            const meta =
                osc(["server", "show", newId], z.object({ properties: z.record(z.string(), z.string()).nullish() })).properties ?? {};
            expect(meta).toMatchObject({
                "recovery-stack": STACK,
                "recovery-source": c.brokenId,
                "recovery-resource": `INC0050-${c.name}-server`,
            });
        }
    });

    it("a second preview changes nothing: each chain counts only what it moved itself", async () => {
        const r = await preview(run);
        expect(r.steps.filter((s) => s.custom && s.op !== "same").map((s) => `${s.op} ${s.urn.split("::").pop()}`)).toEqual([]);
    });

    it("destroy undoes both and leaves nothing tagged by the stack", async () => {
        const r = await destroy(run);
        expect(r.steps.filter((s) => s.error)).toEqual([]);
        // the sweep is the last delete, after both chains
        const deletes = r.steps.filter((s) => s.op === "delete" && s.custom);
        expect(deletes.at(-1)?.urn.split("::").pop()).toBe("leftover-sweep");
        expect(osc(["port", "list", "--server", seed.web1.serverId], Ports).map((p) => p.ID)).toEqual([seed.web1.portId]);
        expect(osc(["port", "list", "--server", web2.serverId], Ports).map((p) => p.ID)).toEqual([web2.portId]);
        expect(osc(["port", "list", "--tags", `recovery-stack=${STACK}`], Ports)).toEqual([]);
        const volumes = osc(["volume", "list", "--long"], z.array(z.object({ ID: z.string(), Properties: z.unknown() })));
        expect(volumes.filter((v) => JSON.stringify(v.Properties ?? {}).includes(STACK))).toEqual([]);
        const left = osc(["server", "list"], Servers).filter((s) => /-recovered$/.test(s.Name));
        expect(left).toEqual([]);
    });
});

function waitVolume(id: string, status: string): void {
    for (let i = 0; i < 120; i++) {
        const v = osc(["volume", "show", id], z.object({ status: z.string() }));
        if (v.status === status) return;
        if (v.status.startsWith("error")) throw new Error(`volume ${id} went to ${v.status}`);
        execSleep(1);
    }
    throw new Error(`volume ${id} never became ${status}`);
}

function execSleep(seconds: number): void {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, seconds * 1000);
}
