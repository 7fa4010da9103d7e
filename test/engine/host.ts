// The engine's side of the resource-provider gRPC protocol, pointed at the real dynamic-provider host that
// ships inside @pulumi/pulumi (`pulumi-resource-pulumi-nodejs` → sdk/nodejs/cmd/dynamic-provider/index.ts).
// Process launch, environment and call shapes follow pkg/resource/plugin/provider_plugin.go (NewProvider,
// Configure, Check, Diff, Create, Read, Update, Delete) and sdk/go/common/resource/plugin/plugin.go (newPlugin:
// the first stdout line is the port; later output is the plugin's diagnostics).
import { spawn, type ChildProcess } from "child_process";
import * as crypto from "crypto";
import * as path from "path";
import type * as grpcTypes from "@grpc/grpc-js";
import type * as ProviderPb from "@pulumi/pulumi/proto/provider_pb";
import type * as ProviderGrpcPb from "@pulumi/pulumi/proto/provider_grpc_pb";
import type * as PluginPb from "@pulumi/pulumi/proto/plugin_pb";
import type * as StatusPb from "@pulumi/pulumi/proto/status_pb";
import type * as StructPb from "google-protobuf/google/protobuf/struct_pb";
import type * as EmptyPb from "google-protobuf/google/protobuf/empty_pb";
import { isObject, type PropertyMap } from "./props";

// Load google-protobuf and @grpc/grpc-js from @pulumi/pulumi's own resolution root: its generated stubs are built
// against that copy, and a Struct from another copy breaks serialization (reference REPORT, pitfalls).
const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
export function fromPulumi<T>(m: string): T {
    return require(require.resolve(m, { paths: [pulumiDir] })) as T;
}
const grpc = fromPulumi<typeof grpcTypes>("@grpc/grpc-js");
const structpb = fromPulumi<typeof StructPb>("google-protobuf/google/protobuf/struct_pb");
const emptypb = fromPulumi<typeof EmptyPb>("google-protobuf/google/protobuf/empty_pb");
const provpb = fromPulumi<typeof ProviderPb>("@pulumi/pulumi/proto/provider_pb");
const provgrpc = fromPulumi<typeof ProviderGrpcPb>("@pulumi/pulumi/proto/provider_grpc_pb");
const statuspb = fromPulumi<typeof StatusPb>("@pulumi/pulumi/proto/status_pb");

export interface RpcCall {
    method: string;
    urn: string;
}

export type DiffChanges = "DIFF_UNKNOWN" | "DIFF_NONE" | "DIFF_SOME";

/** A failed provider call. `initFailure` is set when the host packed pulumirpc.ErrorResourceInitFailed into
 *  `grpc-status-details-bin` (host grpcResponseFromError), which the engine reads as StatusPartialFailure
 *  (provider_plugin.go parseError). */
export class ProviderCallError extends Error {
    constructor(
        message: string,
        public readonly code: number,
        public readonly initFailure?: { id: string; properties: PropertyMap; reasons: string[] },
    ) {
        super(message);
        this.name = "ProviderCallError";
    }
}

export interface HostOptions {
    /** the program directory: the engine starts plugins with cwd = ctx.Pwd */
    cwd: string;
    project: string;
    /** PULUMI_CONFIG as the engine exports it to this plugin (target.go GetPackageConfig: all keys, namespaced) */
    configJson: string;
    /** the engine's gRPC address: the plugin's only argument (provider_plugin.go NewProvider) */
    engineAddress?: string;
    env?: NodeJS.ProcessEnv;
    onCall: (c: RpcCall) => void;
    onDiagnostic: (line: string) => void;
}

function toStruct(m: PropertyMap): StructPb.Struct {
    return structpb.Struct.fromJavaScript(m as Record<string, StructPb.JavaScriptValue>);
}

function fromStruct(s: StructPb.Struct | undefined): PropertyMap | undefined {
    if (!s) return undefined;
    const v: unknown = s.toJavaScript();
    return isObject(v) ? v : {};
}

