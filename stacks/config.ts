// The stack config of an incident, as one zod schema. Every key lives under the project namespace
// (`openstack-recovery:`); credentials live under `openstack:` (see providers/openstack/credentials.ts).
// An error names the key and the command that fixes it, before anything is changed.
import { z } from "zod";
import { REPAIR_ACTIONS } from "../recipes/repairs";
import { bootsReplacement } from "../recipes/volumeBacked";

export const NAMESPACE = "openstack-recovery";

const Incident = z
    .string({ error: "required" })
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{2,39}$/, "must be 3-40 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. INC1234)");

export const RecoveryConfig = z.object({
    /** the incident id: every temporary thing is described `<incident> DELETE ME` */
    incident: Incident,
    /** the server that will not boot: name or id */
    server: z.string({ error: "required" }).min(1),
    /** auto: chosen from what the server is; volume-backed: runbook 000 B + C */
    strategy: z.enum(["auto", "volume-backed"]).default("auto"),
    /** the helper VM ("snap-mounter") the clone is attached to, and how to reach its OS over SSH */
    helper: z.object(
        {
            server: z.string({ error: "required" }).min(1),
            /** default: the helper's first fixed IP */
            address: z.string().min(1).optional(),
            sshUser: z.string().min(1).default("root"),
            sshPort: z.number().int().min(1).max(65535).default(22),
            /** a private key file on this machine; default: the SSH agent, then ~/.ssh/id_* */
            sshKeyFile: z.string().min(1).optional(),
            /** pin the helper's host key: "ssh-ed25519 AAAA..." or "SHA256:..." */
            hostKey: z.string().min(1).optional(),
            /** where the helper lists disks by serial (tests only; default /dev/disk/by-id) */
            byIdDir: z.string().min(1).optional(),
        },
        { error: "required" },
    ),
    repair: z
        .object({
            actions: z.array(z.enum(REPAIR_ACTIONS)).min(1).default(["fstab"]),
            /** report: look and say, change nothing, boot nothing */
            mode: z.enum(["repair", "report"]).default("repair"),
            fstabPolicy: z.enum(["comment", "nofail"]).optional(),
            customScript: z.string().optional(),
        })
        .default({ actions: ["fstab"], mode: "repair" }),
    /** keep the broken server's address(es) for the replacement (true), not (false), or this one address */
    keepIp: z.union([z.boolean(), z.ipv4(), z.ipv6()]).default(true),
    replacement: z
        .object({
            /** default: <server>-recovered */
            name: z.string().min(1).optional(),
            /** default: the broken server's flavor */
            flavor: z.string().min(1).optional(),
            /** a Nova keypair of yours; default none: the keys are already on the repaired disk, and
             *  keypairs belong to users, so the broken server's may not be visible to you */
            keyName: z.string().min(1).optional(),
            /** move the broken server's data volumes to the replacement (default true) */
            moveDataVolumes: z.boolean().default(true),
            /** false: clone and repair only */
            boot: z.boolean().default(true),
        })
        .default({ moveDataVolumes: true, boot: true }),
    /** what destroy keeps (promoted: tags and DELETE ME removed); everything else it deletes */
    retain: z
        .object({ server: z.boolean().default(true), port: z.boolean().default(true), rootVolume: z.boolean().default(true) })
        .default({ server: true, port: true, rootVolume: true }),
    /** the operator's own check, run on this machine (`/bin/sh -c`) once the replacement is ACTIVE;
     *  it gets RECOVERED_SERVER_ID, RECOVERED_SERVER_NAME, RECOVERED_IP(S), REPAIRED_VOLUME_ID and
     *  INCIDENT; a non-zero exit fails the `up` (nothing is rolled back: the replacement stays) */
    verify: z
        .preprocess(
            (v) => (typeof v === "string" ? { command: v } : v), // `pulumi config set verify '<command>'`, the short form
            z.object({ command: z.string({ error: "required" }).min(1, "must not be empty") }, { error: 'must be a command, or an object such as {"command": "..."}' }),
        )
        .optional(),
    timeouts: z
        .object({ cloneSeconds: z.number().positive().default(1800), repairSeconds: z.number().positive().default(1800), bootSeconds: z.number().positive().default(900) })
        .default({ cloneSeconds: 1800, repairSeconds: 1800, bootSeconds: 900 }),
}).superRefine((c, ctx) => {
    if (c.verify && !bootsReplacement(c)) {
        ctx.addIssue({ code: "custom", path: ["verify"], message: `there is no replacement to check: ${c.repair.mode === "report" ? "repair.mode is report" : "replacement.boot is false"}` });
    }
});
export type RecoveryConfig = z.infer<typeof RecoveryConfig>;

const TOP_KEYS = Object.keys(RecoveryConfig.shape) as (keyof RecoveryConfig)[];

/** A config problem: names the key and how to fix it. */
export class ConfigError extends Error {
    constructor(readonly key: string, problem: string, readonly fix: string) {
        super(`${NAMESPACE}:${key}: ${problem}${fix ? `\n  fix: ${fix}` : ""}`);
        this.name = "ConfigError";
    }
}

const EXAMPLES: Record<string, string> = {
    incident: "pulumi config set incident INC1234",
    server: "pulumi config set server <name or id of the broken server>",
    helper: "pulumi config set --path helper.server <helper server>",
    "helper.server": "pulumi config set --path helper.server <helper server>",
    verify: `pulumi config set verify '<check command>'   (or pulumi config rm verify)`,
    keepIp: "pulumi config set keepIp true   (or an address such as 10.0.0.5, or false)",
    "repair.actions": `pulumi config set --path 'repair.actions[0]' fstab   (actions: ${REPAIR_ACTIONS.join(", ")})`,
};

/**
 * Parse the raw stack config (fully qualified keys -> string values, as Pulumi passes them to the
 * program: objects and booleans arrive as JSON text).
 */
export function parseConfig(raw: (key: string) => string | undefined): RecoveryConfig {
    const obj: Record<string, unknown> = {};
    for (const key of TOP_KEYS) {
        const v = raw(`${NAMESPACE}:${key}`);
        if (v === undefined) continue;
        try {
            obj[key] = key === "incident" || key === "server" ? v : JSON.parse(v);
        } catch {
            obj[key] = v; // a plain string where JSON was expected: zod says what it should be
        }
    }
    const r = RecoveryConfig.safeParse(obj);
    if (r.success) return r.data;
    const issue = r.error.issues[0];
    const key = issue.path.join(".") || "(config)";
    // the most specific example for this key: repair.actions.0 -> repair.actions
    const known = Object.keys(EXAMPLES).filter((k) => key === k || key.startsWith(`${k}.`)).sort((a, b) => b.length - a.length)[0];
    const fix = known ? EXAMPLES[known] : `pulumi config set --path ${key} <value>`;
    throw new ConfigError(key, issue.message, fix);
}
