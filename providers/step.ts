// What every runbook step shares: input validation that tolerates preview's unknowns, the tag
// contract (tags.ts, ARCHITECTURE.md), progress messages, and half-done creates reported with their id.
import { createHash } from "crypto";
import * as fs from "fs";
import { Transform } from "stream";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { connect, type Session } from "../clients/openstack";
import type { StepEnvironment } from "./stub";

/** The engine's wire value for "not known until apply" (sdk/nodejs/runtime/rpc.ts unknownValue). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export function containsUnknown(v: unknown): boolean {
    if (v === UNKNOWN) return true;
    if (Array.isArray(v)) return v.some(containsUnknown);
    if (v && typeof v === "object") return Object.values(v).some(containsUnknown);
    return false;
}

/**
 * check(): validate inputs with the step's schema. During preview some inputs are still unknown
 * (they come from resources not created yet); those fields are not judged, the known ones are.
 */
export function checkInputs<S extends z.ZodObject>(schema: S, news: Record<string, unknown>): pulumi.dynamic.CheckResult {
    const known = Object.fromEntries(Object.entries(news).filter(([k, v]) => k !== "__provider" && !containsUnknown(v)));
    const partial = Object.keys(known).length < Object.keys(news).filter((k) => k !== "__provider").length;
    const result = (partial ? schema.partial() : schema).safeParse(known);
    // The checked inputs carry the schema's defaults: the engine stores them and diffs against them,
    // so an input left out and its default never look like a change.
    if (result.success) return { inputs: { ...news, ...(result.data as Record<string, unknown>) } };
    return {
        inputs: news,
        failures: result.error.issues.map((i) => ({ property: i.path.join(".") || "(inputs)", reason: i.message })),
    };
}

/** Parse inputs or outputs we wrote ourselves; a failure here is a bug or a hand-edited state. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
    const r = schema.safeParse(value);
    if (!r.success) throw new Error(`${what}: ${z.prettifyError(r.error)}`);
    return r.data;
}

// The tag contract lives in tags.ts; re-exported here because every step uses both.
export {
    deleteMeDescription,
    isDeleteMe,
    madeByThisStep,
    promotedDescription,
    RECOVERY_KEYS,
    recoveryMetadata,
    recoveryTags,
    TAG_INCIDENT,
    TAG_RESOURCE,
    TAG_SOURCE,
    TAG_STACK,
    Tagging,
    withoutRecoveryTags,
} from "./tags";

/** A size as people read it: 1.50 GiB, 24.0 MiB, 512 KiB. */
export function humanBytes(n: number): string {
    if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
    if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
    return `${Math.ceil(n / 1024)} KiB`;
}

/**
 * A pass-through for a big transfer: hashes and counts what goes by, and says how far it got every 10 s
 * (`what` of `total`, percent, MiB/s), so a copy of many GiB is never a silent hang.
 */
export function hashingMeter(
    algorithm: "sha256" | "sha512",
    total: number,
    what: string,
    log: (m: string) => void,
): { stream: Transform; bytes: () => number; hex: () => string } {
    const hash = createHash(algorithm);
    let bytes = 0;
    const t0 = Date.now();
    let last = t0;
    const stream = new Transform({
        transform(chunk: Buffer, _enc, done) {
            hash.update(chunk);
            bytes += chunk.length;
            if (Date.now() - last >= 10_000) {
                last = Date.now();
                const mibs = bytes / 1024 ** 2 / ((last - t0) / 1000);
                log(
                    `${what}: ${humanBytes(bytes)} of ${humanBytes(total)} (${((100 * bytes) / total).toFixed(0)}%, ${mibs.toFixed(0)} MiB/s)`,
                );
            }
            done(null, chunk);
        },
    });
    return { stream, bytes: () => bytes, hex: () => hash.digest("hex") };
}

/** A file's hash, read in 1 MiB pieces (never whole into memory). */
export async function fileHash(algorithm: string, file: string): Promise<string> {
    const h = createHash(algorithm);
    for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
    return h.digest("hex");
}

/** Progress for long waits: shown under the resource by `pulumi up` (pulumi/pulumi#18253). */
export function progress(step: string, t: { logicalName: string }): (message: string) => void {
    return (message: string) => pulumi.log.info(`[${step} ${t.logicalName}] ${message}`);
}

export function session(env: StepEnvironment, log: (m: string) => void): Promise<Session> {
    return connect(env.config, log);
}

/**
 * Thrown when a create got far enough to own something in the cloud but not to finish: the host
 * packs id + properties into ErrorResourceInitFailed, so the engine records the resource and a
 * later destroy removes it instead of leaking it (sdk/nodejs/cmd/dynamic-provider grpcResponseFromError).
 */
export class PartialCreateError extends Error {
    constructor(
        message: string,
        readonly id: string,
        readonly properties: Record<string, unknown>,
        readonly reasons: string[] = [message],
    ) {
        super(message);
        this.name = "PartialCreateError";
    }
}

/**
 * The engine sends Update to a resource recorded with initErrors (a create that stopped part-way) on
 * the next `up`, even when Diff sees no change (step_generator.go continueStepsFromDiff): an update
 * that finishes such a create and stops part-way again is reported the same way, so the engine
 * records how far it got. Its properties carry __provider from the inputs, as create's do.
 */
export function partialUpdate(
    message: string,
    id: string,
    outs: Record<string, unknown>,
    news: Record<string, unknown>,
): PartialCreateError {
    return new PartialCreateError(message, id, { ...wire(outs), __provider: news.__provider });
}

/** Outputs must never hold undefined or BigInt: Struct encoding throws and the resource would leak. */
export function wire<T extends Record<string, unknown>>(o: T): Record<string, unknown> {
    return JSON.parse(JSON.stringify(o, (_k, v) => (v === undefined ? null : typeof v === "bigint" ? v.toString() : v)));
}

/** Which inputs differ, comparing as JSON. */
export function changedKeys(olds: Record<string, unknown>, news: Record<string, unknown>, keys: readonly string[]): string[] {
    return keys.filter((k) => JSON.stringify(olds[k] ?? null) !== JSON.stringify(news[k] ?? null));
}

/** A diff answer from the set of keys that force a replacement and those that can be updated. */
export function diffBy(
    olds: Record<string, unknown>,
    news: Record<string, unknown>,
    o: { replaceOn: readonly string[]; updateOn?: readonly string[]; deleteBeforeReplace?: boolean },
): pulumi.dynamic.DiffResult {
    const replaces = changedKeys(olds, news, o.replaceOn);
    const updates = changedKeys(olds, news, o.updateOn ?? []);
    return {
        changes: replaces.length + updates.length > 0,
        replaces,
        stables: [],
        deleteBeforeReplace: replaces.length > 0 && (o.deleteBeforeReplace ?? false),
    };
}

/** Shared resource options for every step: the type token reads `pulumi-nodejs:dynamic/recovery:<Step>`. */
export const MODULE = "recovery";