function isServiceError(e: unknown): e is grpcTypes.ServiceError {
    return e instanceof Error && typeof (e as Partial<grpcTypes.ServiceError>).code === "number";
}

/** provider_plugin.go parseError: decode ErrorResourceInitFailed from the status details, if any. */
function toCallError(method: string, e: unknown): ProviderCallError {
    if (!isServiceError(e)) return new ProviderCallError(`${method}: ${String(e)}`, grpc.status.UNKNOWN);
    const message = e.details || e.message;
    for (const raw of e.metadata?.get("grpc-status-details-bin") ?? []) {
        const buf = typeof raw === "string" ? Buffer.from(raw, "base64") : raw;
        const st = statuspb.Status.deserializeBinary(new Uint8Array(buf));
        for (const any of st.getDetailsList()) {
            if (any.getTypeName() !== "pulumirpc.ErrorResourceInitFailed") continue;
            const detail = provpb.ErrorResourceInitFailed.deserializeBinary(any.getValue_asU8());
            return new ProviderCallError(message, e.code, {
                id: detail.getId(),
                properties: fromStruct(detail.getProperties()) ?? {},
                reasons: detail.getReasonsList(),
            });
        }
    }
    return new ProviderCallError(message, e.code);
}

export class DynamicProviderHost {
    private child?: ChildProcess;
    private client?: ProviderGrpcPb.ResourceProviderClient;
    private exited = false;
    private stdoutRest = "";
    private stderrRest = "";
    public acceptSecrets = true;
    public supportsPreview = true;
    public acceptResources = true;

    private constructor(private readonly opts: HostOptions) {}

    /** Start the plugin and do what the engine does before the first resource call: Handshake (UNIMPLEMENTED →
     *  fall back, provider_plugin.go handshake), GetPluginInfo (host.go), Configure (provider_plugin.go Configure). */
    static async start(
        opts: HostOptions,
        configInputs: PropertyMap,
        configVariables: Record<string, string>,
    ): Promise<DynamicProviderHost> {
        const h = new DynamicProviderHost(opts);
        try {
            await h.spawn();
            await h.handshake();
            await h.getPluginInfo();
            await h.configure(configInputs, configVariables);
        } catch (e) {
            await h.stop();
            throw e;
        }
        return h;
    }

    get pid(): number | undefined {
        return this.child?.pid;
    }

