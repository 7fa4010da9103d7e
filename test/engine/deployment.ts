// The engine stand-in's deployment: the engine's resource monitor and step generator/executor, serving the
// program that Pulumi's own runner runs in a child process (languageHost.ts) and driving the real
// dynamic-provider host (host.ts). Each rule cites the engine source it mirrors (github.com/pulumi/pulumi).
import * as crypto from "crypto";
import * as os from "os";
import type * as grpcTypes from "@grpc/grpc-js";
import type * as ResourcePb from "@pulumi/pulumi/proto/resource_pb";
import type * as ResourceGrpcPb from "@pulumi/pulumi/proto/resource_grpc_pb";
import type * as EnginePb from "@pulumi/pulumi/proto/engine_pb";
import type * as ProviderPb from "@pulumi/pulumi/proto/provider_pb";
import type * as EngineGrpcPb from "@pulumi/pulumi/proto/engine_grpc_pb";
import type * as StructPb from "google-protobuf/google/protobuf/struct_pb";
import type * as EmptyPb from "google-protobuf/google/protobuf/empty_pb";
import { DynamicProviderHost, ProviderCallError, fromPulumi, urnName, type RpcCall } from "./host";
import { Journal } from "./journal";
import { pwdMain, readProject, startProgram, type ProgramProcess } from "./languageHost";
import {
    UNKNOWN,
    annotateSecrets,
    changedKeys,
    clone,
    deepEquals,
    display,
    isObject,
    makeSecret,
    stripMap,
    type PropertyMap,
} from "./props";
import { loadStateOrEmpty, type PendingOperation, type ResourceState, type StackState } from "./state";

const grpc = fromPulumi<typeof grpcTypes>("@grpc/grpc-js");
const resourcepb = fromPulumi<typeof ResourcePb>("@pulumi/pulumi/proto/resource_pb");
const resourcegrpc = fromPulumi<typeof ResourceGrpcPb>("@pulumi/pulumi/proto/resource_grpc_pb");
const providerpb = fromPulumi<typeof ProviderPb>("@pulumi/pulumi/proto/provider_pb");
const enginepb = fromPulumi<typeof EnginePb>("@pulumi/pulumi/proto/engine_pb");
const enginegrpc = fromPulumi<typeof EngineGrpcPb>("@pulumi/pulumi/proto/engine_grpc_pb");
const structpb = fromPulumi<typeof StructPb>("google-protobuf/google/protobuf/struct_pb");
const emptypb = fromPulumi<typeof EmptyPb>("google-protobuf/google/protobuf/empty_pb");

export interface StackRun {
    /** the project root: the directory of Pulumi.yaml (its `main` and `runtime.options` are honoured) */
    projectDir: string;
    stack: string;
    /** the backend's organization; a file backend calls it "organization" */
    organization?: string;
    /** fully-qualified keys "ns:key" → plaintext, as `pulumi config` hands them to the language host */
    config?: Record<string, string>;
    secretConfigKeys?: string[];
    /** the checkpoint file (state.ts checkpointPath for the file backend's layout) */
    stateFile: string;
    /** environment of the CLI process: the program and the provider host inherit it */
    env?: NodeJS.ProcessEnv;
    /** `--parallel`; the CLI's default is 4 × GOMAXPROCS (pkg/cmd/pulumi/operations/up.go) */
    parallel?: number;
    /** `pulumi up --replace URN`: replaced whatever Diff would say */
    replace?: string[];
    /** outputs for plugin-backed resources (their plugins cannot run here); default: inputs as outputs */
    mockResource?: (r: {
        type: string;
        name: string;
        inputs: Record<string, unknown>;
    }) => MockedResource | undefined | Promise<MockedResource | undefined>;
    /** results for invokes of plugin-backed packages */
    mockCall?: (r: { token: string; inputs: Record<string, unknown> }) => Record<string, unknown>;
    /** every step as it begins and ends (the CLI's progress events) */
    onEvent?: (e: EngineEvent) => void;
}

export interface MockedResource {
    id?: string;
    outputs?: Record<string, unknown>;
}

export interface EngineEvent {
    kind: "begin" | "end" | "log";
    op?: StepOp;
    urn?: string;
    message?: string;
    error?: string;
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
    parent?: string;
    /** plugin-backed: outputs came from StackRun.mockResource */
    mocked?: boolean;
    /** a delete that is half of a replacement (not counted in `changes`) */
    replacing?: boolean;
    retained?: boolean;
    refreshResult?: "same" | "update" | "delete";
    /** ms since the operation began, when the step began and ended (what ran in parallel) */
    began?: number;
    ended?: number;
}

export interface RunResult {
    steps: Step[];
    outputs: Record<string, unknown>;
    rpcCalls: RpcCall[];
    /** program and provider output, and what they logged through the engine */
    diagnostics: string[];
    changes: Record<StepOp, number>;
    /** warnings the engine printed (pending operations, ...) */
    warnings: string[];
}

export class EngineRunError extends Error {
    constructor(
        message: string,
        public readonly result: RunResult,
    ) {
        super(message);
        this.name = "EngineRunError";
    }
}

export type Kind = "preview" | "up" | "destroy" | "refresh";

export interface RefreshOptions {
    /** `pulumi refresh --clear-pending-creates`: forget pending creates (the create did not happen) */
    clearPendingCreates?: boolean;
    /** `pulumi refresh --import-pending-creates URN ID ...`: the create happened; adopt it with that id */
    importPendingCreates?: Record<string, string>;
}

const ROOT_STACK_TYPE = "pulumi:pulumi:Stack";

export function isDynamicType(type: string): boolean {
    return type === "pulumi-nodejs:dynamic:Resource" || type.startsWith("pulumi-nodejs:dynamic");
}

function packageOf(type: string): string {
    return type.split(":")[0] ?? type;
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
    version: string;
    timeouts: { create: number; update: number; delete: number };
}

