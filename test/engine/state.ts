// The stand-in's checkpoint, in the file backend's own format: `.pulumi/stacks/<project>/<stack>.json` holds
// `{"version": 3, "checkpoint": {"stack", "latest": DeploymentV3}}` (sdk/go/common/apitype/core.go
// CheckpointV3, DeploymentV3, ResourceV3, OperationV2), so `pulumi stack import` of a real CLI reads it.
// Secrets are sealed the way the passphrase secrets manager seals them (pkg/secrets/passphrase/manager.go,
// sdk/go/common/resource/config/crypt.go symmetricCrypter): key = PBKDF2-SHA256(passphrase, 8-byte salt,
// 1,000,000 rounds), AES-256-GCM, `v1:<nonce>:<ciphertext+tag>`; the manager's state is
// `v1:<salt>:<"pulumi" sealed>`, which proves the passphrase on load. In state a secret is
// `{"4dabf1…": "1b4706…", "ciphertext": "v1:…"}` (sdk/go/common/resource/stack/deployment.go
// SerializePropertyValue): never plaintext.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";
import { SECRET_SIG, SIG_KEY, isObject, isSecret } from "./props";

/** apitype.ResourceV3, with the fields this stand-in uses (names as in the JSON). */
export const ResourceStateSchema = z.object({
    urn: z.string(),
    custom: z.boolean(),
    delete: z.boolean().optional(),
    id: z.string().optional(),
    type: z.string(),
    inputs: z.record(z.string(), z.unknown()).optional(),
    outputs: z.record(z.string(), z.unknown()).optional(),
    parent: z.string().optional(),
    protect: z.boolean().optional(),
    external: z.boolean().optional(),
    dependencies: z.array(z.string()).optional(),
    initErrors: z.array(z.string()).optional(),
    provider: z.string().optional(),
    propertyDependencies: z.record(z.string(), z.array(z.string())).optional(),
    pendingReplacement: z.boolean().optional(),
    additionalSecretOutputs: z.array(z.string()).optional(),
    ignoreChanges: z.array(z.string()).optional(),
    retainOnDelete: z.boolean().optional(),
    deletedWith: z.string().optional(),
    created: z.string().optional(),
    modified: z.string().optional(),
});
type ResourceV3 = z.infer<typeof ResourceStateSchema>;

/** A resource as the stand-in works with it: every optional field of ResourceV3 filled in. */
export interface ResourceState {
    urn: string;
    custom: boolean;
    delete: boolean;
    id: string;
    type: string;
    inputs: Record<string, unknown>;
    outputs: Record<string, unknown>;
    parent: string;
    protect: boolean;
    external: boolean;
    dependencies: string[];
    initErrors: string[];
    provider: string;
    propertyDependencies: Record<string, string[]>;
    pendingReplacement: boolean;
    additionalSecretOutputs: string[];
    ignoreChanges: string[];
    retainOnDelete: boolean;
    deletedWith: string;
    created?: string;
    modified?: string;
}

/** apitype.OperationV2: an operation begun and not known to have finished (`creating`, `updating`, `deleting`, ...). */
export interface PendingOperation {
    resource: ResourceState;
    type: "creating" | "updating" | "deleting" | "reading" | "importing";
}

const OperationSchema = z.object({
    resource: ResourceStateSchema,
    type: z.enum(["creating", "updating", "deleting", "reading", "importing"]),
});

const CheckpointSchema = z.object({
    version: z.literal(3),
    checkpoint: z.object({
        stack: z.string(),
        latest: z
            .object({
                manifest: z.object({ time: z.string(), magic: z.string(), version: z.string() }),
                secrets_providers: z.object({ type: z.literal("passphrase"), state: z.object({ salt: z.string() }) }).optional(),
                resources: z.array(ResourceStateSchema).optional(),
                pending_operations: z.array(OperationSchema).optional(),
            })
            .optional(),
    }),
});