    private async spawn(): Promise<void> {
        // The shipped launcher `pulumi-resource-pulumi-nodejs` is `node $(node -e "require.resolve('@pulumi/pulumi/
        // cmd/dynamic-provider')")` run from the program directory; do the same resolution here and start node
        // directly (one node start-up less: the host takes seconds to load on a busy machine).
        let entry: string;
        try {
            entry = require.resolve("@pulumi/pulumi/cmd/dynamic-provider", { paths: [this.opts.cwd] });
        } catch {
            throw new Error(
                `@pulumi/pulumi is not resolvable from the program directory ${this.opts.cwd} (the engine's launcher would fail the same way)`,
            );
        }
        // provider_plugin.go NewProvider: os.Environ() + PULUMI_RUNTIME_* + PULUMI_NODEJS_PROJECT (pulumi-nodejs only)
        // + PULUMI_PROJECT + PULUMI_CONFIG; argv = [engine address]; cwd = ctx.Pwd (the program directory).
        const env: NodeJS.ProcessEnv = {
            ...process.env,
            ...this.opts.env,
            PULUMI_NODEJS_PROJECT: this.opts.project,
            PULUMI_PROJECT: this.opts.project,
            PULUMI_CONFIG: this.opts.configJson,
        };
        // Own process group, signalled as a whole on stop, so nothing the host starts outlives the operation.
        const child = spawn(process.execPath, [entry, this.opts.engineAddress ?? "127.0.0.1:1"], {
            cwd: this.opts.cwd,
            env,
            stdio: ["ignore", "pipe", "pipe"],
            detached: true,
        });
        this.child = child;
        // "close" (not "exit"): every stdio pipe is closed, so all provider output has been read
        child.on("close", () => (this.exited = true));
        child.stderr?.on("data", (d: Buffer) => (this.stderrRest = this.emitLines(this.stderrRest + d.toString())));
        const port = await new Promise<number>((resolve, reject) => {
            let buf = "";
            const timer = setTimeout(
                () => reject(new Error(`dynamic-provider host printed no port in 30s (stderr: ${this.stderrRest})`)),
                30000,
            );
            const onData = (d: Buffer) => {
                buf += d.toString();
                const nl = buf.indexOf("\n");
                if (nl < 0) return;
                const first = buf.slice(0, nl).trim();
                child.stdout?.off("data", onData);
                child.stdout?.on("data", (more: Buffer) => (this.stdoutRest = this.emitLines(this.stdoutRest + more.toString())));
                this.stdoutRest = this.emitLines(buf.slice(nl + 1));
                clearTimeout(timer);
                if (/^\d+$/.test(first)) resolve(Number(first));
                else reject(new Error(`dynamic-provider host printed "${first}" instead of a port`));
            };
            child.stdout?.on("data", onData);
            child.once("exit", (code) => {
                clearTimeout(timer);
                reject(
                    new Error(
                        `dynamic-provider host exited (${code}) before printing its port; is @pulumi/pulumi resolvable from ${this.opts.cwd}? stderr: ${this.stderrRest}`,
                    ),
                );
            });
        });
        this.client = new provgrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    }

    private emitLines(text: string): string {
        const parts = text.split("\n");
        const rest = parts.pop() ?? "";
        for (const line of parts) if (line.trim() !== "") this.opts.onDiagnostic(line.replace(/\r$/, ""));
        return rest;
    }

    private unary<Req, Res>(
        method: string,
        urn: string,
        call: (c: ProviderGrpcPb.ResourceProviderClient, req: Req, cb: (e: grpcTypes.ServiceError | null, r: Res) => void) => void,
        req: Req,
    ): Promise<Res> {
        const client = this.client;
        if (!client) return Promise.reject(new Error("provider host not started"));
        this.opts.onCall({ method, urn });
        return new Promise<Res>((resolve, reject) => call(client, req, (e, r) => (e ? reject(toCallError(method, e)) : resolve(r))));
    }

    private async handshake(): Promise<void> {
        const req = new provpb.ProviderHandshakeRequest();
        req.setEngineAddress(this.opts.engineAddress ?? "127.0.0.1:1");
        req.setRootDirectory(this.opts.cwd);
        req.setProgramDirectory(this.opts.cwd);
        req.setConfigureWithUrn(true);
        try {
            await this.unary<ProviderPb.ProviderHandshakeRequest, ProviderPb.ProviderHandshakeResponse>(
                "Handshake",
                "",
                (c, r: ProviderPb.ProviderHandshakeRequest, cb) => c.handshake(r, cb),
                req,
            );
        } catch (e) {
            if (!(e instanceof ProviderCallError) || e.code !== grpc.status.UNIMPLEMENTED) throw e;
        }
    }

    async getPluginInfo(): Promise<string> {
        const r = await this.unary(
            "GetPluginInfo",
            "",
            (c, req: EmptyPb.Empty, cb: (e: grpcTypes.ServiceError | null, r: PluginPb.PluginInfo) => void) => c.getPluginInfo(req, cb),
            new emptypb.Empty(),
        );
        return r.getVersion();
    }

