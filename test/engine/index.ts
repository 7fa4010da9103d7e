/**
 * The engine stand-in: a small imitation of the Pulumi engine (the Go `pulumi` CLI, which cannot be installed
 * here) that runs a whole stack program the way these commands do, against a local state file:
 *
 *   pulumi preview   → preview(run)   the program runs with isDryRun()=true; dynamic resources get Check and Diff
 *                                     only; nothing is created, updated or deleted; no state is written
 *   pulumi up        → up(run)        creates, updates and replaces in registration (= dependency) order, then
 *                                     deletes what the program no longer declares (and replaced resources) in
 *                                     reverse dependency order; the state file is written even when a step fails
 *   pulumi destroy   → destroy(run)   deletes everything in the state in reverse dependency order (the program is
 *                                     not run, like `pulumi destroy` without --run-program)
 *   pulumi refresh   → refresh(run)   Read for every dynamic resource; an empty id drops it from the state
 *   pulumi stack export → readState(stateFile)
 *
 * How: the program runs in-process under `pulumi.runtime.setMocks` (so the real Node SDK serializes inputs,
 * secrets, unknowns and the dynamic provider closure), but the mock monitor's RegisterResource, ReadResource
 * and RegisterResourceOutputs are replaced by an imitation of the engine's resource monitor and step generator.
 * Dynamic resources (`pulumi-nodejs:dynamic…`) are sent over gRPC to the real dynamic-provider host that ships
 * in @pulumi/pulumi, started and configured like the engine starts the default `pulumi-nodejs` provider.
 * Resources of plugin-backed packages (@pulumi/openstack, @pulumi/command) cannot run here: they are recorded
 * with outputs from `StackRun.mockResource`, and their steps are marked `mocked`.
 *
 * Every rule below cites the engine source it imitates (github.com/pulumi/pulumi, pkg/… and sdk/go/…).
 */
import * as pulumi from "@pulumi/pulumi";
import type * as ResourcePb from "@pulumi/pulumi/proto/resource_pb";
import type * as StructPb from "google-protobuf/google/protobuf/struct_pb";
import { DynamicProviderHost, ProviderCallError, fromPulumi, urnName, type RpcCall } from "./host";
import {
    UNKNOWN,
    annotateSecrets,
    changedKeys,
    clone,
    deepEquals,
    display,
    isObject,
    isSecret,
    makeSecret,
    stripMap,
    type PropertyMap,
} from "./props";
import { loadStateOrEmpty, readState as readStateFile, writeState, type ResourceState, type StackState } from "./state";

export type { StackState, ResourceState } from "./state";
export { UNKNOWN } from "./props";

const resourcepb = fromPulumi<typeof ResourcePb>("@pulumi/pulumi/proto/resource_pb");
const structpb = fromPulumi<typeof StructPb>("google-protobuf/google/protobuf/struct_pb");

export interface StackRun {
    /** the stack program; called once per preview/up */
    program: () => Promise<Record<string, unknown> | void>;
    project: string;
    stack: string;
    /** fully-qualified keys "ns:key" → string value, as `pulumi config` stores them */
    config?: Record<string, string>;
    /** which config keys are secrets */
    secretConfigKeys?: string[];
    /** JSON state, kept between runs (like a file backend checkpoint) */
    stateFile: string;
    /** cwd of the dynamic-provider host; require() in serialized providers resolves from here */
    projectDir: string;
    /** extra env for the provider host (the engine passes its own env through) */
    env?: NodeJS.ProcessEnv;
    /** outputs for plugin-backed resources; default: inputs as outputs, id `<name>-id` */
    mockResource?: (r: { type: string; name: string; inputs: Record<string, unknown> }) => MockedResource | undefined | Promise<MockedResource | undefined>;
    /** results for invokes (data sources such as openstack.compute.getFlavor); default: the call fails */
    mockCall?: (r: { token: string; inputs: Record<string, unknown> }) => Record<string, unknown>;
}

/** What StackRun.mockResource returns for a plugin-backed resource. It may be async: a mock that does real work (a
 *  child process) must not block the event loop, which also serves the program's own in-process fakes and proxies. */
export interface MockedResource {
    id?: string;
    outputs?: Record<string, unknown>;
}

export type StepOp = "create" | "update" | "replace" | "delete" | "same" | "read" | "refresh";

export interface Step {
    op: StepOp;
    urn: string;
    type: string;
    custom: boolean;
    diffs?: string[];
    replaces?: string[];
    deleteBeforeReplace?: boolean;
    error?: string;
    /** parent URN (for the tree in formatResult) */
    parent?: string;
    /** plugin-backed resource: outputs came from StackRun.mockResource, no provider was called */
    mocked?: boolean;
    /** a delete that is the second half of a replacement (engine OpDeleteReplaced; not counted in `changes`) */
    replacing?: boolean;
    /** delete skipped because of retainOnDelete: removed from the state, left in the cloud */
    retained?: boolean;
    /** refresh only: what the refresh found (engine RefreshStep.ResultOp) */
    refreshResult?: "same" | "update" | "delete";
}

export interface RunResult {
    /** in execution order */
    steps: Step[];
    /** stack outputs (secrets shown as "[secret]", unknowns as "[unknown]") */
    outputs: Record<string, unknown>;
    /** every gRPC call made to the provider host (including Handshake, GetPluginInfo and Configure with urn "") */
    rpcCalls: { method: string; urn: string }[];
    /** what providers logged: host stdout/stderr lines after the port line */
    diagnostics: string[];
    /** summary like the CLI's "Resources: + 5 to create"; counts logical steps only */
    changes: Record<StepOp, number>;
}

/** Thrown by preview/up/destroy/refresh when a step or the program failed; `result` has everything done so far. */
export class EngineRunError extends Error {
    constructor(
        message: string,
        public readonly result: RunResult,
    ) {
        super(message);
        this.name = "EngineRunError";
    }
}