export interface StackState {
    /** fully qualified `organization/project/stack` (apitype CheckpointV3.Stack) */
    stack: string;
    /** the passphrase secrets manager's state (`v1:<salt>:<check>`) */
    salt: string;
    /** in dependency order: every resource after the resources it depends on */
    resources: ResourceState[];
    pendingOperations: PendingOperation[];
}

export function fillResource(r: ResourceV3): ResourceState {
    return {
        urn: r.urn,
        custom: r.custom,
        delete: r.delete ?? false,
        id: r.id ?? "",
        type: r.type,
        inputs: r.inputs ?? {},
        outputs: r.outputs ?? {},
        parent: r.parent ?? "",
        protect: r.protect ?? false,
        external: r.external ?? false,
        dependencies: r.dependencies ?? [],
        initErrors: r.initErrors ?? [],
        provider: r.provider ?? "",
        propertyDependencies: r.propertyDependencies ?? {},
        pendingReplacement: r.pendingReplacement ?? false,
        additionalSecretOutputs: r.additionalSecretOutputs ?? [],
        ignoreChanges: r.ignoreChanges ?? [],
        retainOnDelete: r.retainOnDelete ?? false,
        deletedWith: r.deletedWith ?? "",
        created: r.created,
        modified: r.modified,
    };
}

/** stack.SerializeResource: empty fields are left out (`omitempty`), as the CLI writes them. */
function compactResource(r: ResourceState): ResourceV3 {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r)) {
        if (v === undefined || v === "" || v === false) continue;
        if (Array.isArray(v) && v.length === 0) continue;
        if (isObject(v) && Object.keys(v).length === 0 && k !== "inputs" && k !== "outputs") continue;
        out[k] = v;
    }
    out.custom = r.custom;
    return out as ResourceV3;
}

// ----- the passphrase crypter ---------------------------------------------------------------------------------

const keyCache = new Map<string, Buffer>();
function deriveKey(passphrase: string, salt: Buffer): Buffer {
    const cacheKey = `${salt.toString("base64")}\u0000${passphrase}`;
    let key = keyCache.get(cacheKey);
    if (!key) {
        key = crypto.pbkdf2Sync(passphrase, salt, 1_000_000, 32, "sha256");
        keyCache.set(cacheKey, key);
    }
    return key;
}

function seal(key: Buffer, plaintext: string): string {
    const nonce = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv("aes-256-gcm", key, nonce);
    const sealed = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
    return `v1:${nonce.toString("base64")}:${sealed.toString("base64")}`;
}

function open(key: Buffer, ciphertext: string): string {
    const [v, nonceB64, sealedB64] = ciphertext.split(":");
    if (v !== "v1" || !nonceB64 || !sealedB64) throw new Error("state: malformed secret ciphertext");
    const sealed = Buffer.from(sealedB64, "base64");
    const decipher = crypto.createDecipheriv("aes-256-gcm", key, Buffer.from(nonceB64, "base64"));
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]).toString("utf8");
}

/** The key for a manager state `v1:<salt>:<check>`; a wrong passphrase fails here, like the CLI's
 *  "incorrect passphrase". */
function keyFor(salt: string, passphrase: string): Buffer {
    const [v, saltB64, ...check] = salt.split(":");
    if (v !== "v1" || !saltB64) throw new Error("state: malformed passphrase secrets manager state");
    const key = deriveKey(passphrase, Buffer.from(saltB64, "base64"));
    try {
        if (open(key, check.join(":")) !== "pulumi") throw new Error();
    } catch {
        throw new Error("state: incorrect passphrase (PULUMI_CONFIG_PASSPHRASE)");
    }
    return key;
}

export function newSalt(passphrase: string): string {
    const salt = crypto.randomBytes(8);
    return `v1:${salt.toString("base64")}:${seal(deriveKey(passphrase, salt), "pulumi")}`;
}

function mapSecrets(v: unknown, f: (secret: Record<string, unknown>) => unknown): unknown {
    if (isObject(v) && v[SIG_KEY] === SECRET_SIG) return f(v);
    if (Array.isArray(v)) return v.map((x) => mapSecrets(x, f));
    if (isObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapSecrets(x, f)]));
    return v;
}

