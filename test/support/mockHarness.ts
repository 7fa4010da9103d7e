// Graph tests under `pulumi.runtime.setMocks`, with the whole registration recorded. `MockResourceArgs` has no
// parent, dependsOn, property dependencies or resource options, so the mock monitor's RegisterResource is wrapped
// to see the request itself (the reference harness's approach; see test/engine/ for running a program for real).
import * as pulumi from "@pulumi/pulumi";
import type * as ResourcePb from "@pulumi/pulumi/proto/resource_pb";

export interface Registration {
    type: string;
    name: string;
    custom: boolean;
    urn: string;
    parent: string;
    /** dependsOn plus every property dependency */
    dependencies: string[];
    propertyDependencies: Record<string, string[]>;
    additionalSecretOutputs: string[];
    protect: boolean;
    retainOnDelete: boolean;
    deleteBeforeReplace: boolean | undefined;
    ignoreChanges: string[];
    provider: string;
    /** inputs in wire form: secrets as {"4dabf1…": "1b4706…", value}, unknowns as the sentinel string;
     *  for a dynamic resource `__provider` is the serialized provider text */
    inputs: Record<string, unknown>;
}

export interface MockOptions {
    project?: string;
    stack?: string;
    preview?: boolean;
    /** extra outputs per resource (merged over the inputs); return `id` to choose the id */
    state?: (args: pulumi.runtime.MockResourceArgs) => Record<string, unknown> | undefined;
    /** results for invokes */
    call?: (args: pulumi.runtime.MockCallArgs) => Record<string, unknown>;
    config?: Record<string, string>;
    secretConfigKeys?: string[];
}

export interface MockHarness {
    registrations: Registration[];
    /** the registration of the resource with this name (and type, if given); throws if absent */
    get(name: string, type?: string): Registration;
}

type Callback<T> = (err: Error | null, resp?: T) => void;
interface RegisterMonitor {
    registerResource(req: ResourcePb.RegisterResourceRequest, cb: Callback<ResourcePb.RegisterResourceResponse>): void;
}

function toRecord(v: unknown): Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** Install mocks (outputs = inputs + `state`, id `<name>-id`) and record every registration. */
export async function installMocks(opts: MockOptions = {}): Promise<MockHarness> {
    const registrations: Registration[] = [];
    await pulumi.runtime.setMocks(
        {
            newResource(args) {
                const extra = opts.state?.(args) ?? {};
                const id = typeof extra["id"] === "string" ? extra["id"] : `${args.name}-id`;
                return { id, state: { ...toRecord(args.inputs), ...extra } };
            },
            call(args) {
                return opts.call ? opts.call(args) : toRecord(args.inputs);
            },
        },
        opts.project ?? "proj",
        opts.stack ?? "dev",
        opts.preview ?? false,
        "organization", // what the engine names a DIY (file) backend's organization
    );
    if (opts.config) pulumi.runtime.setAllConfig(opts.config, opts.secretConfigKeys ?? []);
    const monitor = pulumi.runtime.getMonitor() as unknown as RegisterMonitor | undefined;
    if (!monitor) throw new Error("setMocks installed no monitor");
    const original = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, cb) => {
        const propertyDependencies: Record<string, string[]> = {};
        req.getPropertydependenciesMap().forEach((v: ResourcePb.RegisterResourceRequest.PropertyDependencies, k: string) => {
            propertyDependencies[k] = v.getUrnsList();
        });
        original(req, (err, resp) => {
            if (!err && resp) {
                registrations.push({
                    type: req.getType(),
                    name: req.getName(),
                    custom: req.getCustom(),
                    urn: resp.getUrn(),
                    parent: req.getParent(),
                    dependencies: req.getDependenciesList(),
                    propertyDependencies,
                    additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
                    protect: req.getProtect() === true,
                    retainOnDelete: req.getRetainondelete() === true,
                    deleteBeforeReplace: req.getDeletebeforereplacedefined() ? req.getDeletebeforereplace() : undefined,
                    ignoreChanges: req.getIgnorechangesList(),
                    provider: req.getProvider(),
                    inputs: toRecord(req.getObject()?.toJavaScript()),
                });
            }
            cb(err, resp);
        });
    };
    return {
        registrations,
        get(name, type) {
            const r = registrations.find((x) => x.name === name && (type === undefined || x.type === type));
            if (!r)
                throw new Error(
                    `no registration named ${name}${type ? ` of type ${type}` : ""} (have: ${registrations.map((x) => `${x.type}::${x.name}`).join(", ")})`,
                );
            return r;
        },
    };
}

/** The value of an Output (undefined if it is unknown, e.g. a computed output in a preview). */
export async function outputOf<T>(o: pulumi.Output<T>): Promise<T | undefined> {
    // Output.promise() and Output.isKnown are internal but stable; apply() would never call back for an unknown.
    const internal = o as unknown as { promise(): Promise<T>; isKnown: Promise<boolean> };
    const [value, known] = await Promise.all([internal.promise(), internal.isKnown]);
    return known ? value : undefined;
}

/** Whether an Output is secret. */
export function isSecretOutput<T>(o: pulumi.Output<T>): Promise<boolean> {
    return pulumi.isSecret(o);
}

/** Wait for every registration the program has started to be answered (pulumi/pulumi#6666). */
export async function settle(): Promise<void> {
    const waitForRPCs = (pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> }).waitForRPCs;
    for (let i = 0; i < 3; i++) {
        if (waitForRPCs) await waitForRPCs();
        await new Promise((r) => setImmediate(r));
    }
}