    /** provider_plugin.go Configure: `variables` = "<pkg>:config:<key>" → plaintext, `args` = the inputs with
     *  secrets kept (the host unwraps them), acceptSecrets/acceptResources/sendsOldInputs(ToDelete) = true. */
    private async configure(inputs: PropertyMap, variables: Record<string, string>): Promise<void> {
        const req = new provpb.ConfigureRequest();
        const vars = req.getVariablesMap();
        for (const [k, v] of Object.entries(variables)) vars.set(k, v);
        req.setArgs(toStruct(inputs));
        req.setAcceptsecrets(true);
        req.setAcceptresources(true);
        req.setSendsOldInputs(true);
        req.setSendsOldInputsToDelete(true);
        const r = await this.unary<ProviderPb.ConfigureRequest, ProviderPb.ConfigureResponse>(
            "Configure",
            "",
            (c, q: ProviderPb.ConfigureRequest, cb) => c.configure(q, cb),
            req,
        );
        this.acceptSecrets = r.getAcceptsecrets();
        this.acceptResources = r.getAcceptresources();
        this.supportsPreview = r.getSupportspreview();
    }

    async check(
        urn: string,
        olds: PropertyMap,
        news: PropertyMap,
    ): Promise<{ inputs: PropertyMap; failures: { property: string; reason: string }[] }> {
        const req = new provpb.CheckRequest();
        req.setUrn(urn);
        req.setName(urnName(urn));
        req.setType(urnType(urn));
        req.setOlds(toStruct(olds));
        req.setNews(toStruct(news));
        req.setRandomseed(crypto.randomBytes(32));
        const r = await this.unary<ProviderPb.CheckRequest, ProviderPb.CheckResponse>(
            "Check",
            urn,
            (c, q: ProviderPb.CheckRequest, cb) => c.check(q, cb),
            req,
        );
        return {
            inputs: fromStruct(r.getInputs()) ?? {},
            failures: r.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })),
        };
    }

    async diff(
        urn: string,
        id: string,
        oldOutputs: PropertyMap,
        newInputs: PropertyMap,
        oldInputs: PropertyMap,
        ignoreChanges: string[],
    ): Promise<{ changes: DiffChanges; replaces: string[]; diffs: string[]; deleteBeforeReplace: boolean }> {
        const req = new provpb.DiffRequest();
        req.setUrn(urn);
        req.setName(urnName(urn));
        req.setType(urnType(urn));
        req.setId(id);
        req.setOlds(toStruct(oldOutputs));
        req.setNews(toStruct(newInputs));
        req.setOldInputs(toStruct(oldInputs));
        req.setIgnorechangesList(ignoreChanges);
        const r = await this.unary<ProviderPb.DiffRequest, ProviderPb.DiffResponse>(
            "Diff",
            urn,
            (c, q: ProviderPb.DiffRequest, cb) => c.diff(q, cb),
            req,
        );
        const C = provpb.DiffResponse.DiffChanges;
        const changes: DiffChanges =
            r.getChanges() === C.DIFF_SOME ? "DIFF_SOME" : r.getChanges() === C.DIFF_NONE ? "DIFF_NONE" : "DIFF_UNKNOWN";
        return { changes, replaces: r.getReplacesList(), diffs: r.getDiffsList(), deleteBeforeReplace: r.getDeletebeforereplace() };
    }

    async create(urn: string, properties: PropertyMap, timeoutSeconds: number): Promise<{ id: string; properties: PropertyMap }> {
        const req = new provpb.CreateRequest();
        req.setUrn(urn);
        req.setName(urnName(urn));
        req.setType(urnType(urn));
        req.setProperties(toStruct(properties));
        req.setTimeout(timeoutSeconds);
        req.setPreview(false);
        const r = await this.unary<ProviderPb.CreateRequest, ProviderPb.CreateResponse>(
            "Create",
            urn,
            (c, q: ProviderPb.CreateRequest, cb) => c.create(q, cb),
            req,
        );
        return { id: r.getId(), properties: fromStruct(r.getProperties()) ?? {} };
    }

    async read(
        urn: string,
        id: string,
        state: PropertyMap,
        inputs: PropertyMap | undefined,
    ): Promise<{ id: string; properties: PropertyMap; inputs?: PropertyMap }> {
        const req = new provpb.ReadRequest();
        req.setUrn(urn);
        req.setName(urnName(urn));
        req.setType(urnType(urn));
        req.setId(id);
        req.setProperties(toStruct(state));
        if (inputs) req.setInputs(toStruct(inputs));
        const r = await this.unary<ProviderPb.ReadRequest, ProviderPb.ReadResponse>(
            "Read",
            urn,
            (c, q: ProviderPb.ReadRequest, cb) => c.read(q, cb),
            req,
        );
        return { id: r.getId(), properties: fromStruct(r.getProperties()) ?? {}, inputs: fromStruct(r.getInputs()) };
    }

    async update(
        urn: string,
        id: string,
        oldOutputs: PropertyMap,
        newInputs: PropertyMap,
        oldInputs: PropertyMap,
        timeoutSeconds: number,
        ignoreChanges: string[],
    ): Promise<PropertyMap> {
        const req = new provpb.UpdateRequest();
        req.setUrn(urn);
        req.setName(urnName(urn));
        req.setType(urnType(urn));
        req.setId(id);
        req.setOlds(toStruct(oldOutputs));
        req.setNews(toStruct(newInputs));
        req.setOldInputs(toStruct(oldInputs));
        req.setTimeout(timeoutSeconds);
        req.setIgnorechangesList(ignoreChanges);
        req.setPreview(false);
        const r = await this.unary<ProviderPb.UpdateRequest, ProviderPb.UpdateResponse>(
            "Update",
            urn,
            (c, q: ProviderPb.UpdateRequest, cb) => c.update(q, cb),
            req,
        );
        return fromStruct(r.getProperties()) ?? {};
    }

    async delete(urn: string, id: string, outputs: PropertyMap, oldInputs: PropertyMap, timeoutSeconds: number): Promise<void> {
        const req = new provpb.DeleteRequest();
        req.setUrn(urn);
        req.setName(urnName(urn));
        req.setType(urnType(urn));
        req.setId(id);
        req.setProperties(toStruct(outputs));
        req.setOldInputs(toStruct(oldInputs));
        req.setTimeout(timeoutSeconds);
        await this.unary<ProviderPb.DeleteRequest, EmptyPb.Empty>(
            "Delete",
            urn,
            (c, q: ProviderPb.DeleteRequest, cb) => c.delete(q, cb),
            req,
        );
    }

    /** Close the channel and end the plugin's process group (SIGTERM, then SIGKILL after 3 s); resolves once the
     *  launcher has exited and no member of the group is left. */
    async stop(): Promise<void> {
        this.client?.close();
        this.client = undefined;
        const child = this.child;
        if (!child || child.pid === undefined) return;
        const pgid = child.pid;
        const groupAlive = () => {
            try {
                process.kill(-pgid, 0);
                return true;
            } catch {
                return false;
            }
        };
        try {
            process.kill(-pgid, "SIGTERM");
        } catch {
            /* already gone */
        }
        const deadline = Date.now() + 3000;
        while ((groupAlive() || !this.exited) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
        if (groupAlive()) {
            try {
                process.kill(-pgid, "SIGKILL");
            } catch {
                /* gone */
            }
            while (groupAlive() && Date.now() < deadline + 2000) await new Promise((r) => setTimeout(r, 25));
        }
        // flush partial lines
        if (this.stdoutRest.trim()) this.opts.onDiagnostic(this.stdoutRest);
        if (this.stderrRest.trim()) this.opts.onDiagnostic(this.stderrRest);
        this.stdoutRest = this.stderrRest = "";
        child.stdout?.destroy();
        child.stderr?.destroy();
    }
}

/** `urn:pulumi:<stack>::<project>::<qualified type>::<name>` */
export function urnName(urn: string): string {
    return urn.split("::").slice(3).join("::");
}
export function urnType(urn: string): string {
    const qualified = urn.split("::")[2] ?? "";
    return qualified.split("$").pop() ?? "";
}