export function readState(stateFile: string): StackState {
    return readStateFile(stateFile);
}

export function preview(run: StackRun): Promise<RunResult> {
    return new Deployment(run, "preview").runProgramOperation();
}
export function up(run: StackRun): Promise<RunResult> {
    return new Deployment(run, "up").runProgramOperation();
}
export function destroy(run: StackRun): Promise<RunResult> {
    return new Deployment(run, "destroy").runDestroy();
}
export function refresh(run: StackRun): Promise<RunResult> {
    return new Deployment(run, "refresh").runRefresh();
}

// ---------------------------------------------------------------------------------------------------------------

type Kind = "preview" | "up" | "destroy" | "refresh";

const ROOT_STACK_TYPE = "pulumi:pulumi:Stack";

/** Resources served by the Node dynamic-provider plugin: the `pulumi-nodejs` package (sdk/nodejs/dynamic/index.ts). */
export function isDynamicType(type: string): boolean {
    return type === "pulumi-nodejs:dynamic:Resource" || type.startsWith("pulumi-nodejs:dynamic/") || type.startsWith("pulumi-nodejs:dynamic:");
}

interface Goal {
    type: string;
    name: string;
    urn: string;
    custom: boolean;
    parent: string;
    inputs: PropertyMap;
    protect: boolean;
    dependencies: string[];
    propertyDependencies: Record<string, string[]>;
    deleteBeforeReplace?: boolean;
    ignoreChanges: string[];
    additionalSecretOutputs: string[];
    retainOnDelete: boolean;
    deletedWith: string;
    timeouts: { create: number; update: number; delete: number };
}

interface StepResult {
    id: string;
    outputs: PropertyMap;
    failed: boolean;
}

class StepFailure extends Error {}

type Callback<T> = (err: Error | null, resp?: T) => void;
interface MonitorLike {
    registerResource(req: ResourcePb.RegisterResourceRequest, cb: Callback<ResourcePb.RegisterResourceResponse>): void;
    readResource(req: ResourcePb.ReadResourceRequest, cb: Callback<ResourcePb.ReadResourceResponse>): void;
    registerResourceOutputs(req: ResourcePb.RegisterResourceOutputsRequest, cb: Callback<unknown>): void;
}

/** "30s", "5m", "1h30m" → seconds (resource options customTimeouts; source_eval.go generateTimeoutInSeconds). */
function durationSeconds(s: string | undefined): number {
    if (!s) return 0;
    let total = 0;
    for (const m of s.matchAll(/(\d+(?:\.\d+)?)(h|m|s|ms)/g)) {
        const n = Number(m[1]);
        total += m[2] === "h" ? n * 3600 : m[2] === "m" ? n * 60 : m[2] === "s" ? n : n / 1000;
    }
    return total;
}

function structToMap(s: StructPb.Struct | undefined): PropertyMap {
    const v: unknown = s?.toJavaScript();
    return isObject(v) ? v : {};
}

function mapToStruct(m: PropertyMap): StructPb.Struct {
    return structpb.Struct.fromJavaScript(m as Record<string, StructPb.JavaScriptValue>);
}

function monitorTerminating(cause: Error | undefined): Error {
    return Object.assign(new Error(`deployment failed: ${cause?.message ?? "cancelled"}`), { code: 14 /* grpc UNAVAILABLE */ });
}

function errorText(e: unknown): string {
    return e instanceof Error ? e.message : String(e);
}

class Deployment {
    readonly steps: Step[] = [];
    readonly rpcCalls: RpcCall[] = [];
    readonly diagnostics: string[] = [];
    private readonly programErrors: string[] = [];
    private stackOutputs: PropertyMap | undefined;

    private readonly old: StackState;
    /** old live resources by URN (pending deletes excluded), source_eval/step_generator "olds" */
    private readonly olds = new Map<string, ResourceState>();
    /** new state, in step completion order (which is dependency order) */
    private news: ResourceState[] = [];
    private readonly seen = new Set<string>();
    private failure: Error | undefined;

    private host: DynamicProviderHost | undefined;
    private hostStarting: Promise<DynamicProviderHost> | undefined;
    /** the step executor runs one step at a time, in arrival order (like `--parallel 1`) */
    private queue: Promise<unknown> = Promise.resolve();
    private inflight = 0;
    private registrations = 0;

    constructor(
        private readonly run: StackRun,
        private readonly kind: Kind,
    ) {
        this.old = loadStateOrEmpty(run.stateFile, run.project, run.stack, this.passphrase());
        if (this.old.project !== run.project || this.old.stack !== run.stack) {
            throw new Error(`state file ${run.stateFile} belongs to ${this.old.project}/${this.old.stack}, not ${run.project}/${run.stack}`);
        }
        for (const r of this.old.resources) if (!r.delete) this.olds.set(r.urn, r);
    }

    private get preview(): boolean {
        return this.kind === "preview";
    }

    private passphrase(): string | undefined {
        return this.run.env?.PULUMI_CONFIG_PASSPHRASE;
    }

    // ----- provider host ---------------------------------------------------------------------------------------

