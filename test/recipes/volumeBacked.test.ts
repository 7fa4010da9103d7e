// The volume-backed recipe as a graph, under setMocks: what preview would show (one tree that
// mirrors the runbook), how the steps wait for each other, what each is given, and that no
// credential or key travels in any input.
import * as pulumi from "@pulumi/pulumi";
import { installMocks, type MockHarness, type Registration } from "../support/mockHarness";
import { VolumeBackedRecovery, type VolumeBackedArgs } from "../../recipes/volumeBacked";

const T = "pulumi-nodejs:dynamic/recovery:";
const args = (over: Partial<VolumeBackedArgs> = {}): VolumeBackedArgs => ({
    incident: "INC1234",
    stack: "organization/openstack-recovery/inc1234",
    brokenServer: { id: "srv-broken", name: "web-1", availabilityZone: "nova", flavorId: "f1" },
    rootVolume: { id: "vol-root", size: 20, availabilityZone: "nova" },
    helper: {
        serverId: "srv-helper",
        address: "10.0.0.2",
        port: 22,
        user: "root",
        privateKeyFile: "/home/op/.ssh/helper",
        hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJigioH",
    },
    repair: { actions: ["fsck", "fstab"], mode: "repair" },
    keepIp: { mode: "takeover", portIds: ["port-a", "port-b"] },
    replacement: { name: "web-1-recovered", boot: true, dataVolumeIds: ["vol-data-1", "vol-data-2"] },
    retain: { server: true, port: true, rootVolume: true },
    timeouts: { cloneSeconds: 1800, repairSeconds: 1800, bootSeconds: 900 },
    ...over,
});

async function build(a: VolumeBackedArgs): Promise<MockHarness> {
    const h = await installMocks({
        project: "openstack-recovery",
        stack: "inc1234",
        // what the providers would return, so outputs can flow downstream
        state: (r) =>
            r.type === `${T}VolumeClone`
                ? { volumeId: "vol-clone" }
                : r.type === `${T}ReservedPort`
                  ? { portId: `${r.name}-port` }
                  : undefined,
        config: { "openstack:password": "never-in-an-input" },
        secretConfigKeys: ["openstack:password"],
    });
    const r = new VolumeBackedRecovery("INC1234", a);
    await new Promise((ok) => pulumi.all([r.urn, r.cloneVolumeId, r.serverId]).apply(ok));
    await new Promise((ok) => setTimeout(ok, 100));
    return h;
}

const deps = (h: MockHarness, r: Registration) => r.dependencies.map((u) => h.registrations.find((x) => x.urn === u)?.name);

describe("volume-backed recipe graph", () => {
    let h: MockHarness;
    beforeAll(async () => {
        h = await build(args());
    });

    it("is one tree: clone, attachment, repair, one port per address, replacement, under the recipe", () => {
        const root = h.get("INC1234", "openstack-recovery:recipes:VolumeBacked");
        const children = h.registrations.filter((r) => r.parent === root.urn).map((r) => `${r.type.replace(T, "")} ${r.name}`);
        expect(children).toEqual([
            "IncidentLock INC1234-lock",
            "VolumeClone INC1234-clone",
            "HelperAttachment INC1234-attachment",
            "DiskRepair INC1234-repair",
            "ReservedPort INC1234-port-0",
            "ReservedPort INC1234-port-1",
            "ReplacementServer INC1234-server",
        ]);
    });

    it("orders the chain: lock, clone, attach, repair after the attachment, fence and boot only after the repair", () => {
        expect(deps(h, h.get("INC1234-clone"))).toEqual(["INC1234-lock"]);
        expect(h.get("INC1234-lock").inputs).toMatchObject({ serverId: "srv-broken", stack: "organization/openstack-recovery/inc1234" });
        expect(deps(h, h.get("INC1234-attachment"))).toEqual(["INC1234-clone"]);
        expect(deps(h, h.get("INC1234-repair"))).toEqual(["INC1234-attachment"]);
        expect(deps(h, h.get("INC1234-port-0"))).toEqual(["INC1234-repair"]);
        expect(deps(h, h.get("INC1234-server")).sort()).toEqual(["INC1234-clone", "INC1234-port-0", "INC1234-port-1", "INC1234-repair"]);
        expect(h.get("INC1234-server").propertyDependencies.bootVolumeId).toEqual([h.get("INC1234-clone").urn]);
    });

    it("gives each step what the runbook says", () => {
        expect(h.get("INC1234-clone").inputs).toMatchObject({
            sourceVolumeId: "vol-root",
            name: "vol-clone-INC1234",
            size: 20,
            retain: true,
            incident: "INC1234",
            stack: "organization/openstack-recovery/inc1234",
        });
        expect(h.get("INC1234-attachment").inputs).toMatchObject({ helperServerId: "srv-helper", volumeId: "vol-clone" });
        expect(h.get("INC1234-port-1").inputs).toMatchObject({ mode: "takeover", portId: "port-b", brokenServerId: "srv-broken" });
        expect(h.get("INC1234-server").inputs).toMatchObject({
            bootVolumeId: "vol-clone",
            portIds: ["INC1234-port-0-port", "INC1234-port-1-port"],
            dataVolumeIds: ["vol-data-1", "vol-data-2"],
            flavorId: "f1",
            retain: true,
        });
    });

    it("shows the repair script and its hash in the preview, with the volume id left as a placeholder", () => {
        const repair = h.get("INC1234-repair").inputs;
        expect(repair).toMatchObject({
            actions: ["fsck", "fstab"],
            mode: "repair",
            host: "10.0.0.2",
            privateKeyFile: "/home/op/.ssh/helper",
        });
        expect(String(repair.scriptSha256)).toMatch(/^[0-9a-f]{64}$/);
        expect(String(repair.script)).toContain("00000000-0000-4000-8000-000000000000");
    });

    it("puts no credential or key in any input", () => {
        const all = JSON.stringify(h.registrations.map((r) => ({ ...r.inputs, __provider: undefined })));
        expect(all).not.toContain("never-in-an-input");
        expect(all).not.toMatch(/PRIVATE KEY/);
    });
});

describe("recipe variants", () => {
    it("report mode clones, attaches and reports, and neither stops the server nor boots anything", async () => {
        const h = await build(args({ repair: { actions: ["fstab"], mode: "report" } }));
        expect(h.registrations.map((r) => r.type.replace(T, "")).filter((t) => !t.includes(":"))).toEqual([
            "IncidentLock",
            "VolumeClone",
            "HelperAttachment",
            "DiskRepair",
        ]);
        expect(h.get("INC1234-clone").inputs.retain).toBe(false); // only a DELETE-ME copy: destroy deletes it
    });

    it("an address to keep in a new port, and no address kept at all", async () => {
        let h = await build(
            args({ keepIp: { mode: "create", networkId: "net-1", fixedIps: [{ subnet_id: "sub-1", ip_address: "10.0.0.5" }] } }),
        );
        expect(h.get("INC1234-port-0").inputs).toMatchObject({
            mode: "create",
            networkId: "net-1",
            fixedIps: [{ ip_address: "10.0.0.5" }],
            retain: true,
        });
        h = await build(args({ keepIp: { mode: "none", networkIds: ["net-1"] } }));
        expect(h.registrations.some((r) => r.type === `${T}ReservedPort`)).toBe(false);
        expect(h.get("INC1234-server").inputs).toMatchObject({ networkIds: ["net-1"], portIds: [] });
    });
});
