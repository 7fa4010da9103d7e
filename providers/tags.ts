// The tag contract (ARCHITECTURE.md "The tag contract"): how everything this project creates is
// marked, found again and let go of. Steps tag with it, the sweep and the adoption at `up` select on
// it, and the stack's discovery reads it: one module, so the three never disagree.
import { z } from "zod";

export const TAG_STACK = "recovery-stack";
export const TAG_INCIDENT = "recovery-incident";
export const TAG_RESOURCE = "recovery-resource";
/** the broken server a chain recovers: one stack may hold many chains (a whole dead host) */
export const TAG_SOURCE = "recovery-source";
/** every key of the contract, for untagging */
export const RECOVERY_KEYS = [TAG_STACK, TAG_INCIDENT, TAG_RESOURCE, TAG_SOURCE] as const;

/** Inputs every step carries: who made it, for which incident and which broken server. */
export const Tagging = z.object({
    /** the incident id, e.g. INC1234 */
    incident: z.string().min(1),
    /** <organization>/<project>/<stack>: the stack that owns what this step creates */
    stack: z.string().min(1),
    /** the resource's logical name in the stack, so a leftover can be matched to it */
    logicalName: z.string().min(1),
    /** the id of the broken server this step's chain recovers (absent in states written before 0.2) */
    source: z.string().min(1).nullish(),
});
export type Tagging = z.infer<typeof Tagging>;

/** Metadata every created thing carries; the sweep and the cleanup select on these, never on names. */
export function recoveryMetadata(t: Tagging): Record<string, string> {
    return {
        [TAG_STACK]: t.stack,
        [TAG_INCIDENT]: t.incident,
        [TAG_RESOURCE]: t.logicalName,
        ...(t.source ? { [TAG_SOURCE]: t.source } : {}),
    };
}

/** Whether metadata carries exactly this step's tags: what a step may adopt as its own leftover. */
export function madeByThisStep(metadata: Record<string, string>, t: Tagging): boolean {
    return Object.entries(recoveryMetadata(t)).every(([k, v]) => metadata[k] === v);
}

/**
 * Whether a thing tagged by this stack belongs to the chain that recovers `source`. Things tagged
 * before the source tag existed (one chain per stack then) belong to the stack's only chain.
 */
export function ofChain(metadata: Record<string, string>, stack: string, source: string): boolean {
    return metadata[TAG_STACK] === stack && (metadata[TAG_SOURCE] ?? source) === source;
}

/** Neutron tags are strings (`key=value`), not pairs: the same contract, as a map. */
export function tagMap(tags: readonly string[]): Record<string, string> {
    return Object.fromEntries(tags.filter((t) => t.includes("=")).map((t) => [t.slice(0, t.indexOf("=")), t.slice(t.indexOf("=") + 1)]));
}

export function recoveryTags(t: Tagging): string[] {
    return Object.entries(recoveryMetadata(t)).map(([k, v]) => `${k}=${v}`);
}

/** The same tags with the recovery ones removed: what a port keeps when the stack lets go of it. */
export function withoutRecoveryTags(tags: string[]): string[] {
    return tags.filter((t) => !(RECOVERY_KEYS as readonly string[]).includes(t.split("=")[0]!));
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

/** The logical name of the chain that recovers one server: keyed on incident and server, so one
 *  stack can hold many chains (`INC1234-web-1-clone`, `INC1234-web-2-clone`, ...). */
export function chainName(incident: string, serverName: string): string {
    return `${incident}-${serverName.replace(/[^A-Za-z0-9._-]+/g, "_")}`;
}

/** The name of the DELETE-ME clone of a root volume (runbook 000 B 3: `vol-clone-<incident>`). */
export function cloneName(incident: string, serverName?: string): string {
    return serverName ? `vol-clone-${incident}-${serverName}` : `vol-clone-${incident}`;
}