    /**
     * The default `pulumi-nodejs` provider is registered lazily, on the first resource that needs it
     * (default_providers.go: "Default providers will only be registered for packages that are used").
     * Its inputs are target.go GetPackageConfig for a dynamic provider: the *whole* stack config, keys with their
     * namespace kept, secret values as secrets (PR #17229). The plugin gets PULUMI_CONFIG with the same keys in
     * plaintext (host.go Provider → provider_plugin.go NewProvider), and Configure gets
     * variables "pulumi-nodejs:config:<key>" → plaintext and args = the inputs (provider_plugin.go Configure).
     */
    private getHost(): Promise<DynamicProviderHost> {
        if (this.host) return Promise.resolve(this.host);
        if (!this.hostStarting) {
            const config = this.run.config ?? {};
            const secretKeys = new Set(this.run.secretConfigKeys ?? []);
            const inputs: PropertyMap = {};
            const variables: Record<string, string> = {};
            for (const [k, v] of Object.entries(config)) {
                inputs[k] = secretKeys.has(k) ? makeSecret(v) : v;
                variables[`pulumi-nodejs:config:${k}`] = v;
            }
            this.hostStarting = DynamicProviderHost.start(
                {
                    cwd: this.run.projectDir,
                    project: this.run.project,
                    configJson: JSON.stringify(config),
                    env: this.run.env,
                    onCall: (c) => this.rpcCalls.push(c),
                    onDiagnostic: (l) => this.diagnostics.push(l),
                },
                inputs,
                variables,
            ).then((h) => (this.host = h));
        }
        return this.hostStarting;
    }

    private async stopHost(): Promise<void> {
        const h = this.host ?? (await this.hostStarting?.catch(() => undefined));
        this.host = undefined;
        await h?.stop();
    }

    // ----- operations ------------------------------------------------------------------------------------------

    async runProgramOperation(): Promise<RunResult> {
        try {
            // step_generator.go GeneratePendingDeletes: resources left condemned by an earlier, interrupted
            // update are deleted first.
            if (!this.preview) {
                for (const r of this.old.resources.filter((x) => x.delete)) {
                    if (this.failure) break;
                    if (await this.runDelete(r, true, new Set())) this.deleted.add(r);
                }
            }
            if (!this.failure) await this.runProgram();
            // step_generator.go GenerateDeletes: after the program, delete what it no longer declares and the
            // old halves of create-before-delete replacements, walking the old snapshot backwards (it is in
            // dependency order, so dependents go first).
            if (!this.failure) await this.generateDeletes();
        } catch (e) {
            this.fail(e);
        } finally {
            await this.stopHost();
        }
        if (!this.preview) writeState(this.run.stateFile, this.finalState(), this.passphrase());
        return this.finish();
    }

    async runDestroy(): Promise<RunResult> {
        const remaining = [...this.old.resources];
        try {
            const deleting = new Set(remaining.map((r) => r.urn));
            for (const r of [...this.old.resources].reverse()) {
                await this.runDelete(r, false, deleting);
                if (this.failure) break;
                remaining.splice(remaining.indexOf(r), 1);
            }
        } catch (e) {
            this.fail(e);
        } finally {
            await this.stopHost();
        }
        this.stackOutputs = remaining.find((r) => r.type === ROOT_STACK_TYPE)?.outputs ?? {};
        writeState(this.run.stateFile, { ...this.old, resources: remaining }, this.passphrase());
        return this.finish();
    }

    /**
     * step.go RefreshStep.Apply: components, providers and pending-replace resources are kept as they are; a custom
     * resource is Read with its old inputs and old outputs as state; no outputs (empty id) drops it; new inputs
     * from Read replace the old ones; then the diff a no-change `up` would show is computed with the provider's Diff,
     * inverted (new inputs/outputs as the olds, old inputs as the news).
     */
    async runRefresh(): Promise<RunResult> {
        const result: ResourceState[] = [];
        try {
            for (const r of this.old.resources) {
                if (this.failure) {
                    result.push(r);
                    continue;
                }
                const step: Step = { op: "refresh", urn: r.urn, type: r.type, custom: r.custom, parent: r.parent || undefined, refreshResult: "same" };
                this.steps.push(step);
                if (!r.custom || r.pendingReplacement || !isDynamicType(r.type) || r.external) {
                    if (r.mocked) step.mocked = true;
                    result.push(r);
                    continue;
                }
                try {
                    const host = await this.getHost();
                    const read = await host.read(r.urn, r.id, stripMap(r.outputs), stripMap(r.inputs));
                    if (read.id === "") {
                        // provider_plugin.go Read: "If the resource was missing, simply return a nil property map"
                        step.refreshResult = "delete";
                        continue;
                    }
                    const outputs = read.properties;
                    annotateSecrets(outputs, r.outputs);
                    let inputs = r.inputs;
                    if (read.inputs) {
                        inputs = read.inputs;
                        annotateSecrets(inputs, r.inputs);
                    }
                    this.secretOutputs(outputs, r.additionalSecretOutputs);
                    const diff = await host.diff(r.urn, read.id, stripMap(outputs), stripMap(r.inputs), stripMap(inputs), r.ignoreChanges);
                    const changes = diff.changes === "DIFF_UNKNOWN" ? (deepEquals(inputs, r.inputs) ? "DIFF_NONE" : "DIFF_SOME") : diff.changes;
                    const outDiffs = changedKeys(r.outputs, outputs);
                    if (changes === "DIFF_SOME" || outDiffs.length > 0) {
                        step.refreshResult = "update";
                        step.diffs = outDiffs.length ? outDiffs : changedKeys(r.inputs, inputs);
                    }
                    result.push({ ...r, id: read.id || r.id, inputs, outputs, initErrors: [] });
                } catch (e) {
                    step.error = errorText(e);
                    result.push(r);
                    this.fail(e);
                }
            }
        } catch (e) {
            this.fail(e);
        } finally {
            await this.stopHost();
        }
        this.stackOutputs = result.find((r) => r.type === ROOT_STACK_TYPE)?.outputs ?? {};
        writeState(this.run.stateFile, { ...this.old, resources: result }, this.passphrase());
        return this.finish();
    }

    private fail(e: unknown): void {
        if (!this.failure) this.failure = e instanceof Error ? e : new Error(String(e));
    }

