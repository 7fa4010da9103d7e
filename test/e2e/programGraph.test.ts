// The stack program itself under setMocks, looking at the real seeded incident on the lab cloud:
// the graph it registers is built from what the cloud says about web-1 (its root volume, data
// volumes, port), and no credential from the config reaches any input.
import { installMocks, settle, type MockHarness } from "../support/mockHarness";
import { ensureSeededIncident, pinnedHostKey } from "../support/incident";
import { CLOUDS_YAML, requireLab, type Seed } from "../support/lab";

const T = "pulumi-nodejs:dynamic/recovery:";

describe("stack program graph for web-1", () => {
    let h: MockHarness;
    let seed: Seed;
    let outputs: Record<string, unknown>;
    beforeAll(async () => {
        seed = ensureSeededIncident(requireLab());
        process.env.OS_CLIENT_CONFIG_FILE = CLOUDS_YAML;
        h = await installMocks({
            project: "openstack-recovery",
            stack: "graph",
            preview: true,
            config: {
                "openstack:cloud": "lab-member",
                "openstack-recovery:incident": "INC0007",
                "openstack-recovery:server": "web-1",
                "openstack-recovery:helper": JSON.stringify({
                    server: "snap-mounter",
                    sshKeyFile: seed.snapMounter.guest.keyPath,
                    hostKey: pinnedHostKey(seed),
                }),
                "openstack-recovery:verify": JSON.stringify({ command: 'nc -z -w 5 "$RECOVERED_IP" 22' }),
            },
        });
        const { main } = await import("../../stacks/program");
        outputs = await main();
        await settle(); // a preview: the clone's id is unknown, so wait for the registrations, not an output
    });
    afterAll(() => {
        delete process.env.OS_CLIENT_CONFIG_FILE;
    });

    it("registers the volume-backed chain for the incident", () => {
        // sorted: a dynamic resource registers after its provider is serialized (async), so the sweep,
        // made first, may reach the monitor after the chain's component
        expect(h.registrations.map((r) => `${r.type.replace(T, "")} ${r.name}`).sort()).toEqual(
            [
                "LeftoverSweep leftover-sweep",
                "openstack-recovery:recipes:VolumeBacked INC0007-web-1",
                "IncidentLock INC0007-web-1-lock",
                "VolumeClone INC0007-web-1-clone",
                "HelperAttachment INC0007-web-1-attachment",
                "DiskRepair INC0007-web-1-repair",
                "ReservedPort INC0007-web-1-port-0",
                "ReplacementServer INC0007-web-1-server",
                "BootProof INC0007-web-1-boot", // bootProof.enabled by default
                "command:local:Command INC0007-verify",
            ].sort(),
        );
        expect(outputs.strategy).toBe("volume-backed");
    });

    it("feeds the steps what the cloud says about web-1", () => {
        expect(h.get("INC0007-web-1-clone").inputs).toMatchObject({
            sourceVolumeId: seed.web1.rootVolumeId,
            stack: "organization/openstack-recovery/graph",
        });
        expect(h.get("INC0007-web-1-attachment").inputs).toMatchObject({ helperServerId: seed.snapMounter.serverId });
        expect(h.get("INC0007-web-1-repair").inputs).toMatchObject({ host: seed.snapMounter.fixedIp, actions: ["fstab"] });
        expect(h.get("INC0007-web-1-port-0").inputs).toMatchObject({
            mode: "takeover",
            portId: seed.web1.portId,
            brokenServerId: seed.web1.serverId,
        });
        expect(h.get("INC0007-web-1-server").inputs).toMatchObject({
            name: "web-1-recovered",
            brokenServerId: seed.web1.serverId,
            dataVolumeIds: seed.web1.dataVolumes.map((v) => v.id).sort(),
        });
    });

    it("runs the operator's check after the replacement, with the standard command resource", () => {
        const check = h.get("INC0007-verify", "command:local:Command");
        expect(check.custom).toBe(true);
        expect(check.inputs.create).toBe('nc -z -w 5 "$RECOVERED_IP" 22');
        // after the whole recovery: dependsOn the component reaches the replacement server and every step
        expect(check.dependencies).toEqual(expect.arrayContaining([h.get("INC0007-web-1-server").urn, h.get("INC0007-web-1-repair").urn]));
        expect(outputs).toHaveProperty("verifyOutput");
    });

    it("keeps the lab's password out of every input", () => {
        expect(JSON.stringify(h.registrations.map((r) => r.inputs))).not.toContain("lab-secret");
    });
});
