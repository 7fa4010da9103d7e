// Giving up on a recovery: with retain.server and retain.rootVolume false, destroy deletes the replacement and
// the repaired clone, and gives back what it took: both data volumes and the port with the old address are on
// web-1 again (still stopped, for the operator to start). Nothing is left: no DELETE-ME volume, no recovery tag.
// The replacement is booted with web-1's hostname (replacement.hostname), which a cloud from Xena on allows.
import { z } from "zod";
import { destroy, up, type StackRun } from "../engine";
import { ensureSeededIncident, reseed, web1Incident } from "../support/incident";
import { CLOUDS_YAML, requireLab, type Seed } from "../support/lab";
import { osc, oscExists } from "../support/oscli";

jest.setTimeout(15 * 60_000);

const Port = z.object({
    device_id: z.string(),
    fixed_ips: z.array(z.object({ ip_address: z.string() })),
    tags: z.array(z.string()).default([]),
});
const Attached = z.array(z.object({ "Volume ID": z.string() }));
const Volumes = z.array(z.object({ ID: z.string() }));
const Volume = z.object({ description: z.string().nullish(), properties: z.unknown() });

describe("destroy without retaining: the recovery is undone, the broken server gets its things back", () => {
    let seed: Seed;
    let run: StackRun;
    let newServerId = "";
    let cloneId = "";

    beforeAll(() => {
        seed = ensureSeededIncident(requireLab());
        process.env.OS_CLIENT_CONFIG_FILE = CLOUDS_YAML;
        // the replacement keeps web-1's hostname (Nova 2.90; the lab serves Zed's 2.93)
        run = web1Incident(seed, "give-back", "INC0045", {
            retain: { server: false, rootVolume: false, port: false },
            replacement: { hostname: "web-1" },
        });
    });
    afterAll(() => {
        delete process.env.OS_CLIENT_CONFIG_FILE;
        reseed();
    });

    it("up moves the port and both data volumes to the replacement", async () => {
        const r = await up(run);
        newServerId = String(r.outputs.newServerId);
        cloneId = String(r.outputs.repairedVolumeId);
        expect(osc(["port", "show", seed.web1.portId], Port).device_id).toBe(newServerId);
        const moved = osc(["server", "volume", "list", newServerId], Attached)
            .map((v) => v["Volume ID"])
            .filter((v) => v !== cloneId)
            .sort();
        expect(moved).toEqual(seed.web1.dataVolumes.map((v) => v.id).sort());
        const shown = osc(["server", "show", newServerId], z.object({ "OS-EXT-SRV-ATTR:hostname": z.string() }), {
            apiVersions: { compute: "2.90" },
        });
        expect(shown["OS-EXT-SRV-ATTR:hostname"]).toBe("web-1");
        expect(r.outputs.retained).toEqual([`port(s) ${seed.web1.portId} (the broken server's own, given back to web-1 on destroy)`]);
    });

    it("destroy deletes the replacement and the clone, and gives the port and the data volumes back to web-1", async () => {
        const r = await destroy(run);
        expect(r.steps.filter((s) => s.error)).toEqual([]);
        expect(oscExists("server", newServerId)).toBe(false);
        expect(oscExists("volume", cloneId)).toBe(false);

        const port = osc(["port", "show", seed.web1.portId], Port);
        expect(port.device_id).toBe(seed.web1.serverId);
        expect(port.fixed_ips.map((f) => f.ip_address)).toEqual([seed.web1.fixedIp]);
        expect(port.tags.filter((t) => t.startsWith("recovery-"))).toEqual([]);
        const back = osc(["server", "volume", "list", seed.web1.serverId], Attached).map((v) => v["Volume ID"]);
        expect(back).toEqual(expect.arrayContaining([seed.web1.rootVolumeId, ...seed.web1.dataVolumes.map((v) => v.id)]));
        expect(osc(["server", "show", seed.web1.serverId], z.object({ status: z.string() })).status).toBe("SHUTOFF");

        const details = osc(["volume", "list"], Volumes).map((v) => osc(["volume", "show", v.ID], Volume));
        expect(
            details.filter((v) => /DELETE ME/.test(v.description ?? "") || JSON.stringify(v.properties ?? {}).includes("recovery-")),
        ).toEqual([]);
    });
});
