// A create that stopped part-way is recorded with its id and initErrors, and on the next `up` the
// engine sends it Update even when Diff sees no change (pkg/resource/deploy/step_generator.go
// continueStepsFromDiff). Each step's update finishes the job, or says why not. Played against a
// fake Nova + Cinder whose state changes as the real ones would.
import { impl as helperAttachment } from "../../providers/helperAttachment";
import { PartialCreateError } from "../../providers/step";
import { impl as replacementServer } from "../../providers/replacementServer";
import { impl as volumeClone } from "../../providers/volumeClone";
import { FakeCloud, stackConfig } from "../support/fakeCloud";

interface Vm {
    status: string;
    task?: string;
    fault?: string;
    metadata?: Record<string, string>;
    volumes?: string[];
}
interface Disk {
    status: string;
    attachments: string[];
}

/** Servers and volumes by id; `later` changes a state after a while, as a boot or a copy does. */
class MiniCloud {
    servers: Record<string, Vm> = {};
    volumes: Record<string, Disk> = {};
    calls: string[] = [];

    later(ms: number, change: () => void): void {
        setTimeout(change, ms).unref();
    }

    route(cloud: FakeCloud): void {
        cloud.routes = (req, body) => {
            const url = req.url!.replace(/\?.*/, "");
            if (req.method !== "GET") this.calls.push(`${req.method} ${url}`);
            if (url === "/compute/v2.1/servers/detail" && req.method === "GET") {
                return {
                    status: 200,
                    body: {
                        servers: Object.entries(this.servers).map(([id, v]) => ({
                            id,
                            name: id,
                            status: v.status,
                            "OS-EXT-STS:task_state": v.task ?? null,
                            flavor: {},
                            metadata: v.metadata ?? {},
                            "os-extended-volumes:volumes_attached": (v.volumes ?? []).map((x) => ({ id: x })),
                        })),
                    },
                };
            }
            let m = /^\/compute\/v2\.1\/servers\/([^/]+)$/.exec(url);
            if (m && req.method === "GET") {
                const v = this.servers[m[1]];
                if (!v) return { status: 404, body: { itemNotFound: { message: "not found" } } };
                return {
                    status: 200,
                    body: {
                        server: { id: m[1], name: m[1], status: v.status, flavor: {}, ...(v.fault ? { fault: { message: v.fault } } : {}) },
                    },
                };
            }
            m = /^\/compute\/v2\.1\/servers\/([^/]+)\/os-volume_attachments(?:\/([^/]+))?$/.exec(url);
            if (m && req.method === "POST") {
                const volumeId = JSON.parse(body).volumeAttachment.volumeId as string;
                const d = this.volumes[volumeId];
                d.status = "attaching";
                this.later(300, () => Object.assign(d, { status: "in-use", attachments: [m![1]] }));
                return { status: 200, body: { volumeAttachment: { volumeId, serverId: m[1], device: "/dev/vdb" } } };
            }
            if (m && req.method === "DELETE") {
                const d = this.volumes[m[2]];
                d.status = "detaching";
                this.later(300, () => Object.assign(d, { status: "available", attachments: [] }));
                return { status: 202 };
            }
            m = /^\/volume\/v3\/p1\/volumes\/([^/]+)$/.exec(url);
            if (m && req.method === "GET") {
                const d = this.volumes[m[1]];
                return {
                    status: 200,
                    body: {
                        volume: {
                            id: m[1],
                            status: d.status,
                            size: 1,
                            bootable: "false",
                            attachments: d.attachments.map((server_id) => ({ server_id })),
                        },
                    },
                };
            }
            if (m && req.method === "PUT") return { status: 200, body: {} };
            return { status: 404, body: { itemNotFound: { message: `no route for ${req.method} ${url}` } } };
        };
    }
}