    private finish(): RunResult {
        const changes: Record<StepOp, number> = { create: 0, update: 0, replace: 0, delete: 0, same: 0, read: 0, refresh: 0 };
        // display: only logical steps are summarized (step.go DeleteStep.Logical() = !replacing)
        for (const s of this.steps) if (!s.replacing) changes[s.op]++;
        const shown = display(this.stackOutputs ?? {});
        const result: RunResult = {
            steps: this.steps,
            outputs: isObject(shown) ? shown : {},
            rpcCalls: this.rpcCalls,
            diagnostics: this.diagnostics,
            changes,
        };
        const problems = [...(this.failure ? [this.failure.message] : []), ...this.programErrors];
        if (problems.length) throw new EngineRunError(`${this.kind} failed: ${problems[0]}`, result);
        return result;
    }

    // ----- running the program -----------------------------------------------------------------------------------

    private async runProgram(): Promise<void> {
        const run = this.run;
        await pulumi.runtime.setMocks(
            {
                newResource: () => {
                    throw new Error("engine stand-in: newResource is not used");
                },
                call: (args) => {
                    if (!run.mockCall) throw new Error(`engine stand-in: no mockCall for invoke ${args.token}`);
                    return run.mockCall({ token: args.token, inputs: args.inputs as Record<string, unknown> });
                },
            },
            run.project,
            run.stack,
            this.preview,
            // the engine always names an organization; a DIY (file) backend calls it "organization"
            "organization",
        );
        pulumi.runtime.setAllConfig(run.config ?? {}, run.secretConfigKeys ?? []);
        const monitor = pulumi.runtime.getMonitor() as unknown as MonitorLike | undefined;
        if (!monitor) throw new Error("engine stand-in: no mock monitor after setMocks");
        monitor.registerResource = (req, cb) => this.track(this.onRegisterResource(req), cb);
        monitor.readResource = (req, cb) => this.track(this.onReadResource(req), cb);
        monitor.registerResourceOutputs = (req, cb) => {
            this.onRegisterResourceOutputs(req);
            cb(null, {});
        };

        // The Node language host fails the program on an unhandled rejection (sdk/nodejs/cmd/run/run.ts); here such
        // rejections (e.g. outputs of a failed resource nobody awaited) are collected instead of crashing jest.
        const onUnhandled = (reason: unknown) => {
            if (!this.failure) this.programErrors.push(errorText(reason));
        };
        process.on("unhandledRejection", onUnhandled);
        try {
            // The program's own error is caught here, not left to reject the root stack's outputs: those
            // rejections surface later as unhandled ones, which jest-circus (on the real process, behind jest's
            // process proxy) would pin on the running test. The language host likewise reports it once (run.ts).
            const programDone = pulumi.runtime
                .runInPulumiStack(async () => {
                    try {
                        return (await run.program()) ?? undefined;
                    } catch (e) {
                        if (!this.failure) this.programErrors.push(errorText(e));
                        return undefined;
                    }
                })
                .then(
                    () => undefined,
                    (e: unknown) => {
                        if (!this.failure) this.programErrors.push(errorText(e));
                    },
                );
            // after a failed step the program cannot finish (its outputs never resolve): stop waiting once idle
            let programFinished = false;
            await Promise.race([programDone.then(() => (programFinished = true)), this.failedAndIdle(() => programFinished)]);
            programFinished = true;
            await this.settle();
        } finally {
            // a failed program also rejects the root stack's outputs, a few turns later (runtime/stack.ts):
            // keep collecting until those have surfaced, as the language host's process-wide handler would
            await new Promise((r) => setTimeout(r, 250));
            process.off("unhandledRejection", onUnhandled);
        }
    }

    private async failedAndIdle(finished: () => boolean): Promise<void> {
        while (!finished()) {
            await new Promise((r) => setTimeout(r, 10));
            if (this.failure && this.inflight === 0) return;
        }
    }

