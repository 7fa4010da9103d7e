// What every runbook step shares: input validation that tolerates preview's unknowns, the tag
// contract (DESIGN.md section 4), progress messages, and half-done creates reported with their id.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { connect, type Session } from "./openstack";
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

/** Inputs every step carries: who made it, for which incident. */
export const Tagging = z.object({
    /** the incident id, e.g. INC1234 */
    incident: z.string().min(1),
    /** <organization>/<project>/<stack>: the stack that owns what this step creates */
    stack: z.string().min(1),
    /** the resource's logical name in the stack, so a leftover can be matched to it */
    logicalName: z.string().min(1),
});
export type Tagging = z.infer<typeof Tagging>;

export const TAG_STACK = "recovery-stack";
export const TAG_INCIDENT = "recovery-incident";
export const TAG_RESOURCE = "recovery-resource";

/** Metadata every created thing carries; the sweep and the cleanup select on these, never on names. */
export function recoveryMetadata(t: Tagging): Record<string, string> {
    return { [TAG_STACK]: t.stack, [TAG_INCIDENT]: t.incident, [TAG_RESOURCE]: t.logicalName };
}

/** Neutron tags are strings, not pairs. */
export function recoveryTags(t: Tagging): string[] {
    return Object.entries(recoveryMetadata(t)).map(([k, v]) => `${k}=${v}`);
}

/** The same tags with the recovery ones removed: what a port keeps when the stack lets go of it. */
export function withoutRecoveryTags(tags: string[]): string[] {
    return tags.filter((t) => !t.startsWith("recovery-"));
}

/** The runbook's marker for temporary things: `inc1234 DELETE ME`. */
export function deleteMeDescription(incident: string, what: string): string {
    return `${incident} DELETE ME: ${what}`;
}

export const isDeleteMe = (description: string | null | undefined): boolean => /\bDELETE ME\b/.test(description ?? "");

/** A description with the DELETE ME marker removed, for things promoted to keep. */
export function promotedDescription(incident: string, what: string): string {
    return `${incident}: ${what}`;
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
    constructor(message: string, readonly id: string, readonly properties: Record<string, unknown>, readonly reasons: string[] = [message]) {
        super(message);
        this.name = "PartialCreateError";
    }
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
