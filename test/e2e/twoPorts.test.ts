// web-1 with two ports (issue 7): one `up` recovers it with steps in parallel, as the engine runs them
// (pkg/resource/deploy/step_executor.go, `--parallel` defaults to 4 × GOMAXPROCS). The two ReservedPorts
// depend only on the repair, so they run at the same time, and both fence web-1 at once: Nova refuses a stop
// while another is under way (409, task_state must be None), so the second must wait for the first instead of
// failing. The replacement then boots with both addresses; destroy (nothing retained) gives both ports back.
import { z } from "zod";
import { destroy, up, type StackRun, type Step } from "../engine";
import { ensureSeededIncident, GIVE_BACK, reseed, web1Incident } from "../support/incident";
import { CLOUDS_YAML, requireLab, type Seed } from "../support/lab";
import { osc, oscExists, oscRun } from "../support/oscli";

jest.setTimeout(15 * 60_000);

const Port = z.object({
    id: z.string(),
    device_id: z.string(),
    fixed_ips: z.array(z.object({ ip_address: z.string() })),
    tags: z.array(z.string()).default([]),
});
const Ports = z.array(z.object({ ID: z.string() }));

const overlap = (a: Step, b: Step) => (a.began ?? 0) < (b.ended ?? 0) && (b.began ?? 0) < (a.ended ?? 0);

describe("web-1 with two ports: one up, steps in parallel", () => {
    let seed: Seed;
    let run: StackRun;
    let second: z.infer<typeof Port>;
    let newServerId = "";

    beforeAll(() => {
        seed = ensureSeededIncident(requireLab());
        process.env.OS_CLIENT_CONFIG_FILE = CLOUDS_YAML;
        // a second port with an address of its own, attached to web-1 the way an operator adds an interface
        const created = osc(["port", "create", "--network", seed.network.id, "web-1-port-2"], Port);
        oscRun(["server", "add", "port", seed.web1.serverId, created.id]);
        second = osc(["port", "show", created.id], Port);
        run = web1Incident(seed, "two-ports", "INC0049", GIVE_BACK);
    });
    afterAll(() => {
        delete process.env.OS_CLIENT_CONFIG_FILE;
        reseed(); // web-1 back to its one port and broken state
    });

    it("up takes over both ports at once, fences web-1 once, and boots the replacement with both addresses", async () => {
        expect(second.device_id).toBe(seed.web1.serverId);
        const r = await up(run);
        const ports = r.steps.filter((s) => s.op === "create" && s.type.endsWith(":ReservedPort"));
        expect(ports).toHaveLength(2);
        expect(overlap(ports[0]!, ports[1]!)).toBe(true);
        newServerId = String(r.outputs.newServerId);
        expect(osc(["server", "show", seed.web1.serverId], z.object({ status: z.string() })).status).toBe("SHUTOFF");
        // both fences ran, one stop reached Nova's compute service
        const events = osc(["server", "event", "list", seed.web1.serverId], z.array(z.object({ Action: z.string() })));
        expect(events.filter((e) => e.Action === "stop")).toHaveLength(1);
        for (const id of [seed.web1.portId, second.id]) expect(osc(["port", "show", id], Port).device_id).toBe(newServerId);
        expect((r.outputs.newServerIps as string[]).sort()).toEqual(
            [seed.web1.fixedIp, ...second.fixed_ips.map((f) => f.ip_address)].sort(),
        );
    });

    it("destroy gives both ports back to web-1, untagged, and leaves nothing of the stack's", async () => {
        const r = await destroy(run);
        expect(r.steps.filter((s) => s.error)).toEqual([]);
        expect(oscExists("server", newServerId)).toBe(false);
        const onWeb1 = osc(["port", "list", "--server", seed.web1.serverId], Ports)
            .map((p) => p.ID)
            .sort();
        expect(onWeb1).toEqual([seed.web1.portId, second.id].sort());
        for (const id of onWeb1) expect(osc(["port", "show", id], Port).tags.filter((t) => t.startsWith("recovery-"))).toEqual([]);
    });
});