    /**
     * Wait until every registration has been answered and the SDK's RPC queue is drained, repeatedly, since
     * resources created inside apply() register late (pulumi/pulumi#6666; the language host does this in
     * sdk/nodejs/runtime/settings.ts disconnect → waitForRPCs).
     */
    private async settle(): Promise<void> {
        const waitForRPCs = (pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> }).waitForRPCs;
        let quiet = 0;
        let last = -1;
        for (let i = 0; i < 100000 && quiet < 3; i++) {
            // (after a failure, registrations waiting on a failed resource's outputs never complete: don't wait for them)
            if (waitForRPCs && !this.failure) await waitForRPCs();
            await this.queue;
            await new Promise((r) => setImmediate(r));
            if (this.inflight === 0 && this.registrations === last) quiet++;
            else quiet = 0;
            last = this.registrations;
        }
    }

    private track<T>(p: Promise<T>, cb: Callback<T>): void {
        this.inflight++;
        this.registrations++;
        p.then(
            (r) => {
                this.inflight--;
                cb(null, r);
            },
            (e: unknown) => {
                this.inflight--;
                cb(e instanceof Error ? e : new Error(String(e)));
            },
        );
    }

    private enqueue<T>(job: () => Promise<T>): Promise<T> {
        const p = this.queue.then(job);
        this.queue = p.catch(() => undefined);
        return p;
    }

    /** deployment.go generateURN: the parent's qualified type prefixes the type, except for the root stack. */
    private urnFor(parent: string, type: string, name: string): string {
        let qualified = type;
        if (parent) {
            const parentQualified = parent.split("::")[2] ?? "";
            if (parentQualified !== ROOT_STACK_TYPE) qualified = `${parentQualified}$${type}`;
        }
        return `urn:pulumi:${this.run.stack}::${this.run.project}::${qualified}::${name}`;
    }

    private async onRegisterResource(req: ResourcePb.RegisterResourceRequest): Promise<ResourcePb.RegisterResourceResponse> {
        const propertyDependencies: Record<string, string[]> = {};
        req.getPropertydependenciesMap().forEach((v: ResourcePb.RegisterResourceRequest.PropertyDependencies, k: string) => {
            propertyDependencies[k] = v.getUrnsList();
        });
        const timeouts = req.getCustomtimeouts();
        const goal: Goal = {
            type: req.getType(),
            name: req.getName(),
            urn: this.urnFor(req.getParent(), req.getType(), req.getName()),
            custom: req.getCustom(),
            parent: req.getParent(),
            inputs: structToMap(req.getObject()),
            protect: req.getProtect() === true,
            dependencies: req.getDependenciesList(),
            propertyDependencies,
            deleteBeforeReplace: req.getDeletebeforereplacedefined() ? req.getDeletebeforereplace() : undefined,
            ignoreChanges: req.getIgnorechangesList(),
            additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
            retainOnDelete: req.getRetainondelete() === true,
            deletedWith: req.getDeletedwith(),
            timeouts: { create: durationSeconds(timeouts?.getCreate()), update: durationSeconds(timeouts?.getUpdate()), delete: durationSeconds(timeouts?.getDelete()) },
        };
        const r = await this.enqueue(() => this.generateAndApply(goal));
        // When a step fails the engine cancels the deployment (deployment_executor.go: on a step error no further
        // steps start and the program is shut down). The stand-in answers the failed and every later registration
        // with UNAVAILABLE, which the Node SDK treats as "Resource monitor is terminating": it stops, without
        // rejecting outputs (sdk/nodejs/runtime/resource.ts registerResource, errors.ts isGrpcError) — so there is
        // no flood of unhandled rejections, just a program that never finishes, which the stand-in stops waiting for.
        if (r.failed) throw monitorTerminating(this.failure);
        const resp = new resourcepb.RegisterResourceResponse();
        resp.setUrn(goal.urn);
        resp.setId(r.id);
        resp.setObject(mapToStruct(r.outputs));
        resp.setResult(resourcepb.Result.SUCCESS);
        return resp;
    }

    private onRegisterResourceOutputs(req: ResourcePb.RegisterResourceOutputsRequest): void {
        // source_eval.go RegisterResourceOutputs: a component's (or the stack's) registered outputs become its outputs.
        const outputs = structToMap(req.getOutputs());
        const urn = req.getUrn();
        const st = this.news.find((r) => r.urn === urn);
        if (st) st.outputs = outputs;
        if (urn.split("::")[2] === ROOT_STACK_TYPE) this.stackOutputs = outputs;
    }

    /**
     * step_generator.go GenerateReadSteps + step.go ReadStep.Apply: `Resource.get`-style reads. The provider's Read
     * gets the given properties as both inputs and state; the result is an external resource (never deleted).
     */
    private async onReadResource(req: ResourcePb.ReadResourceRequest): Promise<ResourcePb.ReadResourceResponse> {
        const urn = this.urnFor(req.getParent(), req.getType(), req.getName());
        const type = req.getType();
        const id = req.getId();
        const props = structToMap(req.getProperties());
        const out = await this.enqueue(async (): Promise<PropertyMap | undefined> => {
            if (this.failure) return undefined;
            this.seen.add(urn);
            const step: Step = { op: "read", urn, type, custom: true, parent: req.getParent() || undefined };
            this.steps.push(step);
            let outputs: PropertyMap;
            try {
                if (id === UNKNOWN || id === "") {
                    outputs = {};
                } else if (isDynamicType(type)) {
                    const host = await this.getHost();
                    const r = await host.read(urn, id, stripMap(props), stripMap(props));
                    if (r.id === "") throw new StepFailure(`resource '${id}' does not exist`);
                    outputs = r.properties;
                    annotateSecrets(outputs, props);
                } else {
                    step.mocked = true;
                    const m = await this.run.mockResource?.({ type, name: req.getName(), inputs: stripMap(props) });
                    outputs = m?.outputs ? clone(m.outputs) : clone(props);
                }
            } catch (e) {
                step.error = errorText(e);
                this.fail(e);
                return undefined;
            }
            this.secretOutputs(outputs, req.getAdditionalsecretoutputsList());
            this.news.push(this.stateOf({ type, urn, custom: true, parent: req.getParent(), dependencies: req.getDependenciesList() }, id, props, outputs, { external: true, mocked: step.mocked === true }));
            return outputs;
        });
        if (!out) throw monitorTerminating(this.failure);
        const resp = new resourcepb.ReadResourceResponse();
        resp.setUrn(urn);
        resp.setProperties(mapToStruct(out));
        return resp;
    }

    // ----- step generation and execution -------------------------------------------------------------------------

    private stateOf(
        g: Pick<Goal, "type" | "urn" | "custom" | "parent"> & Partial<Goal>,
        id: string,
        inputs: PropertyMap,
        outputs: PropertyMap,
        extra: Partial<ResourceState> = {},
    ): ResourceState {
        return {
            urn: g.urn,
            type: g.type,
            custom: g.custom,
            id,
            inputs,
            outputs,
            parent: g.parent,
            dependencies: g.dependencies ?? [],
            propertyDependencies: g.propertyDependencies ?? {},
            protect: g.protect ?? false,
            retainOnDelete: g.retainOnDelete ?? false,
            deletedWith: g.deletedWith ?? "",
            additionalSecretOutputs: g.additionalSecretOutputs ?? [],
            ignoreChanges: g.ignoreChanges ?? [],
            delete: false,
            pendingReplacement: false,
            initErrors: [],
            mocked: false,
            external: false,
            ...extra,
        };
    }

    /** step_executor.go executeStep: outputs named in additionalSecretOutputs are made secret ("id" cannot be). */
    private secretOutputs(outputs: PropertyMap, names: string[]): void {
        for (const k of names) if (k !== "id" && k in outputs && !isSecret(outputs[k])) outputs[k] = makeSecret(outputs[k]);
    }

    /** step_generator.go processIgnoreChanges (top-level property names only). */
    private ignoreChanges(inputs: PropertyMap, oldInputs: PropertyMap, ignore: string[]): PropertyMap {
        if (ignore.length === 0) return inputs;
        const r = { ...inputs };
        for (const k of ignore) {
            if (k in oldInputs) r[k] = oldInputs[k];
            else delete r[k];
        }
        return r;
    }

    private async generateAndApply(goal: Goal): Promise<StepResult> {
        // After a failed step the engine starts no new steps (step_executor.go: cancel on error).
        if (this.failure) return { id: "", outputs: {}, failed: true };
        const step: Step = { op: "same", urn: goal.urn, type: goal.type, custom: goal.custom, parent: goal.parent || undefined };
        try {
            // step_generator.go GenerateSteps: duplicate URNs are an error
            if (this.seen.has(goal.urn)) throw new StepFailure(`Duplicate resource URN '${goal.urn}'; try giving it a unique name`);
            this.seen.add(goal.urn);
            const old = this.olds.get(goal.urn);
            const inputs = old ? this.ignoreChanges(goal.inputs, old.inputs, goal.ignoreChanges) : goal.inputs;
            if (!goal.custom) return this.componentStep(goal, step, old, inputs);
            if (isDynamicType(goal.type)) return await this.dynamicStep(goal, step, old, inputs);
            return await this.mockedStep(goal, step, old, inputs);
        } catch (e) {
            step.error = errorText(e);
            if (!this.steps.includes(step)) this.steps.push(step);
            this.fail(e);
            return { id: "", outputs: {}, failed: true };
        }
    }

    /** Components have no provider: step_generator.go diff() with prov == nil compares old and new inputs. */
    private componentStep(goal: Goal, step: Step, old: ResourceState | undefined, inputs: PropertyMap): StepResult {
        if (!old) step.op = "create";
        else if (!deepEquals(old.inputs, inputs)) {
            step.op = "update";
            step.diffs = changedKeys(old.inputs, inputs);
        }
        this.steps.push(step);
        const outputs = old ? old.outputs : {};
        this.news.push(this.stateOf(goal, "", inputs, outputs));
        return { id: "", outputs, failed: false };
    }

    /**
     * Plugin-backed resources (openstack, command): no plugin can run here. Create/update/same is decided like for a
     * provider answering DIFF_UNKNOWN (step_generator.go diffResource: compare old and new inputs); outputs come from
     * StackRun.mockResource (default: the inputs, id "<name>-id"). In a preview the outputs are the inputs, as for a
     * provider without preview support (provider_plugin.go Create/Update with req.Preview).
     */
    private async mockedStep(goal: Goal, step: Step, old: ResourceState | undefined, inputs: PropertyMap): Promise<StepResult> {
        step.mocked = true;
        if (old && deepEquals(old.inputs, inputs)) {
            this.steps.push(step);
            this.news.push(this.stateOf(goal, old.id, inputs, old.outputs, { mocked: true }));
            return { id: old.id, outputs: old.outputs, failed: false };
        }
        step.op = old ? "update" : "create";
        if (old) step.diffs = changedKeys(old.inputs, inputs);
        this.steps.push(step);
        if (this.preview) return { id: old?.id ?? "", outputs: inputs, failed: false };
        const m = await this.run.mockResource?.({ type: goal.type, name: goal.name, inputs: stripMap(inputs) });
        const outputs: PropertyMap = m?.outputs ? clone(m.outputs) : clone(inputs);
        annotateSecrets(outputs, inputs);
        this.secretOutputs(outputs, goal.additionalSecretOutputs);
        const id = old?.id ?? m?.id ?? `${goal.name}-id`;
        this.news.push(this.stateOf(goal, id, inputs, outputs, { mocked: true }));
        return { id, outputs, failed: false };
    }

    /** provider_plugin.go Check: olds/news without secrets (acceptSecrets=false), then annotateSecrets(inputs, news). */
    private async check(goal: Goal, olds: PropertyMap, inputs: PropertyMap): Promise<PropertyMap> {
        const host = await this.getHost();
        const r = await host.check(goal.urn, stripMap(olds), stripMap(inputs));
        if (r.failures.length) {
            // step_generator.go issueCheckErrors
            const lines = r.failures.map((f) => (f.property ? `${goal.type} resource '${goal.name}': property ${f.property} value ${JSON.stringify(display(inputs[f.property]))} has a problem: ${f.reason}` : `${goal.type} resource '${goal.name}' has a problem: ${f.reason}`));
            throw new StepFailure(lines.join("\n"));
        }
        const checked = r.inputs;
        annotateSecrets(checked, inputs);
        return checked;
    }

    private async dynamicStep(goal: Goal, step: Step, old: ResourceState | undefined, inputs: PropertyMap): Promise<StepResult> {
        // step_generator.go GenerateSteps: Check with the old inputs as olds (none on create, or when the old
        // resource was already deleted by a delete-before-replace).
        const live = old && !old.pendingReplacement ? old : undefined;
        let checked = await this.check(goal, live ? live.inputs : {}, inputs);
        if (!live) {
            step.op = old ? "replace" : "create";
            return this.createStep(goal, step, checked, undefined);
        }

        // step_generator.go diff → diffResource: the provider's Diff gets old outputs, new inputs and old inputs;
        // DIFF_UNKNOWN becomes "some" or "none" by comparing old and new inputs.
        const host = await this.getHost();
        const d = await host.diff(goal.urn, live.id, stripMap(live.outputs), stripMap(checked), stripMap(live.inputs), goal.ignoreChanges);
        const changes = d.changes === "DIFF_UNKNOWN" ? (deepEquals(live.inputs, checked) ? "DIFF_NONE" : "DIFF_SOME") : d.changes;
        if (changes === "DIFF_NONE") {
            // step.go SameStep.Apply: keep the ID and the outputs; the new inputs are recorded
            this.steps.push(step);
            this.news.push(this.stateOf(goal, live.id, checked, live.outputs, { initErrors: [] }));
            return { id: live.id, outputs: live.outputs, failed: false };
        }
        step.diffs = d.diffs.length ? d.diffs : changedKeys(live.inputs, checked);

        if (d.replaces.length === 0) {
            // step.go UpdateStep.Apply (provider_plugin.go Update: no call in a preview, the new inputs are the state)
            step.op = "update";
            this.steps.push(step);
            if (this.preview) return { id: live.id, outputs: checked, failed: false };
            let outputs: PropertyMap;
            try {
                outputs = await host.update(goal.urn, live.id, stripMap(live.outputs), stripMap(checked), stripMap(live.inputs), goal.timeouts.update, goal.ignoreChanges);
            } catch (e) {
                if (e instanceof ProviderCallError && e.initFailure) {
                    // StatusPartialFailure on update: the new outputs are kept, with the reasons
                    const partial = e.initFailure.properties;
                    annotateSecrets(partial, checked);
                    this.news.push(this.stateOf(goal, live.id, checked, partial, { initErrors: e.initFailure.reasons }));
                } else this.news.push(live);
                throw e;
            }
            annotateSecrets(outputs, checked);
            this.secretOutputs(outputs, goal.additionalSecretOutputs);
            this.news.push(this.stateOf(goal, live.id, checked, outputs));
            return { id: live.id, outputs, failed: false };
        }

        // A replacement. step_generator.go generateStepsFromDiff: re-Check without olds ("recompute the default
        // values"), then delete-before-replace if the resource option says so, else if the provider asked for it;
        // otherwise create-before-delete with the old resource deleted at the end of the update.
        step.op = "replace";
        step.replaces = d.replaces;
        checked = await this.check(goal, {}, inputs);
        const dbr = goal.deleteBeforeReplace ?? d.deleteBeforeReplace;
        step.deleteBeforeReplace = dbr;
        if (this.preview) {
            if (dbr) this.steps.push({ op: "delete", urn: live.urn, type: live.type, custom: true, parent: live.parent || undefined, replacing: true });
            this.steps.push(step);
            return { id: "", outputs: checked, failed: false };
        }
        if (dbr) {
            // step.go DeleteStep (replacing): the old resource stays in the state as pendingReplacement until the
            // replacement exists.
            if (!(await this.runDelete(live, true, new Set()))) {
                this.news.push(live);
                return { id: "", outputs: {}, failed: true };
            }
            return this.createStep(goal, step, checked, { ...live, pendingReplacement: true });
        }
        return this.createStep(goal, step, checked, live);
    }

    /**
     * step.go CreateStep.Apply + provider_plugin.go Create: no call in a preview (the host does not support
     * previews, so the checked inputs stand in for the state and the SDK sees every other output as unknown); an
     * empty id is an error; a partial failure (ErrorResourceInitFailed) is recorded with its id and properties and
     * still fails the step. For a create-before-delete replacement (`replacing` = the old state, not pending
     * replacement) the old resource is marked for deletion once the new one exists.
     */
    private async createStep(goal: Goal, step: Step, checked: PropertyMap, replacing: ResourceState | undefined): Promise<StepResult> {
        this.steps.push(step);
        if (this.preview) return { id: "", outputs: checked, failed: false };
        const host = await this.getHost();
        const condemn = () => {
            if (replacing && !replacing.pendingReplacement) this.news.push({ ...replacing, delete: true });
        };
        let id: string;
        let outputs: PropertyMap;
        try {
            const r = await host.create(goal.urn, stripMap(checked), goal.timeouts.create);
            id = r.id;
            outputs = r.properties;
        } catch (e) {
            if (e instanceof ProviderCallError && e.initFailure && e.initFailure.id) {
                const partial = e.initFailure.properties;
                annotateSecrets(partial, checked);
                this.secretOutputs(partial, goal.additionalSecretOutputs);
                condemn();
                this.news.push(this.stateOf(goal, e.initFailure.id, checked, partial, { initErrors: e.initFailure.reasons }));
            } else if (replacing) {
                this.news.push(replacing);
            }
            throw e;
        }
        if (id === "") {
            if (replacing) this.news.push(replacing);
            throw new StepFailure("provider did not return an ID from Create");
        }
        annotateSecrets(outputs, checked);
        this.secretOutputs(outputs, goal.additionalSecretOutputs);
        condemn();
        this.news.push(this.stateOf(goal, id, checked, outputs));
        return { id, outputs, failed: false };
    }

    /**
     * step.go DeleteStep.Apply: a protected resource cannot be deleted (unless replacing); nothing happens in a
     * preview; retainOnDelete and external resources are dropped without a Delete call; so is a resource whose
     * deletedWith target is deleted in the same operation; custom resources get Delete(id, old outputs, old inputs).
     */
    /** Returns true when the resource is gone from the state (deleted, or dropped without a call). */
    private async runDelete(r: ResourceState, replacing: boolean, deleting: Set<string>): Promise<boolean> {
        const step: Step = { op: "delete", urn: r.urn, type: r.type, custom: r.custom, parent: r.parent || undefined };
        if (replacing || r.delete) step.replacing = true;
        if (r.mocked) step.mocked = true;
        this.steps.push(step);
        try {
            if (!replacing && !r.delete && r.protect) {
                throw new StepFailure(`resource "${r.urn}" cannot be deleted\nbecause it is protected. To unprotect the resource, either remove the \`protect\` flag from the resource in your Pulumi program and run \`pulumi up\`, or use the command:\n\`pulumi state unprotect '${r.urn}'\``);
            }
            if (this.preview) return true;
            if (r.external || r.pendingReplacement) return true;
            if (r.retainOnDelete) {
                step.retained = true;
                return true;
            }
            if (r.deletedWith && deleting.has(r.deletedWith)) return true;
            if (r.custom && isDynamicType(r.type) && !r.mocked) {
                const host = await this.getHost();
                await host.delete(r.urn, r.id, stripMap(r.outputs), stripMap(r.inputs), 0);
            }
            return true;
        } catch (e) {
            step.error = errorText(e);
            this.fail(e);
            return false;
        }
    }

    private async generateDeletes(): Promise<void> {
        const condemned = this.news.filter((r) => r.delete);
        const unseen = this.old.resources.filter((r) => !r.delete && !this.seen.has(r.urn));
        const deleting = new Set([...condemned, ...unseen].map((r) => r.urn));
        // walk the old snapshot backwards (dependents before their dependencies)
        for (const r of [...this.old.resources].reverse()) {
            if (this.failure) break;
            const c = condemned.find((x) => x.urn === r.urn && x.id === r.id);
            if (c) {
                if ((await this.runDelete(c, true, deleting)) && !this.preview) this.news = this.news.filter((x) => x !== c);
            } else if (unseen.includes(r)) {
                if ((await this.runDelete(r, false, deleting)) && !this.preview) this.deleted.add(r);
            }
        }
    }

    /** old resources removed from the state during this run */
    private readonly deleted = new Set<ResourceState>();

    /** The checkpoint after an update: what this run produced, then old resources it did not touch (in old order). */
    private finalState(): StackState {
        const leftovers = this.old.resources.filter((r) => !this.deleted.has(r) && (r.delete || !this.seen.has(r.urn)));
        return { ...this.old, resources: [...this.news, ...leftovers] };
    }
}

