// ReservedPort against the lab cloud, for a port Nova created itself (`server create --network`):
// Nova deletes such a port when it is detached, so the step must reserve the same address and MAC
// again at once in a port of its own, tagged for the stack, and kept (promoted) on destroy, back on the server
// it was taken from when no replacement holds it.
import { z } from "zod";
import { impl } from "../../providers/reservedPort";
import { recoveryTags } from "../../providers/step";
import { CLOUDS_YAML, requireLab, type Seed } from "../support/lab";
import { osc, oscRun } from "../support/oscli";

jest.setTimeout(10 * 60_000);

const Port = z.object({
    id: z.string(),
    mac_address: z.string(),
    device_id: z.string(),
    fixed_ips: z.array(z.object({ ip_address: z.string() })),
    tags: z.array(z.string()).default([]),
});
const Ports = z.array(z.object({ ID: z.string() }));

describe("taking over a port that Nova created", () => {
    let seed: Seed;
    let serverId = "";
    let original: z.infer<typeof Port>;
    let reservedId = "";
    const env = { config: (k: string) => (k === "openstack:cloud" ? "lab-member" : undefined) };
    const tagging = { incident: "INC0099", stack: "organization/openstack-recovery/port-takeover", logicalName: "INC0099-port-0" };

    beforeAll(() => {
        seed = requireLab();
        process.env.OS_CLIENT_CONFIG_FILE = CLOUDS_YAML;
        serverId = osc(
            [
                "server",
                "create",
                "--flavor",
                "m1.tiny",
                "--image",
                seed.images.base.id,
                "--network",
                seed.network.id,
                "--wait",
                "nova-port",
            ],
            z.object({ id: z.string() }),
        ).id;
        const ports = osc(["port", "list", "--server", serverId], Ports);
        original = osc(["port", "show", ports[0].ID], Port);
    });
    afterAll(() => {
        if (serverId) oscRun(["server", "delete", "--wait", serverId]);
        if (reservedId) oscRun(["port", "delete", reservedId]);
        delete process.env.OS_CLIENT_CONFIG_FILE;
    });

    it("fences the server, and keeps the address and MAC in a new port of the stack's", async () => {
        const created = await impl.create(
            {
                ...tagging,
                mode: "takeover",
                brokenServerId: serverId,
                portId: original.id,
                fixedIps: [],
                fence: true,
                retain: true,
                timeoutSeconds: 300,
            },
            env,
        );
        reservedId = created.id;
        expect(osc(["server", "show", serverId], z.object({ status: z.string() })).status).toBe("SHUTOFF");
        expect(created.id).not.toBe(original.id); // Nova deleted its own port on detach
        expect(osc(["port", "list", "--server", serverId], Ports)).toEqual([]);
        const port = osc(["port", "show", created.id], Port);
        expect(port.fixed_ips.map((f) => f.ip_address)).toEqual(original.fixed_ips.map((f) => f.ip_address));
        expect(port.mac_address).toBe(original.mac_address);
        expect(port.device_id).toBe("");
        expect(port.tags.sort()).toEqual(recoveryTags(tagging).sort());
        expect(created.outs).toMatchObject({ mode: "create", portId: created.id, previousDeviceId: serverId });
    });

    it("on destroy keeps the port, tags removed, and gives it back to the stopped server when no replacement holds it", async () => {
        const created = osc(["port", "show", reservedId], Port);
        await impl.delete(
            reservedId,
            {
                ...tagging,
                mode: "create",
                brokenServerId: serverId,
                portId: reservedId,
                fixedIps: [],
                fence: true,
                retain: true,
                timeoutSeconds: 300,
                ipAddresses: created.fixed_ips.map((f) => f.ip_address),
                macAddress: created.mac_address,
                previousDeviceId: serverId,
                previousDeviceOwner: "compute:nova",
                fenced: true,
            },
            env,
        );
        const kept = osc(["port", "show", reservedId], Port);
        expect(kept.tags.filter((t) => t.startsWith("recovery-"))).toEqual([]);
        expect(kept.mac_address).toBe(original.mac_address);
        // no replacement holds it (none was booted here): the server it was taken from has its address again
        expect(kept.device_id).toBe(serverId);
        expect(osc(["port", "list", "--server", serverId], Ports).map((p) => p.ID)).toEqual([reservedId]);
    });
});
