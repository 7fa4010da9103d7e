// What Pulumi stores as `__provider` for our resources, and what the real dynamic-provider host
// does with it. Three promises (ARCHITECTURE.md "The state contract"):
//  1. no password, token or key is inside `__provider`, whatever the program had in its config/env;
//  2. the serialized part is a thin stub: no implementation, client or schema code in it;
//  3. delete (and read) run today's code from providers/<step>.ts, not code frozen into state, and
//     get the stack config (credentials) at call time through Configure.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { DynamicProviderHost } from "../engine/host";
import { StepProvider } from "../../providers/stub";
import { DiskRepair } from "../../providers/diskRepair";
import { HelperAttachment } from "../../providers/helperAttachment";
import { IncidentLock } from "../../providers/incidentLock";
import { ReplacementServer } from "../../providers/replacementServer";
import { ReservedPort } from "../../providers/reservedPort";
import { VolumeClone } from "../../providers/volumeClone";

const SECRET_PASSWORD = "pa55-word-that-must-not-leak";
const SECRET_TOKEN = "gAAAAA-token-that-must-not-leak";
const KEY_MARKER = "BEGIN OPENSSH PRIVATE KEY";
const ROOT = path.resolve(__dirname, "../..");

describe("__provider of every step", () => {
    const captured = new Map<string, string>();
    beforeAll(async () => {
        // what a careless provider could pick up: credentials in the environment and the stack config
        process.env.OS_PASSWORD = SECRET_PASSWORD;
        process.env.OS_TOKEN = SECRET_TOKEN;
        pulumi.runtime.setAllConfig({ "openstack:password": SECRET_PASSWORD, "openstack:token": SECRET_TOKEN }, [
            "openstack:password",
            "openstack:token",
        ]);
        pulumi.runtime.setMocks(
            {
                newResource: (a) => {
                    captured.set(a.type, String(a.inputs.__provider));
                    return { id: `${a.name}-id`, state: a.inputs };
                },
                call: (a) => a.inputs,
            },
            "openstack-recovery",
            "inc1",
        );
        const t = { incident: "INC1", stack: "org/openstack-recovery/inc1" };
        const res = [
            new IncidentLock("lock", { ...t, serverId: "s-broken" }),
            new VolumeClone("clone", { ...t, sourceVolumeId: "v-root", name: "vol-clone-INC1" }),
            new HelperAttachment("attach", { ...t, helperServerId: "s-helper", volumeId: "v-clone" }),
            new DiskRepair("repair", {
                ...t,
                volumeId: "v-clone",
                helperServerId: "s-helper",
                host: "10.0.0.2",
                privateKeyFile: "/root/.ssh/id_ed25519",
                actions: ["fstab"],
            }),
            new ReservedPort("port", { ...t, mode: "takeover", brokenServerId: "s-broken", portId: "p1" }),
            new ReplacementServer("server", {
                ...t,
                name: "web-1-recovered",
                flavorId: "f1",
                bootVolumeId: "v-clone",
                brokenServerId: "s-broken",
            }),
        ];
        await Promise.all(res.map((r) => new Promise((ok) => r.urn.apply(ok))));
    });
    afterAll(() => {
        delete process.env.OS_PASSWORD;
        delete process.env.OS_TOKEN;
    });

    it("registers the six steps with their own type tokens", () => {
        expect([...captured.keys()].sort()).toEqual([
            "pulumi-nodejs:dynamic/recovery:DiskRepair",
            "pulumi-nodejs:dynamic/recovery:HelperAttachment",
            "pulumi-nodejs:dynamic/recovery:IncidentLock",
            "pulumi-nodejs:dynamic/recovery:ReplacementServer",
            "pulumi-nodejs:dynamic/recovery:ReservedPort",
            "pulumi-nodejs:dynamic/recovery:VolumeClone",
        ]);
    });

    it.each(["IncidentLock", "VolumeClone", "HelperAttachment", "DiskRepair", "ReservedPort", "ReplacementServer"])(
        "%s: no secret, no key, no implementation in __provider",
        (step) => {
            const text = captured.get(`pulumi-nodejs:dynamic/recovery:${step}`)!;
            expect(text).toContain("exports.handler");
            for (const secret of [SECRET_PASSWORD, SECRET_TOKEN, KEY_MARKER]) expect(text).not.toContain(secret);
            // thin: the step is loaded by name; no OpenStack client, schema or SSH code travels in state
            expect(text).toContain(`"${step[0].toLowerCase()}${step.slice(1)}"`);
            for (const impl of ["X-Auth-Token", "source_volid", "os-volume_attachments", "ssh2", "zod", "device_owner"])
                expect(text).not.toContain(impl);
            expect(text.length).toBeLessThan(8000);
        },
    );
});

describe("the real dynamic-provider host runs today's step code", () => {
    let project: string;
    let marker: string;
    const hosts: DynamicProviderHost[] = [];
    const writeStep = (version: string) =>
        fs.writeFileSync(
            path.join(project, "providers", "probe.ts"),
            `import * as fs from "fs";
export const impl = {
    async delete(id: string, _props: Record<string, unknown>, env: { config(k: string): string | undefined }) {
        fs.writeFileSync(${JSON.stringify(marker)}, JSON.stringify({ version: "${version}", id, password: env.config("openstack:password") ?? null }));
    },
};
`,
        );
    const startHost = () =>
        DynamicProviderHost.start(
            {
                cwd: project,
                project: "openstack-recovery",
                configJson: JSON.stringify({ "openstack:password": SECRET_PASSWORD }),
                onCall: () => undefined,
                onDiagnostic: () => undefined,
            },
            { "openstack:password": SECRET_PASSWORD },
            { "openstack:password": SECRET_PASSWORD },
        ).then((h) => (hosts.push(h), h));

    beforeAll(() => {
        // a copy of the project layout whose step file we can change between calls
        project = fs.mkdtempSync(path.join(os.tmpdir(), "osr-stub-"));
        marker = path.join(project, "marker.json");
        fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "openstack-recovery" }));
        fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(project, "node_modules"));
        fs.mkdirSync(path.join(project, "providers"));
    });
    afterAll(async () => {
        await Promise.all(hosts.map((h) => h.stop()));
        fs.rmSync(project, { recursive: true, force: true });
    });

    it("delete with a stub serialized before a code change runs the changed code, with credentials from Configure", async () => {
        const stub = (await pulumi.runtime.serializeFunction(() => new StepProvider("probe"), { allowSecrets: true })).text;
        expect(stub).not.toContain(SECRET_PASSWORD);
        const state = { __provider: stub };
        const urn = "urn:pulumi:inc1::openstack-recovery::pulumi-nodejs:dynamic/recovery:Probe::p";

        writeStep("v1");
        const h1 = await startHost();
        await h1.delete(urn, "id-1", state, {}, 60);
        expect(JSON.parse(fs.readFileSync(marker, "utf8"))).toEqual({ version: "v1", id: "id-1", password: SECRET_PASSWORD });
        await h1.stop();

        // the operator upgrades the project; state still holds the old serialized stub
        writeStep("v2");
        const h2 = await startHost();
        await h2.delete(urn, "id-1", state, {}, 60);
        expect(JSON.parse(fs.readFileSync(marker, "utf8"))).toMatchObject({ version: "v2" });
    });
});
