// A toy dynamic provider for the engine stand-in's own tests. Its "cloud" is a directory: one JSON file per
// resource plus an append-only log of every provider call, so tests can see exactly what ran, in which order,
// in which process. Everything the provider needs is required inside the methods (it is closure-serialized and
// runs in the dynamic-provider host).
import * as pulumi from "@pulumi/pulumi";

export interface ThingArgs {
    dir: pulumi.Input<string>;
    name: pulumi.Input<string>;
    size: pulumi.Input<number>;
    /** another Thing's id, to create a property dependency */
    ref?: pulumi.Input<string>;
    /** ask the provider for delete-before-replace when `name` changes */
    dbr?: pulumi.Input<boolean>;
    /** "partial": create the cloud object, then fail with ErrorResourceInitFailed; "plain": fail before creating */
    fail?: pulumi.Input<string>;
    token?: pulumi.Input<string>;
    /** "config": record what the provider sees of the stack config in <dir>/config-seen.json */
    probe?: pulumi.Input<string>;
    /** how long create and delete take (to see steps overlap) */
    delayMs?: pulumi.Input<number>;
    /** a change of `ref` needs a replacement (to see dependents replaced with a delete-before-replace) */
    replaceOnRef?: pulumi.Input<boolean>;
}

interface ThingInputs {
    dir: string;
    name: string;
    size: number;
    ref?: string;
    dbr?: boolean;
    fail?: string;
    token?: string;
    probe?: string;
    delayMs?: number;
    replaceOnRef?: boolean;
}

export interface LogEntry {
    op: string;
    id: string;
    name: string;
    pid: number;
}

function world(dir: string) {
    const fs: typeof import("fs") = require("fs");
    const path: typeof import("path") = require("path");
    return {
        log(op: string, id: string, name: string) {
            fs.appendFileSync(path.join(dir, "log.jsonl"), JSON.stringify({ op, id, name, pid: process.pid }) + "\n");
        },
        nextId(name: string): string {
            const counter = path.join(dir, "counter");
            const n = fs.existsSync(counter) ? Number(fs.readFileSync(counter, "utf8")) + 1 : 1;
            fs.writeFileSync(counter, String(n));
            return `${name}-${n}`;
        },
        put(id: string, v: unknown) {
            fs.writeFileSync(path.join(dir, `${id}.obj.json`), JSON.stringify(v));
        },
        get(id: string): Record<string, unknown> | undefined {
            const f = path.join(dir, `${id}.obj.json`);
            return fs.existsSync(f) ? (JSON.parse(fs.readFileSync(f, "utf8")) as Record<string, unknown>) : undefined;
        },
        remove(id: string) {
            fs.rmSync(path.join(dir, `${id}.obj.json`), { force: true });
        },
    };
}

class ThingProvider implements pulumi.dynamic.ResourceProvider {
    private configSeen: Record<string, string | undefined> = {};

    async configure(req: pulumi.dynamic.ConfigureRequest): Promise<void> {
        this.configSeen = { viaConfigure: req.config.get("password") };
    }

    async check(olds: Record<string, unknown>, news: Record<string, unknown>): Promise<pulumi.dynamic.CheckResult> {
        const n = news as Partial<ThingInputs>;
        if (typeof n.size === "number" && n.size < 0) return { inputs: news, failures: [{ property: "size", reason: "must be >= 0" }] };
        return { inputs: { ...news } };
    }

    async diff(id: string, olds: Record<string, unknown>, news: Record<string, unknown>): Promise<pulumi.dynamic.DiffResult> {
        const o = olds as unknown as ThingInputs;
        const n = news as unknown as ThingInputs;
        const replaces = o.name !== n.name ? ["name"] : [];
        if (n.replaceOnRef && o.ref !== n.ref) replaces.push("ref");
        const changes = replaces.length > 0 || o.size !== n.size || o.ref !== n.ref || o.token !== n.token;
        return { changes, replaces, deleteBeforeReplace: n.dbr === true };
    }