const tags = { incident: "INC1234", stack: "organization/openstack-recovery/inc1234", __provider: "serialized-stub" };
const serverInputs = {
    ...tags,
    logicalName: "rec-server",
    name: "web-1-recovered",
    flavorId: "f1",
    bootVolumeId: "clone",
    portIds: [],
    networkIds: [],
    brokenServerId: "web-1",
    dataVolumeIds: ["data-1"],
    retain: true,
    timeoutSeconds: 30,
};
/** what create recorded when it stopped in the boot wait */
const interruptedBoot = { ...serverInputs, serverId: "new-1", status: "BUILD", ipAddresses: [], movedVolumeIds: [] };

describe("update finishes a create that stopped part-way", () => {
    const cloud = new FakeCloud();
    let c: MiniCloud;
    let env: { config: (key: string) => string | undefined };
    beforeAll(async () => {
        await cloud.start();
        env = { config: stackConfig(cloud.url) };
    });
    afterAll(() => cloud.stop());
    beforeEach(() => {
        c = new MiniCloud();
        c.route(cloud);
    });

    it("ReplacementServer: waits for the boot, then moves the data volumes not moved yet", async () => {
        c.servers = { "web-1": { status: "SHUTOFF" }, "new-1": { status: "BUILD" } };
        c.volumes = { "data-1": { status: "in-use", attachments: ["web-1"] } };
        c.later(500, () => (c.servers["new-1"].status = "ACTIVE"));
        const r = await replacementServer.update("new-1", interruptedBoot, serverInputs, env);
        expect(r.outs).toMatchObject({ serverId: "new-1", status: "ACTIVE", movedVolumeIds: ["data-1"] });
        expect(c.volumes["data-1"].attachments).toEqual(["new-1"]);
    });

    it("ReplacementServer: refuses to move a data volume to a server in ERROR, naming it and what to do", async () => {
        c.servers = { "web-1": { status: "SHUTOFF" }, "new-1": { status: "ERROR", fault: "No valid host was found." } };
        c.volumes = { "data-1": { status: "in-use", attachments: ["web-1"] } };
        const p = replacementServer.update("new-1", interruptedBoot, serverInputs, env);
        await expect(p).rejects.toThrow(
            /replacement server new-1 \(new-1\) is in ERROR \(No valid host was found\.\): refusing to move data volume\(s\) data-1 to it; .*pulumi up --replace <urn of rec-server>/,
        );
        // reported with its id, so the engine keeps the record (and __provider, so destroy finds the code)
        await expect(p).rejects.toMatchObject({
            id: "new-1",
            properties: { status: "ERROR", movedVolumeIds: [], __provider: "serialized-stub" },
        });
        expect(c.calls).toEqual([]);
        expect(c.volumes["data-1"].attachments).toEqual(["web-1"]);
    });

    it("ReplacementServer: a finished create with nothing to move is not looked at again", async () => {
        const r = await replacementServer.update(
            "new-1",
            { ...interruptedBoot, status: "ACTIVE", movedVolumeIds: ["data-1"] },
            serverInputs,
            env,
        );
        expect(r.outs).toMatchObject({ status: "ACTIVE" });
        expect(c.calls).toEqual([]);
    });

    it("ReplacementServer: create adopts the server this step booted and never recorded (a killed up), found by its tags, and boots none", async () => {
        const ours = { "recovery-stack": tags.stack, "recovery-incident": tags.incident, "recovery-resource": "rec-server" };
        c.servers = {
            "web-1": { status: "SHUTOFF" },
            // decoys: the same name and step in another stack, another step of this stack
            "other-stack": {
                status: "ACTIVE",
                metadata: { ...ours, "recovery-stack": "organization/openstack-recovery/inc9999" },
                volumes: ["clone"],
            },
            "other-step": { status: "ACTIVE", metadata: { ...ours, "recovery-resource": "rec-server-2" }, volumes: ["clone"] },
            // this step's, but booted from an earlier clone (the inputs changed since)
            "older-clone": { status: "ACTIVE", metadata: ours, volumes: ["clone-0"] },
            "new-1": { status: "BUILD", metadata: ours, volumes: ["clone"] },
        };
        c.volumes = { clone: { status: "in-use", attachments: ["new-1"] }, "data-1": { status: "in-use", attachments: ["web-1"] } };
        c.later(500, () => (c.servers["new-1"].status = "ACTIVE"));
        const r = await replacementServer.create(serverInputs, env);
        expect(r.id).toBe("new-1");
        expect(r.outs).toMatchObject({ serverId: "new-1", status: "ACTIVE", movedVolumeIds: ["data-1"] });
        expect(c.calls.filter((x) => x === "POST /compute/v2.1/servers")).toEqual([]);
        expect(c.volumes["data-1"].attachments).toEqual(["new-1"]);
    });

    it.each([
        [
            { "new-1": { status: "ACTIVE", task: "deleting" } },
            /server new-1 \(new-1\), booted by an earlier run of this stack, is ACTIVE\/deleting and cannot be adopted/,
        ],
        [{ "new-1": { status: "SHELVED_OFFLOADED" } }, /is SHELVED_OFFLOADED and cannot be adopted/],
        [
            { "new-1": { status: "BUILD" }, "new-2": { status: "BUILD" } },
            /servers new-1, new-2 are all tagged as this step's replacement booting from clone: keep one/,
        ],
    ])("ReplacementServer: create refuses to adopt %j, and boots nothing", async (servers, message) => {
        const ours = { "recovery-stack": tags.stack, "recovery-incident": tags.incident, "recovery-resource": "rec-server" };
        c.servers = {
            "web-1": { status: "SHUTOFF" },
            ...Object.fromEntries(Object.entries(servers).map(([id, v]) => [id, { ...v, metadata: ours, volumes: ["clone"] }])),
        };
        c.volumes = { clone: { status: "in-use", attachments: ["new-1"] }, "data-1": { status: "in-use", attachments: ["web-1"] } };
        await expect(replacementServer.create(serverInputs, env)).rejects.toThrow(message);
        expect(c.calls).toEqual([]);
    });

    it("VolumeClone: waits until Cinder has finished the copy", async () => {
        const inputs = {
            ...tags,
            logicalName: "rec-clone",
            sourceVolumeId: "root",
            name: "vol-clone-INC1234",
            size: 1,
            retain: false,
            timeoutSeconds: 30,
        };
        c.volumes = { clone: { status: "creating", attachments: [] } };
        c.later(500, () => (c.volumes.clone.status = "available"));
        const r = await volumeClone.update("clone", { ...inputs, volumeId: "clone", status: "creating" }, inputs, env);
        expect(r.outs).toMatchObject({ volumeId: "clone", status: "available" });
    });

    it("VolumeClone: a clone Cinder failed is reported with what to do", async () => {
        const inputs = {
            ...tags,
            logicalName: "rec-clone",
            sourceVolumeId: "root",
            name: "vol-clone-INC1234",
            size: 1,
            retain: false,
            timeoutSeconds: 30,
        };
        c.volumes = { clone: { status: "error", attachments: [] } };
        const p = volumeClone.update("clone", { ...inputs, volumeId: "clone", status: "creating" }, inputs, env);
        await expect(p).rejects.toBeInstanceOf(PartialCreateError);
        await expect(p).rejects.toThrow(/went to state error: Cinder could not clone root.*pulumi up --replace <urn of rec-clone>/);
    });

    it("HelperAttachment: attaches again when the interrupted attach did not happen, and waits for in-use", async () => {
        const inputs = { ...tags, logicalName: "rec-attachment", helperServerId: "helper", volumeId: "clone", timeoutSeconds: 30 };
        c.volumes = { clone: { status: "available", attachments: [] } };
        const olds = { ...inputs, device: null, serial: "clone", attached: true, confirmed: false };
        const r = await helperAttachment.update("helper/clone", olds, inputs, env);
        expect(r.outs).toMatchObject({ attached: true, confirmed: true, device: "/dev/vdb" });
        expect(c.calls).toEqual(["POST /compute/v2.1/servers/helper/os-volume_attachments"]);
        // once confirmed (and after the repair released it) an update changes nothing in the cloud
        c.calls.length = 0;
        await helperAttachment.update("helper/clone", { ...olds, confirmed: true, attached: false }, inputs, env);
        expect(c.calls).toEqual([]);
    });
});
