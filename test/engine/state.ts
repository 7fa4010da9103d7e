// The stand-in's checkpoint: one JSON file per stack, like a file backend's `.pulumi/stacks/<stack>.json`
// (sdk/go/common/apitype/core.go DeploymentV3 / ResourceV3, trimmed to what the stand-in uses).
// Secret values are stored like the engine stores them (sdk/go/common/resource/stack/deployment.go
// SerializePropertyValue): `{"4dabf1…": "1b4706…", "ciphertext": "v1:<nonce>:<sealed>"}` — never plaintext.
// The crypter is AES-256-GCM with a key derived from PULUMI_CONFIG_PASSPHRASE (default "") and a per-state
// salt, in the same "v1:nonce:ciphertext" shape as the passphrase secrets manager
// (pkg/secrets/passphrase, sdk/go/common/resource/config/crypt.go symmetricCrypter); the key derivation differs.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";
import { SECRET_SIG, SIG_KEY, isObject, isSecret } from "./props";

export const ResourceStateSchema = z.object({
    urn: z.string(),
    type: z.string(),
    custom: z.boolean(),
    id: z.string(),
    inputs: z.record(z.string(), z.unknown()),
    outputs: z.record(z.string(), z.unknown()),
    parent: z.string(),
    dependencies: z.array(z.string()),
    propertyDependencies: z.record(z.string(), z.array(z.string())),
    protect: z.boolean(),
    retainOnDelete: z.boolean(),
    deletedWith: z.string(),
    additionalSecretOutputs: z.array(z.string()),
    ignoreChanges: z.array(z.string()),
    /** true for a resource condemned by a create-before-delete replacement whose Delete has not run yet */
    delete: z.boolean(),
    /** true when a delete-before-replace deleted the old resource but the replacement was not created yet */
    pendingReplacement: z.boolean(),
    /** reasons of a partial failure (ErrorResourceInitFailed) */
    initErrors: z.array(z.string()),
    /** plugin-backed resource whose outputs came from StackRun.mockResource */
    mocked: z.boolean(),
    /** read with Resource.get: not managed, never deleted (step.go ReadStep) */
    external: z.boolean(),
});
export type ResourceState = z.infer<typeof ResourceStateSchema>;

export const StackStateSchema = z.object({
    version: z.literal(1),
    project: z.string(),
    stack: z.string(),
    secretsProvider: z.object({ type: z.literal("passphrase"), salt: z.string() }),
    /** in dependency order: every resource after the resources it depends on (like a checkpoint) */
    resources: z.array(ResourceStateSchema),
});
export type StackState = z.infer<typeof StackStateSchema>;

const keyCache = new Map<string, Buffer>();
function deriveKey(passphrase: string, salt: string): Buffer {
    const cacheKey = `${salt}\u0000${passphrase}`;
    let key = keyCache.get(cacheKey);
    if (!key) {
        key = crypto.scryptSync(passphrase, Buffer.from(salt, "base64"), 32);
        keyCache.set(cacheKey, key);
    }
    return key;
}

function encrypt(key: Buffer, plaintext: string): string {
    const nonce = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv("aes-256-gcm", key, nonce);
    const sealed = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
    return `v1:${nonce.toString("base64")}:${sealed.toString("base64")}`;
}

function decrypt(key: Buffer, ciphertext: string): string {
    const [v, nonceB64, sealedB64] = ciphertext.split(":");
    if (v !== "v1" || !nonceB64 || !sealedB64) throw new Error("state: malformed secret ciphertext");
    const sealed = Buffer.from(sealedB64, "base64");
    const decipher = crypto.createDecipheriv("aes-256-gcm", key, Buffer.from(nonceB64, "base64"));
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    try {
        return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]).toString("utf8");
    } catch {
        throw new Error("state: cannot decrypt a secret (wrong PULUMI_CONFIG_PASSPHRASE?)");
    }
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

export function emptyState(project: string, stack: string): StackState {
    return { version: 1, project, stack, secretsProvider: { type: "passphrase", salt: crypto.randomBytes(16).toString("base64") }, resources: [] };
}

/** Read and validate a state file; secrets come back in wire form `{sig, value}` (decrypted). */
export function readState(stateFile: string, passphrase?: string): StackState {
    const raw: unknown = JSON.parse(fs.readFileSync(stateFile, "utf8"));
    const parsed = StackStateSchema.parse(raw);
    const key = deriveKey(passphraseOf(passphrase), parsed.secretsProvider.salt);
    const open = (v: unknown) =>
        mapSecrets(v, (s) => {
            const ct = s["ciphertext"];
            if (typeof ct !== "string") throw new Error("state: secret without ciphertext");
            return { [SIG_KEY]: SECRET_SIG, value: JSON.parse(decrypt(key, ct)) as unknown };
        });
    return StackStateSchema.parse({
        ...parsed,
        resources: parsed.resources.map((r) => ({ ...r, inputs: open(r.inputs), outputs: open(r.outputs) })),
    });
}

export function loadStateOrEmpty(stateFile: string, project: string, stack: string, passphrase?: string): StackState {
    return fs.existsSync(stateFile) ? readState(stateFile, passphrase) : emptyState(project, stack);
}

/** Write a state file; every secret is sealed, so no secret plaintext ever reaches the disk. */
export function writeState(stateFile: string, state: StackState, passphrase?: string): void {
    const key = deriveKey(passphraseOf(passphrase), state.secretsProvider.salt);
    const seal = (v: unknown) => mapSecrets(v, (s) => ({ [SIG_KEY]: SECRET_SIG, ciphertext: encrypt(key, JSON.stringify(isSecret(s) ? s.value : null) ?? "null") }));
    const sealed = { ...state, resources: state.resources.map((r) => ({ ...r, inputs: seal(r.inputs), outputs: seal(r.outputs) })) };
    fs.mkdirSync(path.dirname(stateFile), { recursive: true });
    const tmp = `${stateFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(sealed, null, 2) + "\n", { mode: 0o600 });
    fs.renameSync(tmp, stateFile);
}