    async create(inputs: Record<string, unknown>): Promise<pulumi.dynamic.CreateResult> {
        const i = inputs as unknown as ThingInputs;
        const w = world(i.dir);
        if (i.fail === "plain") throw new Error(`cannot create ${i.name}`);
        // a slow create: the object exists half-way through (what a killed CLI leaves behind)
        const half = () => new Promise((r) => setTimeout(r, (i.delayMs ?? 0) / 2));
        if (i.delayMs) {
            w.log("begin", "", i.name);
            await half();
        }
        const id = w.nextId(i.name);
        w.log("create", id, i.name);
        console.log(`creating ${i.name} as ${id}`);
        require("@pulumi/pulumi").log.info(`made ${id}`);
        if (i.probe === "config") {
            const pulumiSdk: typeof import("@pulumi/pulumi") = require("@pulumi/pulumi");
            const fs: typeof import("fs") = require("fs");
            const seen = {
                ...this.configSeen,
                viaEnvConfig: new pulumiSdk.Config("toy").get("endpoint"),
                viaEnvSecret: new pulumiSdk.Config("toy").get("apiKey"),
                env: process.env.PULUMI_CONFIG,
                project: process.env.PULUMI_NODEJS_PROJECT,
            };
            fs.writeFileSync(`${i.dir}/config-seen.json`, JSON.stringify(seen));
        }
        w.put(id, { name: i.name, size: i.size });
        if (i.delayMs) await half();
        if (i.fail === "partial") {
            throw Object.assign(new Error(`${id} created but never became ready`), {
                id,
                properties: { ...inputs, thingId: id, ready: false },
                reasons: ["timed out waiting for ready"],
            });
        }
        return { id, outs: { ...inputs, thingId: id, ready: true, apiToken: i.token ? `derived-${i.token}` : null } };
    }

    async read(id: string, props: Record<string, unknown>): Promise<pulumi.dynamic.ReadResult> {
        const w = world(String(props["dir"]));
        w.log("read", id, String(props["name"]));
        const live = w.get(id);
        if (!live) return { id: "", props: {} };
        return { id, props: { ...props, size: live["size"] } };
    }

    async update(id: string, olds: Record<string, unknown>, news: Record<string, unknown>): Promise<pulumi.dynamic.UpdateResult> {
        const n = news as unknown as ThingInputs;
        const w = world(n.dir);
        w.log("update", id, n.name);
        w.put(id, { name: n.name, size: n.size });
        return { outs: { ...news, thingId: id, ready: true, apiToken: n.token ? `derived-${n.token}` : null } };
    }

    async delete(id: string, props: Record<string, unknown>): Promise<void> {
        const w = world(String(props["dir"]));
        if (typeof props["delayMs"] === "number") await new Promise((r) => setTimeout(r, props["delayMs"] as number));
        w.log("delete", id, String(props["name"]));
        w.remove(id);
    }
}

export class Thing extends pulumi.dynamic.Resource {
    declare public readonly thingId: pulumi.Output<string>;
    declare public readonly ready: pulumi.Output<boolean>;
    declare public readonly size: pulumi.Output<number>;
    declare public readonly apiToken: pulumi.Output<string | null>;

    constructor(name: string, args: ThingArgs, opts?: pulumi.CustomResourceOptions) {
        super(new ThingProvider(), name, { thingId: undefined, ready: undefined, apiToken: undefined, ...args }, opts, "toy", "Thing");
    }
}

export function readLog(dir: string): LogEntry[] {
    const fs: typeof import("fs") = require("fs");
    const f = `${dir}/log.jsonl`;
    if (!fs.existsSync(f)) return [];
    return fs
        .readFileSync(f, "utf8")
        .split("\n")
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as LogEntry);
}

/** A component that groups Things (components make no provider calls). */
export class Group extends pulumi.ComponentResource {
    constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
        super("toy:index:Group", name, {}, opts);
    }
    done(outputs: pulumi.Inputs): void {
        this.registerOutputs(outputs);
    }
}
