// keepIp set to a free address (runbook 002: the broken server's port is gone, its address is not taken yet): up
// reserves exactly that address in a new port of the stack's and boots the replacement with it; destroy keeps the
// port (retain.port), promoted: no DELETE ME, no recovery tag, still the replacement's. Its helper user is root (root
// stays an option; the other recoveries log in as the helper's sudoer).
import { z } from "zod";
import { destroy, up, type StackRun } from "../engine";
import { ensureSeededIncident, helperConfig, reseed, web1Incident } from "../support/incident";
import { CLOUDS_YAML, requireLab, type Seed } from "../support/lab";
import { osc } from "../support/oscli";

jest.setTimeout(15 * 60_000);

const Port = z.object({
    id: z.string(),
    device_id: z.string(),
    description: z.string().nullish(),
    fixed_ips: z.array(z.object({ ip_address: z.string(), subnet_id: z.string() })),
    tags: z.array(z.string()).default([]),
});
const Ports = z.array(z.object({ ID: z.string() }));

describe("keepIp: a free address of the broken server's network", () => {
    let seed: Seed;
    let run: StackRun;
    let free = "";
    let portId = "";
    let serverId = "";

    beforeAll(() => {
        seed = ensureSeededIncident(requireLab());
        process.env.OS_CLIENT_CONFIG_FILE = CLOUDS_YAML;
        // an address of web-1's subnet that no port holds
        const used = new Set(
            osc(["port", "list", "--network", seed.network.id, "--long"], z.array(z.object({ "Fixed IP Addresses": z.unknown() }))).flatMap(
                (p) => JSON.stringify(p["Fixed IP Addresses"]).match(/\d+\.\d+\.\d+\.\d+/g) ?? [],
            ),
        );
        const prefix = seed.network.cidr.split(".").slice(0, 3).join(".");
        free = [...Array(40).keys()].map((n) => `${prefix}.${200 - n}`).find((ip) => !used.has(ip))!;
        // root stays an option: this recovery logs in to the helper as root (the others as its sudoer, cloud-user)
        run = web1Incident(seed, "keep-free-address", "INC0044", {
            keepIp: free,
            replacement: { moveDataVolumes: false },
            helper: helperConfig(seed, "root"),
        });
    });
    afterAll(() => {
        delete process.env.OS_CLIENT_CONFIG_FILE;
        reseed(); // web-1 back to its broken state, the kept server and port gone
    });

    it("up reserves exactly that address in a tagged DELETE-ME port and boots the replacement on it", async () => {
        const r = await up(run);
        expect(r.diagnostics.join("\n")).toMatch(/\[DiskRepair [^\]]*\] running repair \(fstab\) on root@\S+ \(bash -s\)/);
        serverId = String(r.outputs.newServerId);
        const ports = osc(["port", "list", "--server", serverId], Ports);
        expect(ports).toHaveLength(1);
        portId = ports[0].ID;
        const port = osc(["port", "show", portId], Port);
        expect(port.fixed_ips.map((f) => f.ip_address)).toEqual([free]);
        expect(port.fixed_ips[0].subnet_id).toBe(seed.network.subnetId);
        expect(port.description).toMatch(/^INC0044 DELETE ME/);
        expect(port.tags).toContain("recovery-stack=organization/openstack-recovery/keep-free-address");
        expect(r.outputs.newServerIps).toEqual([free]);
        // the broken server keeps its own port and address; it is stopped all the same (fenced)
        expect(osc(["port", "show", seed.web1.portId], Port).device_id).toBe(seed.web1.serverId);
        expect(osc(["server", "show", seed.web1.serverId], z.object({ status: z.string() })).status).toBe("SHUTOFF");
    });

    it("destroy keeps the port, promoted, on the kept replacement", async () => {
        const r = await destroy(run);
        expect(r.steps.filter((s) => s.error)).toEqual([]);
        const port = osc(["port", "show", portId], Port);
        expect(port.device_id).toBe(serverId);
        expect(port.fixed_ips.map((f) => f.ip_address)).toEqual([free]);
        expect(port.description ?? "").not.toMatch(/DELETE ME/);
        expect(port.tags.filter((t) => t.startsWith("recovery-"))).toEqual([]);
    });
});