function passphraseOf(passphrase?: string): string {
    return passphrase ?? process.env.PULUMI_CONFIG_PASSPHRASE ?? "";
}

// ----- files ---------------------------------------------------------------------------------------------------

/** Where the file backend keeps a stack: `<backend>/.pulumi/stacks/<project>/<stack>.json` (pkg/backend/diy). */
export function checkpointPath(backendDir: string, project: string, stack: string): string {
    return path.join(backendDir, ".pulumi", "stacks", project, `${stack}.json`);
}

export function emptyState(fqStack: string, passphrase?: string): StackState {
    return { stack: fqStack, salt: newSalt(passphraseOf(passphrase)), resources: [], pendingOperations: [] };
}

/** Read and validate a checkpoint; secrets come back in wire form `{sig, value}` (decrypted). */
export function readState(file: string, passphrase?: string): StackState {
    const parsed = CheckpointSchema.parse(JSON.parse(fs.readFileSync(file, "utf8")));
    const latest = parsed.checkpoint.latest;
    const salt = latest?.secrets_providers?.state.salt ?? newSalt(passphraseOf(passphrase));
    let key: Buffer | undefined;
    const unseal = (v: unknown) =>
        mapSecrets(v, (s) => {
            const ct = s["ciphertext"];
            if (typeof ct !== "string") throw new Error("state: secret without ciphertext");
            key ??= keyFor(salt, passphraseOf(passphrase));
            return { [SIG_KEY]: SECRET_SIG, value: JSON.parse(open(key, ct)) as unknown };
        });
    const load = (r: ResourceV3): ResourceState => {
        const f = fillResource(r);
        return { ...f, inputs: unseal(f.inputs) as Record<string, unknown>, outputs: unseal(f.outputs) as Record<string, unknown> };
    };
    return {
        stack: parsed.checkpoint.stack,
        salt,
        resources: (latest?.resources ?? []).map(load),
        pendingOperations: (latest?.pending_operations ?? []).map((op) => ({ type: op.type, resource: load(op.resource) })),
    };
}

export function loadStateOrEmpty(file: string, fqStack: string, passphrase?: string): StackState {
    return fs.existsSync(file) ? readState(file, passphrase) : emptyState(fqStack, passphrase);
}

/**
 * Write a checkpoint atomically (temp file, fsync, rename: the file backend's persister writes whole snapshots
 * the same way); every secret is sealed, so no plaintext secret reaches the disk.
 */
export function writeState(file: string, state: StackState, passphrase?: string): void {
    const key = keyFor(state.salt, passphraseOf(passphrase));
    const sealSecrets = (v: unknown) =>
        mapSecrets(v, (s) => ({ [SIG_KEY]: SECRET_SIG, ciphertext: seal(key, JSON.stringify(isSecret(s) ? s.value : null) ?? "null") }));
    const save = (r: ResourceState): ResourceV3 =>
        compactResource({
            ...r,
            inputs: sealSecrets(r.inputs) as Record<string, unknown>,
            outputs: sealSecrets(r.outputs) as Record<string, unknown>,
        });
    const checkpoint = {
        version: 3,
        checkpoint: {
            stack: state.stack,
            latest: {
                manifest: { time: new Date().toISOString(), magic: "", version: "engine-stand-in" },
                secrets_providers: { type: "passphrase", state: { salt: state.salt } },
                resources: state.resources.map(save),
                ...(state.pendingOperations.length
                    ? { pending_operations: state.pendingOperations.map((op) => ({ resource: save(op.resource), type: op.type })) }
                    : {}),
            },
        },
    };
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    const fd = fs.openSync(tmp, "w", 0o600);
    try {
        fs.writeSync(fd, JSON.stringify(checkpoint, null, 4) + "\n");
        fs.fsyncSync(fd);
    } finally {
        fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
}