/** "30s", "5m", "1h30m" → seconds (source_eval.go generateTimeoutInSeconds). */
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
function errorText(e: unknown): string {
    return e instanceof Error ? e.message : String(e);
}

class StepFailure extends Error {}

/** A counting semaphore: the step executor's worker pool (step_executor.go: `parallel` workers). */
class Slots {
    private free: number;
    private readonly waiters: (() => void)[] = [];
    constructor(n: number) {
        this.free = Math.max(1, n);
    }
    async run<T>(f: () => Promise<T>): Promise<T> {
        if (this.free > 0) this.free--;
        else await new Promise<void>((r) => this.waiters.push(r));
        try {
            return await f();
        } finally {
            const next = this.waiters.shift();
            if (next) next();
            else this.free++;
        }
    }
}

/** deployment.go generateURN: the parent's qualified type prefixes the type, except for the root stack. */
function urnFor(stack: string, project: string, parent: string, type: string, name: string): string {
    let qualified = type;
    if (parent) {
        const parentQualified = parent.split("::")[2] ?? "";
        if (parentQualified !== ROOT_STACK_TYPE) qualified = `${parentQualified}$${type}`;
    }
    return `urn:pulumi:${stack}::${project}::${qualified}::${name}`;
}

/** graph.DependencyGraph DependenciesOf: parent, dependencies, property dependencies, deletedWith. */
function dependenciesOf(r: ResourceState): Set<string> {
    const deps = new Set<string>([...r.dependencies, ...Object.values(r.propertyDependencies).flat()]);
    if (r.parent) deps.add(r.parent);
    if (r.deletedWith) deps.add(r.deletedWith);
    if (r.provider) deps.add(r.provider.split("::").slice(0, -1).join("::"));
    return deps;
}

export class Deployment {
    readonly steps: Step[] = [];
    readonly rpcCalls: RpcCall[] = [];
    readonly diagnostics: string[] = [];
    readonly warnings: string[] = [];
    private readonly programErrors: string[] = [];
    private readonly t0 = Date.now();

    private readonly project;
    private readonly fqStack: string;
    private readonly old: StackState;
    /** live old resources by URN (condemned ones excluded): step_generator "olds" */
    private readonly olds = new Map<string, ResourceState>();
    private readonly journal: Journal;
    private readonly seen = new Set<string>();
    private readonly news = new Map<string, ResourceState>();
    private failure: Error | undefined;
    private readonly slots: Slots;
    private generating: Promise<unknown> = Promise.resolve();
    private inflight = new Set<Promise<unknown>>();
    private stackUrn = "";
    private stackOutputs: PropertyMap | undefined;

    private host: DynamicProviderHost | undefined;
    private hostStarting: Promise<DynamicProviderHost> | undefined;
    private readonly defaultProviders = new Map<string, ResourceState>();
    private program: ProgramProcess | undefined;

    constructor(
        private readonly run: StackRun,
        private readonly kind: Kind,
    ) {
        this.project = readProject(run.projectDir);
        const org = run.organization ?? "organization";
        this.fqStack = `${org}/${this.project.name}/${run.stack}`;
        this.old = loadStateOrEmpty(run.stateFile, this.fqStack, this.passphrase());
        if (this.old.stack !== this.fqStack)
            throw new Error(`state file ${run.stateFile} belongs to ${this.old.stack}, not ${this.fqStack}`);
        for (const r of this.old.resources) if (!r.delete) this.olds.set(r.urn, r);
        this.journal = new Journal(this.old, kind === "preview" ? null : run.stateFile, this.passphrase());
        this.slots = new Slots(run.parallel ?? os.availableParallelism() * 4);
    }

    private get preview(): boolean {
        return this.kind === "preview";
    }
    private passphrase(): string | undefined {
        return this.run.env?.PULUMI_CONFIG_PASSPHRASE ?? process.env.PULUMI_CONFIG_PASSPHRASE;
    }
    private now(): number {
        return Date.now() - this.t0;
    }
    private fail(e: unknown): void {
        if (!this.failure) this.failure = e instanceof Error ? e : new Error(String(e));
    }

    // ----- the dynamic-provider host -------------------------------------------------------------------------