// ---------------------------------------------------------------------------------------------------------------

const SYMBOL: Record<StepOp, string> = { create: "+", update: "~", replace: "+-", delete: "-", same: " ", read: ">", refresh: "~" };

/** Render a result like the CLI's progress table and summary (for the demo). */
export function formatResult(r: RunResult, title: string): string {
    const lines: string[] = [title, ""];
    const shown = r.steps.filter((s) => !(s.op === "delete" && s.replacing));
    const byUrn = new Map(shown.map((s) => [s.urn, s]));
    const children = new Map<string, Step[]>();
    const roots: Step[] = [];
    for (const s of shown) {
        if (s.parent && byUrn.has(s.parent) && s.parent !== s.urn) {
            const list = children.get(s.parent) ?? [];
            list.push(s);
            children.set(s.parent, list);
        } else roots.push(s);
    }
    const rows: [string, string, string, string, string][] = [];
    const walk = (s: Step, prefix: string, last: boolean, depth: number) => {
        const branch = depth === 0 ? "" : `${prefix}${last ? "└─ " : "├─ "}`;
        const op = s.op === "refresh" ? (s.refreshResult ?? "same") : s.op;
        const sym = s.op === "refresh" ? (s.refreshResult === "delete" ? "-" : s.refreshResult === "update" ? "~" : " ") : SYMBOL[s.op];
        const notes: string[] = [];
        if (s.diffs?.length) notes.push(`[diff: ${s.diffs.map((k) => (s.replaces?.includes(k) ? `~${k} (replace)` : `~${k}`)).join(", ")}]`);
        if (s.op === "replace" && s.deleteBeforeReplace) notes.push("[delete-before-replace]");
        if (s.retained) notes.push("[retain]");
        if (s.mocked) notes.push("[mocked]");
        if (s.error) notes.push(`**failed**: ${s.error.split("\n")[0]}`);
        rows.push([sym, `${branch}${s.type}`, urnName(s.urn), op, notes.join(" ")]);
        const kids = children.get(s.urn) ?? [];
        kids.forEach((k, i) => walk(k, depth === 0 ? "" : `${prefix}${last ? "   " : "│  "}`, i === kids.length - 1, depth + 1));
    };
    roots.forEach((s, i) => walk(s, "", i === roots.length - 1, 0));
    const w1 = Math.max(4, ...rows.map((x) => x[1].length));
    const w2 = Math.max(4, ...rows.map((x) => x[2].length));
    lines.push(`     ${"Type".padEnd(w1)}  ${"Name".padEnd(w2)}  Plan`);
    for (const [sym, type, name, op, notes] of rows) lines.push(` ${sym.padEnd(3)} ${type.padEnd(w1)}  ${name.padEnd(w2)}  ${op}${notes ? `  ${notes}` : ""}`);
    const diffLines = r.diagnostics.length ? ["", "Diagnostics:", ...r.diagnostics.map((d) => `    ${d}`)] : [];
    lines.push(...diffLines);
    const outs = Object.entries(r.outputs);
    if (outs.length) {
        lines.push("", "Outputs:");
        const w = Math.max(...outs.map(([k]) => k.length));
        for (const [k, v] of outs) lines.push(`    ${k.padEnd(w)}: ${JSON.stringify(v)}`);
    }
    const c = r.changes;
    const summary: string[] = [];
    if (c.create) summary.push(`+ ${c.create} to create`);
    if (c.update) summary.push(`~ ${c.update} to update`);
    if (c.replace) summary.push(`+-${c.replace} to replace`);
    if (c.delete) summary.push(`- ${c.delete} to delete`);
    if (c.read) summary.push(`> ${c.read} read`);
    if (c.refresh) summary.push(`~ ${c.refresh} refreshed`);
    if (c.same) summary.push(`${c.same} unchanged`);
    lines.push("", "Resources:", ...summary.map((s) => `    ${s}`));
    return lines.join("\n");
}