    /**
     * The default `pulumi-nodejs` provider is loaded on first use (default_providers.go). Its Configure gets the
     * whole stack config, keys with their namespace kept, secrets as secrets (target.go GetPackageConfig for a
     * dynamic provider, pulumi/pulumi#17229); the plugin gets PULUMI_CONFIG in plaintext (provider_plugin.go
     * NewProvider) and runs in the program directory with the engine's address as its argument.
     */
    private getHost(engineAddress: string): Promise<DynamicProviderHost> {
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
            const { pwd } = pwdMain(this.project);
            this.hostStarting = DynamicProviderHost.start(
                {
                    cwd: pwd,
                    project: this.project.name,
                    configJson: JSON.stringify(config),
                    env: this.run.env,
                    engineAddress,
                    onCall: (c) => this.rpcCalls.push(c),
                    onDiagnostic: (l) => {
                        // the provider host's pulumi.log lines arrive on its stderr, as the CLI streams them while a step runs
                        this.diagnostics.push(l);
                        this.run.onEvent?.({ kind: "log", message: l });
                    },
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

    // ----- the engine's gRPC services ---------------------------------------------------------------------------

    private server: grpcTypes.Server | undefined;
    private address = "";
    private pendingShutdown: (() => void)[] = [];

    private async serve(): Promise<void> {
        const server = new grpc.Server();
        const unary =
            <Req, Res>(f: (req: Req) => Promise<Res> | Res) =>
            (call: grpcTypes.ServerUnaryCall<Req, Res>, cb: grpcTypes.sendUnaryData<Res>) => {
                Promise.resolve()
                    .then(() => f(call.request))
                    .then(
                        (r) => cb(null, r),
                        (e: unknown) =>
                            cb(Object.assign(new Error(errorText(e)), { code: (e as { code?: number }).code ?? grpc.status.UNKNOWN })),
                    );
            };
        const monitor: Partial<ResourceGrpcPb.IResourceMonitorServer> = {
            // resmon (source_eval.go) SupportsFeature: the features this stand-in implements. outputValues is
            // only used for remote components and `call`, which this project has none of.
            supportsFeature: unary((req: ResourcePb.SupportsFeatureRequest) => {
                const yes = ["secrets", "resourceReferences", "deletedWith"].includes(req.getId());
                return new resourcepb.SupportsFeatureResponse().setHassupport(yes);
            }),
            registerResource: unary((req: ResourcePb.RegisterResourceRequest) => this.track(this.onRegisterResource(req))),
            registerResourceOutputs: unary((req: ResourcePb.RegisterResourceOutputsRequest) => {
                this.onRegisterResourceOutputs(req);
                return new emptypb.Empty();
            }),
            readResource: unary(() => {
                throw Object.assign(new Error("engine stand-in: ReadResource (Resource.get) is not supported"), {
                    code: grpc.status.UNIMPLEMENTED,
                });
            }),
            invoke: unary((req: ResourcePb.ResourceInvokeRequest) => {
                const resp = new providerpb.InvokeResponse();
                if (!this.run.mockCall) throw new Error(`engine stand-in: no mockCall for invoke ${req.getTok()}`);
                resp.setReturn(mapToStruct(this.run.mockCall({ token: req.getTok(), inputs: structToMap(req.getArgs()) })));
                return resp;
            }),
            // source_eval.go SignalAndWaitForShutdown: answered once every registration has been handled
            signalAndWaitForShutdown: unary(async () => {
                await this.quiesce();
                return new emptypb.Empty();
            }),
        };
        const engine: Partial<EngineGrpcPb.IEngineServer> = {
            log: unary((req: EnginePb.LogRequest) => {
                const sev = ["debug", "info", "warning", "error"][req.getSeverity()] ?? "info";
                if (sev !== "debug") this.diagnostics.push(`${sev}: ${req.getMessage().replace(/\n$/, "")}`);
                if (sev === "error" && !this.failure) this.programErrors.push(req.getMessage().trim());
                this.run.onEvent?.({ kind: "log", urn: req.getUrn(), message: `${sev}: ${req.getMessage()}` });
                return new emptypb.Empty();
            }),
            getRootResource: unary(() => new enginepb.GetRootResourceResponse().setUrn(this.stackUrn)),
            setRootResource: unary((req: EnginePb.SetRootResourceRequest) => {
                this.stackUrn = req.getUrn();
                return new enginepb.SetRootResourceResponse();
            }),
        };
        server.addService(resourcegrpc.ResourceMonitorService, monitor as ResourceGrpcPb.IResourceMonitorServer);
        server.addService(enginegrpc.EngineService, engine as EngineGrpcPb.IEngineServer);
        const port = await new Promise<number>((resolve, reject) =>
            server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
        );
        this.server = server;
        this.address = `127.0.0.1:${port}`;
    }

    private async unserve(): Promise<void> {
        const s = this.server;
        this.server = undefined;
        if (s) await new Promise<void>((r) => s.tryShutdown(() => r()));
    }

    private track<T>(p: Promise<T>): Promise<T> {
        this.inflight.add(p);
        const done = () => {
            this.inflight.delete(p);
            if (this.inflight.size === 0) for (const w of this.pendingShutdown.splice(0)) w();
        };
        p.then(done, done);
        return p;
    }

    private async quiesce(): Promise<void> {
        while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    }

    // ----- operations ----------------------------------------------------------------------------------------

    /** `pulumi preview` / `pulumi up`. */
    async runProgram(): Promise<RunResult> {
        this.warnPending();
        try {
            await this.serve();
            const program = startProgram({
                project: this.project,
                organization: this.fqStack.split("/")[0],
                stack: this.run.stack,
                dryRun: this.preview,
                parallel: this.run.parallel ?? os.availableParallelism() * 4,
                monitorAddress: this.address,
                engineAddress: this.address,
                config: this.run.config ?? {},
                secretKeys: this.run.secretConfigKeys ?? [],
                env: this.run.env,
                onOutput: (l) => this.diagnostics.push(l),
            });
            this.program = program;
            // deployment_executor.go: on a step failure the executor stops starting steps, waits for those
            // under way, and cancels the program (language host Cancel → SIGINT).
            const exit = await Promise.race([program.done, this.failedAndIdle()]);
            if (!exit) await program.cancel();
            const { code } = await program.done;
            await this.quiesce();
            if (!this.failure && code !== 0) {
                // run.ts: exit 32 = the error was already reported through Engine.Log
                this.fail(
                    new Error(this.programErrors[0] ?? `the program exited with code ${code}: ${this.diagnostics.slice(-20).join("\n")}`),
                );
            }
            // step_generator.go GenerateDeletes + ScheduleDeletes: after the program, delete what it no longer
            // declares and what replacements condemned, in dependency layers (deployment_executor.go: "Deletes are
            // done after the program has completed", commit a3128e50be)
            if (!this.failure) await this.runDeletes(this.deletesAfterProgram());
        } catch (e) {
            this.fail(e);
        } finally {
            await this.program?.cancel();
            await this.stopHost();
            await this.unserve();
        }
        return this.finish();
    }

    /** `pulumi destroy`: everything in the state, dependents first, in parallel layers; the program is not run. */
    async runDestroy(): Promise<RunResult> {
        this.warnPending();
        try {
            await this.serve();
            await this.runDeletes(this.journal.snapshot().resources.map((r) => ({ r, replacing: r.delete })));
        } catch (e) {
            this.fail(e);
        } finally {
            await this.stopHost();
            await this.unserve();
        }
        return this.finish();
    }

    /**
     * `pulumi refresh` (step.go RefreshStep.Apply): every custom resource of a dynamic provider is Read with its
     * old inputs and outputs; an empty id drops it; the rest stay as they are. Pending creates are kept unless
     * `--clear-pending-creates` (dropped) or `--import-pending-creates URN ID` (read with that id and recorded)
     * (pkg/cmd/pulumi/operations/refresh.go filterMapPendingCreates, pendingCreatesToImports).
     */
    async runRefresh(opts: RefreshOptions = {}): Promise<RunResult> {
        try {
            await this.serve();
            const keep: PendingOperation[] = [];
            const imports: ResourceState[] = [];
            const unmatched = new Set(Object.keys(opts.importPendingCreates ?? {}));
            for (const op of this.old.pendingOperations) {
                const id = op.type === "creating" ? opts.importPendingCreates?.[op.resource.urn] : undefined;
                if (id) {
                    unmatched.delete(op.resource.urn);
                    imports.push({ ...op.resource, id });
                    // stays pending until the import has read it
                    keep.push(op);
                } else if (!(op.type === "creating" && opts.clearPendingCreates)) keep.push(op);
            }
            if (unmatched.size) throw new Error(`--import-pending-creates: no pending create for ${[...unmatched].join(", ")}`);
            const pendingCreates = keep.filter((op) => op.type === "creating" && !imports.some((i) => i.urn === op.resource.urn));
            if (pendingCreates.length) {
                this.warnings.push(
                    `refresh kept ${pendingCreates.length} pending create(s): run with --clear-pending-creates or --import-pending-creates URN ID`,
                );
            }
            this.journal.setBasePending(keep);
            const reads = [...this.old.resources, ...imports].map((r) => this.refreshOne(r, imports.includes(r)));
            await Promise.all(reads);
            if (!this.failure) this.journal.setBasePending(keep.filter((op) => !imports.some((i) => i.urn === op.resource.urn)));
            this.journal.flush();
        } catch (e) {
            this.fail(e);
        } finally {
            await this.stopHost();
            await this.unserve();
        }
        return this.finish();
    }

    private async refreshOne(r: ResourceState, imported: boolean): Promise<void> {
        const step: Step = {
            op: "refresh",
            urn: r.urn,
            type: r.type,
            custom: r.custom,
            parent: r.parent || undefined,
            refreshResult: "same",
        };
        if (!r.type.startsWith("pulumi:providers:")) this.steps.push(step);
        if (!r.custom || r.pendingReplacement || !isDynamicType(r.type) || r.external) {
            if (imported) this.journal.record(r);
            return;
        }
        await this.slots.run(async () => {
            try {
                const host = await this.getHost(this.address);
                // step.go ImportStep.Apply: an import (a pending create given an id) is Read with the id alone, no
                // inputs and no state; a refresh sends the old inputs and outputs (RefreshStep.Apply)
                const read = imported
                    ? await host.read(r.urn, r.id, {}, undefined)
                    : await host.read(r.urn, r.id, stripMap(r.outputs), stripMap(r.inputs));
                if (read.id === "") {
                    // provider_plugin.go Read: a missing resource has no properties: it leaves the state
                    step.refreshResult = "delete";
                    if (!imported) this.journal.drop(r);
                    return;
                }
                const outputs = read.properties;
                annotateSecrets(outputs, r.outputs);
                let inputs = r.inputs;
                if (read.inputs && Object.keys(read.inputs).length) {
                    inputs = read.inputs;
                    annotateSecrets(inputs, r.inputs);
                }
                const outDiffs = changedKeys(r.outputs, outputs);
                if (outDiffs.length || imported) {
                    step.refreshResult = "update";
                    step.diffs = outDiffs;
                }
                const fresh = { ...r, id: read.id || r.id, inputs, outputs, initErrors: [] };
                if (imported) this.journal.record(fresh);
                else this.journal.replace(r, fresh);
            } catch (e) {
                step.error = errorText(e);
                this.fail(e);
            }
        });
    }

    private warnPending(): void {
        // engine/update.go: "Attempting to deploy or update resources with N pending operations from previous deployment."
        const ops = this.old.pendingOperations;
        if (!ops.length || this.kind === "refresh") return;
        this.warnings.push(
            `Attempting to deploy or update resources with ${ops.length} pending operations from previous deployment.\n` +
                ops.map((o) => `  * ${o.resource.urn}, interrupted while ${o.type}`).join("\n") +
                "\nThese resources are in an unknown state because the Pulumi CLI was interrupted. Repair the stack with `pulumi refresh` (pending creates: `--clear-pending-creates` or `--import-pending-creates URN ID`).",
        );
    }

    private async failedAndIdle(): Promise<undefined> {
        for (;;) {
            await new Promise((r) => setTimeout(r, 20));
            if (this.failure && this.inflight.size === 0) return undefined;
        }
    }

    private finish(): RunResult {
        const changes: Record<StepOp, number> = { create: 0, update: 0, replace: 0, delete: 0, same: 0, read: 0, refresh: 0 };
        for (const s of this.steps) if (!s.replacing) changes[s.op]++;
        const root = this.preview ? undefined : this.journal.snapshot().resources.find((r) => r.type === ROOT_STACK_TYPE);
        const shown = display(this.stackOutputs ?? root?.outputs ?? {});
        const result: RunResult = {
            steps: this.steps,
            outputs: isObject(shown) ? shown : {},
            rpcCalls: this.rpcCalls,
            diagnostics: this.diagnostics,
            changes,
            warnings: this.warnings,
        };
        const problems = [...(this.failure ? [this.failure.message] : []), ...this.programErrors];
        if (problems.length) throw new EngineRunError(`${this.kind} failed: ${problems[0]}`, result);
        return result;
    }

    // ----- registrations --------------------------------------------------------------------------------------

    private async onRegisterResource(req: ResourcePb.RegisterResourceRequest): Promise<ResourcePb.RegisterResourceResponse> {
        // after a failure the monitor refuses further registrations: the SDK reads UNAVAILABLE as "the monitor is
        // terminating" and stops without a flood of errors (sdk/nodejs/runtime/resource.ts)
        if (this.failure) throw Object.assign(new Error("deployment failed"), { code: grpc.status.UNAVAILABLE });
        const propertyDependencies: Record<string, string[]> = {};
        req.getPropertydependenciesMap().forEach((v: ResourcePb.RegisterResourceRequest.PropertyDependencies, k: string) => {
            propertyDependencies[k] = v.getUrnsList();
        });
        const timeouts = req.getCustomtimeouts();
        const goal: Goal = {
            type: req.getType(),
            name: req.getName(),
            urn: urnFor(this.run.stack, this.project.name, req.getParent(), req.getType(), req.getName()),
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
            version: req.getVersion(),
            timeouts: {
                create: durationSeconds(timeouts?.getCreate()),
                update: durationSeconds(timeouts?.getUpdate()),
                delete: durationSeconds(timeouts?.getDelete()),
            },
        };
        // step_generator.go validateSteps: a URN may be registered once per deployment
        if (this.seen.has(goal.urn)) throw new StepFailure(`Duplicate resource URN '${goal.urn}'; try giving it a unique name`);
        this.seen.add(goal.urn);
        if (goal.type === ROOT_STACK_TYPE) this.stackUrn = goal.urn;
        let r: { id: string; outputs: PropertyMap };
        try {
            r = goal.custom ? await this.customStep(goal) : this.componentStep(goal);
        } catch (e) {
            this.fail(e);
            throw Object.assign(new Error(errorText(e)), { code: grpc.status.UNAVAILABLE });
        }
        const resp = new resourcepb.RegisterResourceResponse();
        resp.setUrn(goal.urn);
        resp.setId(r.id);
        resp.setObject(mapToStruct(r.outputs));
        resp.setResult(resourcepb.Result.SUCCESS);
        return resp;
    }

    private stateOf(goal: Goal, id: string, inputs: PropertyMap, outputs: PropertyMap, extra: Partial<ResourceState> = {}): ResourceState {
        return {
            urn: goal.urn,
            custom: goal.custom,
            delete: false,
            id,
            type: goal.type,
            inputs,
            outputs,
            parent: goal.parent,
            protect: goal.protect,
            external: false,
            dependencies: goal.dependencies,
            initErrors: [],
            provider: "",
            propertyDependencies: goal.propertyDependencies,
            pendingReplacement: false,
            additionalSecretOutputs: goal.additionalSecretOutputs,
            ignoreChanges: goal.ignoreChanges,
            retainOnDelete: goal.retainOnDelete,
            deletedWith: goal.deletedWith,
            ...extra,
        };
    }

    /** Components and the root stack: no provider; their outputs come later with RegisterResourceOutputs. */
    private componentStep(goal: Goal): { id: string; outputs: PropertyMap } {
        const old = this.olds.get(goal.urn);
        const step: Step = {
            op: old ? (deepEquals(old.inputs, goal.inputs) ? "same" : "update") : "create",
            urn: goal.urn,
            type: goal.type,
            custom: false,
            parent: goal.parent || undefined,
            began: this.now(),
            ended: this.now(),
        };
        if (step.op === "update" && old) step.diffs = changedKeys(old.inputs, goal.inputs);
        this.steps.push(step);
        const st = this.stateOf(goal, "", goal.inputs, old?.outputs ?? {});
        this.news.set(goal.urn, st);
        if (!this.preview) this.journal.record(st, old);
        return { id: "", outputs: {} };
    }

    private onRegisterResourceOutputs(req: ResourcePb.RegisterResourceOutputsRequest): void {
        // source_eval.go RegisterResourceOutputs: a component's (or the stack's) registered outputs become its outputs
        const outputs = structToMap(req.getOutputs());
        const urn = req.getUrn();
        if (urn === this.stackUrn || urn.split("::")[2] === ROOT_STACK_TYPE) this.stackOutputs = outputs;
        const st = this.news.get(urn);
        if (st) {
            const updated = { ...st, outputs };
            this.news.set(urn, updated);
            if (!this.preview) this.journal.record(updated);
        }
    }

    /** default_providers.go: one default provider per package (and version), recorded in the state before its
     *  first resource, named `default` or `default_<version>`; resources point at it as `<urn>::<id>`. */
    private defaultProvider(goal: Goal): string {
        const pkg = isDynamicType(goal.type) ? "pulumi-nodejs" : packageOf(goal.type);
        const name = goal.version ? `default_${goal.version.replace(/[.-]/g, "_")}` : "default";
        const urn = `urn:pulumi:${this.run.stack}::${this.project.name}::pulumi:providers:${pkg}::${name}`;
        let p = this.defaultProviders.get(urn);
        if (!p) {
            const old = this.olds.get(urn);
            p = {
                ...this.stateOf(
                    {
                        ...goal,
                        urn,
                        type: `pulumi:providers:${pkg}`,
                        custom: true,
                        parent: "",
                        dependencies: [],
                        propertyDependencies: {},
                        additionalSecretOutputs: [],
                        ignoreChanges: [],
                        retainOnDelete: false,
                        deletedWith: "",
                        protect: false,
                    },
                    old?.id ?? crypto.randomUUID(),
                    goal.version ? { version: goal.version } : {},
                    {},
                ),
            };
            this.defaultProviders.set(urn, p);
            this.seen.add(urn);
            if (!this.preview) this.journal.record(p, old);
        }
        return `${urn}::${p.id}`;
    }

    /** step_generator.go GenerateSteps is called for one event at a time (deployment_executor.go handleSingleEvent):
     *  Check and Diff run serially; the steps then run on the executor's workers. */
    private generate<T>(f: () => Promise<T>): Promise<T> {
        const p = this.generating.then(f);
        this.generating = p.catch(() => undefined);
        return p;
    }

    private async customStep(goal: Goal): Promise<{ id: string; outputs: PropertyMap }> {
        const provider = this.defaultProvider(goal);
        const old = this.olds.get(goal.urn);
        if (!isDynamicType(goal.type)) return this.mockedStep(goal, old, provider);
        const plan = await this.generate(() => this.plan(goal, old));
        return this.apply(goal, plan, provider);
    }

    /** Plugin-backed resources (their plugins cannot run here): a mock decides the outputs; the steps are the engine's. */
    private async mockedStep(goal: Goal, old: ResourceState | undefined, provider: string): Promise<{ id: string; outputs: PropertyMap }> {
        const step: Step = { op: "same", urn: goal.urn, type: goal.type, custom: true, parent: goal.parent || undefined, mocked: true };
        if (old && !old.pendingReplacement && deepEquals(old.inputs, goal.inputs) && old.initErrors.length === 0) {
            step.began = step.ended = this.now();
            this.steps.push(step);
            const st = { ...old, ...this.stateOf(goal, old.id, goal.inputs, old.outputs, { provider }) };
            if (!this.preview) this.journal.same(st, old);
            return { id: old.id, outputs: old.outputs };
        }
        step.op = old ? "update" : "create";
        if (old) step.diffs = changedKeys(old.inputs, goal.inputs);
        this.steps.push(step);
        if (this.preview) return { id: old?.id ?? "", outputs: goal.inputs };
        return this.slots.run(async () => {
            step.began = this.now();
            const op = this.journal.begin(old ? "updating" : "creating", this.stateOf(goal, old?.id ?? "", goal.inputs, {}, { provider }));
            this.run.onEvent?.({ kind: "begin", op: step.op, urn: goal.urn });
            try {
                const m = await this.run.mockResource?.({ type: goal.type, name: goal.name, inputs: stripMap(goal.inputs) });
                const outputs: PropertyMap = m?.outputs ? clone(m.outputs) : clone(goal.inputs);
                annotateSecrets(outputs, goal.inputs);
                this.secretOutputs(outputs, goal.additionalSecretOutputs);
                const id = old?.id ?? m?.id ?? `${goal.name}-id`;
                this.journal.end(op, true, this.stateOf(goal, id, goal.inputs, outputs, { provider }), old);
                return { id, outputs };
            } catch (e) {
                this.journal.end(op, false, undefined);
                step.error = errorText(e);
                throw e;
            } finally {
                step.ended = this.now();
                this.run.onEvent?.({ kind: "end", op: step.op, urn: goal.urn, error: step.error });
            }
        });
    }

    private secretOutputs(outputs: PropertyMap, keys: string[]): void {
        for (const k of keys) if (k in outputs) outputs[k] = makeSecret(outputs[k]);
    }

    /** provider_plugin.go Check (olds/news without secrets), step_generator.go issueCheckErrors. */
    private async check(goal: Goal, olds: PropertyMap, inputs: PropertyMap): Promise<PropertyMap> {
        const host = await this.getHost(this.address);
        const r = await host.check(goal.urn, stripMap(olds), stripMap(inputs));
        if (r.failures.length) {
            const lines = r.failures.map((f) =>
                f.property
                    ? `${goal.type} resource '${goal.name}': property ${f.property} value ${JSON.stringify(display(inputs[f.property]))} has a problem: ${f.reason}`
                    : `${goal.type} resource '${goal.name}' has a problem: ${f.reason}`,
            );
            throw new StepFailure(lines.join("\n"));
        }
        const checked = r.inputs;
        annotateSecrets(checked, inputs);
        return checked;
    }

    private async plan(goal: Goal, old: ResourceState | undefined): Promise<Plan> {
        // step_generator.go generateSteps: Check with the old inputs as olds (none for a new resource or one
        // whose old half is pending replacement)
        const live = old && !old.pendingReplacement ? old : undefined;
        let checked = await this.check(goal, live ? live.inputs : {}, goal.inputs);
        if (!old) return { kind: "create", checked };
        if (!live) return { kind: "replace-pending", checked, old: old };
        // diffResource: the provider's Diff gets old outputs, new inputs and old inputs; DIFF_UNKNOWN → compare inputs
        const host = await this.getHost(this.address);
        // step_generator.go diff: a targeted replace (--replace) asks no Diff: changed, replaced on "id", and
        // delete-before-replace only by the resource option
        const d = this.run.replace?.includes(goal.urn)
            ? { changes: "DIFF_SOME", diffs: [] as string[], replaces: ["id"], deleteBeforeReplace: false }
            : await host.diff(goal.urn, live.id, stripMap(live.outputs), stripMap(checked), stripMap(live.inputs), goal.ignoreChanges);
        const changes = d.changes === "DIFF_UNKNOWN" ? (deepEquals(live.inputs, checked) ? "DIFF_NONE" : "DIFF_SOME") : d.changes;
        if (changes === "DIFF_NONE") {
            // continueStepsFromDiff: "If resource was unchanged, but there were initialization errors, generate an
            // empty update step to attempt to 'continue' awaiting initialization."
            if (live.initErrors.length) return { kind: "update", checked, old: live, diffs: [] };
            return { kind: "same", checked, old: live };
        }
        const diffs = d.diffs.length ? d.diffs : changedKeys(live.inputs, checked);
        if (d.replaces.length === 0) return { kind: "update", checked, old: live, diffs };
        // a replacement: re-Check without olds ("recompute the default values"); delete-before-replace when
        // the resource option or the provider says so
        checked = await this.check(goal, {}, goal.inputs);
        const dbr = goal.deleteBeforeReplace ?? d.deleteBeforeReplace;
        if (!dbr) return { kind: "replace", checked, old: live, diffs, replaces: d.replaces };
        // calculateDependentReplacements: dependents whose inputs come from the replaced resource and whose
        // provider says a change of those inputs means a replacement are deleted first, dependents first
        const dependents = this.preview && !this.old.resources.includes(live) ? [] : await this.dependentReplacements(live);
        return { kind: "replace-dbr", checked, old: live, diffs, replaces: d.replaces, dependents };
    }

    private async dependentReplacements(root: ResourceState): Promise<ResourceState[]> {
        const replaceSet = new Set([root.urn]);
        const out: ResourceState[] = [];
        const start = this.old.resources.indexOf(root);
        // DependingOn: transitive dependents in snapshot order, ignoring those already registered in this run
        for (const d of this.old.resources.slice(start + 1)) {
            if (this.seen.has(d.urn) || d.delete) continue;
            const deps = dependenciesOf(d);
            if (![...deps].some((u) => replaceSet.has(u))) continue;
            if (!d.custom || d.external) continue;
            if (d.deletedWith && replaceSet.has(d.deletedWith)) {
                out.push(d);
                replaceSet.add(d.urn);
                continue;
            }
            let touched = false;
            const inputsForDiff: PropertyMap = {};
            for (const [k, v] of Object.entries(d.inputs)) {
                const hit = (d.propertyDependencies[k] ?? []).some((u) => replaceSet.has(u));
                touched ||= hit;
                inputsForDiff[k] = hit ? UNKNOWN : v;
            }
            if (!touched || !isDynamicType(d.type)) continue;
            const host = await this.getHost(this.address);
            const diff = await host.diff(d.urn, d.id, stripMap(d.outputs), stripMap(inputsForDiff), stripMap(d.inputs), d.ignoreChanges);
            if (diff.replaces.length) {
                out.push(d);
                replaceSet.add(d.urn);
            }
        }
        return out;
    }

    private async apply(goal: Goal, plan: Plan, provider: string): Promise<{ id: string; outputs: PropertyMap }> {
        const step: Step = { op: "same", urn: goal.urn, type: goal.type, custom: true, parent: goal.parent || undefined };
        const extra = { provider };
        if (plan.kind === "same") {
            step.began = step.ended = this.now();
            this.steps.push(step);
            // step.go SameStep.Apply: keep the id and outputs; record the new inputs
            if (!this.preview) this.journal.same(this.stateOf(goal, plan.old.id, plan.checked, plan.old.outputs, extra), plan.old);
            return { id: plan.old.id, outputs: plan.old.outputs };
        }
        if (plan.kind === "update") {
            step.op = "update";
            step.diffs = plan.diffs;
            this.steps.push(step);
            if (this.preview) return { id: plan.old.id, outputs: plan.checked };
            return this.execute(
                step,
                goal,
                "updating",
                plan.old,
                async (host) => {
                    const outputs = await host.update(
                        goal.urn,
                        plan.old.id,
                        stripMap(plan.old.outputs),
                        stripMap(plan.checked),
                        stripMap(plan.old.inputs),
                        goal.timeouts.update,
                        goal.ignoreChanges,
                    );
                    return { id: plan.old.id, outputs };
                },
                plan.checked,
                extra,
                plan.old,
            );
        }
        step.op = plan.kind === "create" ? "create" : "replace";
        if (plan.kind === "replace" || plan.kind === "replace-dbr") {
            step.diffs = plan.diffs;
            step.replaces = plan.replaces;
            step.deleteBeforeReplace = plan.kind === "replace-dbr";
        }
        if (plan.kind === "replace-dbr") {
            // the dependents (dependents first), then the resource itself, are deleted and kept in the state as
            // pendingReplacement until their replacements exist (step.go DeleteStep with pendingReplace)
            for (const d of [...plan.dependents].reverse()) await this.deleteStep(d, true, true);
            if (this.failure) throw this.failure;
            await this.deleteStep(plan.old, true, true);
            if (this.failure) throw this.failure;
        }
        this.steps.push(step);
        if (this.preview) return { id: "", outputs: plan.checked };
        const replaced = plan.kind === "create" ? undefined : plan.old;
        return this.execute(
            step,
            goal,
            "creating",
            undefined,
            async (host) => {
                const r = await host.create(goal.urn, stripMap(plan.checked), goal.timeouts.create);
                if (r.id === "") throw new StepFailure("provider did not return an ID from Create");
                return { id: r.id, outputs: r.properties };
            },
            plan.checked,
            extra,
            replaced,
            plan.kind === "replace",
        );
    }

    /** Run one step on a worker, journalled (begin → end), with ErrorResourceInitFailed recorded as a partial
     *  result (provider_plugin.go parseError → StatusPartialFailure: the resource is recorded with initErrors). */
    private async execute(
        step: Step,
        goal: Goal,
        op: "creating" | "updating",
        live: ResourceState | undefined,
        call: (host: DynamicProviderHost) => Promise<{ id: string; outputs: PropertyMap }>,
        checked: PropertyMap,
        extra: Partial<ResourceState>,
        supersedes: ResourceState | undefined,
        condemnOld = false,
    ): Promise<{ id: string; outputs: PropertyMap }> {
        return this.slots.run(async () => {
            if (this.failure) throw this.failure;
            const host = await this.getHost(this.address);
            step.began = this.now();
            // journal_snapshot.go: the operation is journalled as pending before the provider is called
            const id = this.journal.begin(op, this.stateOf(goal, live?.id ?? "", checked, live?.outputs ?? {}, extra));
            this.run.onEvent?.({ kind: "begin", op: step.op, urn: goal.urn });
            try {
                const r = await call(host);
                annotateSecrets(r.outputs, checked);
                this.secretOutputs(r.outputs, goal.additionalSecretOutputs);
                const st = this.stateOf(goal, r.id, checked, r.outputs, extra);
                // create-before-delete: the old resource is condemned, deleted after the program
                if (condemnOld && supersedes) {
                    this.journal.end(id, true, st);
                    this.journal.mark(supersedes, { delete: true });
                } else this.journal.end(id, true, st, supersedes);
                this.news.set(goal.urn, st);
                return r;
            } catch (e) {
                step.error = errorText(e);
                if (e instanceof ProviderCallError && e.initFailure && e.initFailure.id) {
                    const partial = e.initFailure.properties;
                    annotateSecrets(partial, checked);
                    this.secretOutputs(partial, goal.additionalSecretOutputs);
                    const st = this.stateOf(goal, e.initFailure.id, checked, partial, { ...extra, initErrors: e.initFailure.reasons });
                    if (condemnOld && supersedes) {
                        this.journal.end(id, false, st);
                        this.journal.mark(supersedes, { delete: true });
                    } else
                        this.journal.end(
                            id,
                            false,
                            st,
                            supersedes && !supersedes.pendingReplacement && op === "creating" ? undefined : supersedes,
                        );
                } else this.journal.end(id, false, undefined);
                throw e;
            } finally {
                step.ended = this.now();
                this.run.onEvent?.({ kind: "end", op: step.op, urn: goal.urn, error: step.error });
            }
        });
    }

    /**
     * step.go DeleteStep.Apply: protected resources are refused (unless replacing); retainOnDelete drops the
     * resource without a call; so does deletedWith a resource deleted in the same operation; components and
     * providers have nothing to call. `pendingReplace` keeps it in the state marked pendingReplacement.
     */
    private async deleteStep(
        r: ResourceState,
        replacing: boolean,
        pendingReplace: boolean,
        deleting: Set<string> = new Set(),
    ): Promise<void> {
        const step: Step = { op: "delete", urn: r.urn, type: r.type, custom: r.custom, parent: r.parent || undefined };
        if (replacing) step.replacing = true;
        const isProvider = r.type.startsWith("pulumi:providers:");
        if (r.custom && !isDynamicType(r.type) && !isProvider) step.mocked = true;
        // the CLI does not show default providers' steps (display: default providers are hidden)
        if (!isProvider) this.steps.push(step);
        if (!replacing && r.protect) {
            step.error = `resource "${r.urn}" cannot be deleted because it is protected: \`pulumi state unprotect '${r.urn}'\``;
            this.fail(new StepFailure(step.error));
            return;
        }
        if (this.preview) return;
        await this.slots.run(async () => {
            step.began = this.now();
            const callProvider =
                r.custom &&
                isDynamicType(r.type) &&
                !r.external &&
                !r.pendingReplacement &&
                !r.retainOnDelete &&
                !(r.deletedWith && deleting.has(r.deletedWith));
            if (r.retainOnDelete) step.retained = true;
            const id = this.journal.begin("deleting", r);
            this.run.onEvent?.({ kind: "begin", op: "delete", urn: r.urn });
            try {
                if (callProvider) {
                    const host = await this.getHost(this.address);
                    await host.delete(r.urn, r.id, stripMap(r.outputs), stripMap(r.inputs), 0);
                }
                if (pendingReplace) {
                    this.journal.end(id, true, undefined);
                    this.journal.mark(r, { pendingReplacement: true });
                } else this.journal.end(id, true, undefined, r);
            } catch (e) {
                step.error = errorText(e);
                this.journal.end(id, false, undefined);
                this.fail(e);
            } finally {
                step.ended = this.now();
                this.run.onEvent?.({ kind: "end", op: "delete", urn: r.urn, error: step.error });
            }
        });
    }

    /** step_generator.go GenerateDeletes: condemned resources (replaced, or pending delete in the base snapshot)
     *  and old resources the program did not register. */
    private deletesAfterProgram(): { r: ResourceState; replacing: boolean }[] {
        const snap = this.preview ? this.old : this.journal.snapshot();
        const out: { r: ResourceState; replacing: boolean }[] = [];
        for (const r of snap.resources) {
            if (r.delete) out.push({ r, replacing: true });
            else if (!this.seen.has(r.urn) && this.old.resources.some((o) => o.urn === r.urn)) out.push({ r, replacing: false });
        }
        return out;
    }

    /** step_generator.go ScheduleDeletes: antichains of the dependency graph, dependents first; each layer's
     *  deletes run in parallel, a layer only after the one before it has finished. */
    private async runDeletes(condemned: { r: ResourceState; replacing: boolean }[]): Promise<void> {
        const left = new Set(condemned);
        const byUrn = (urn: string) => [...left].filter((c) => c.r.urn === urn);
        const layers: (typeof condemned)[] = [];
        while (left.size) {
            const layer = [...left].filter((c) => ![...dependenciesOf(c.r)].some((u) => byUrn(u).some((x) => x !== c)));
            if (!layer.length) throw new Error("engine stand-in: dependency cycle among deletes");
            for (const c of layer) left.delete(c);
            layers.push(layer);
        }
        layers.reverse();
        const deleting = new Set(condemned.map((c) => c.r.urn));
        for (const layer of layers) {
            if (this.failure) break;
            await Promise.all(layer.map((c) => this.deleteStep(c.r, c.replacing, false, deleting)));
        }
    }
}

type Plan =
    | { kind: "create"; checked: PropertyMap }
    | { kind: "replace-pending"; checked: PropertyMap; old: ResourceState }
    | { kind: "same"; checked: PropertyMap; old: ResourceState }
    | { kind: "update"; checked: PropertyMap; old: ResourceState; diffs: string[] }
    | { kind: "replace"; checked: PropertyMap; old: ResourceState; diffs: string[]; replaces: string[] }
    | { kind: "replace-dbr"; checked: PropertyMap; old: ResourceState; diffs: string[]; replaces: string[]; dependents: ResourceState[] };

export { urnName };
