// The repair toolkit's TypeScript boundary: DiskRepair calls buildRepairScript() to get the one
// bash script it streams to the helper (`sudo -n bash -s`), and parseRepairReport() on what the
// script printed. The scripts themselves are beside this file: driver.sh and driver/<job>.sh (the
// driver, split by job: DRIVER_PARTS) and actions/<name>.sh (one action, one file; see README.md
// here for what each changes and where its backup goes).
//
// This module is loaded when a provider method runs, never serialized into Pulumi state, so its
// top-level zod schemas and file reads are fine.
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";

export const REPAIR_ACTIONS = ["fstab", "fsck", "selinux-relabel", "kernel-fallback", "initrd", "grub", "custom"] as const;
export type RepairAction = (typeof REPAIR_ACTIONS)[number];

export interface RepairScriptOptions {
    /** Cinder volume id of the attached clone; the device is found by its serial (first 20 chars).
     *  Exactly one of volumeId and devicePath names the disk. */
    volumeId?: string;
    /** The disk's path on the helper, used as given instead of a search by serial: a disk with no
     *  Cinder id (an ephemeral or rescue disk: /dev/vdb, /dev/disk/by-path/…) or an image file
     *  attached as a loop device. Must be a whole disk; the same in-use checks apply. */
    devicePath?: string;
    /** Actions, run in this order. */
    actions: RepairAction[];
    /** "repair" writes; "report" changes nothing (the disk is only ever opened read-only). */
    mode: "repair" | "report";
    /** Body of the `custom` action (bash); required when actions has "custom". */
    customScript?: string;
    /** fstab entries whose device is not on this disk: "nofail" (default) or "comment" (out). */
    fstabPolicy?: "comment" | "nofail";
    /** How long to wait for the device to appear. Default 120. */
    deviceTimeoutSeconds?: number;
    /** Where the serial links live (volumeId only). Default /dev/disk/by-id (tests point it elsewhere). */
    byIdDir?: string;
    /** Seconds between "still working" lines on stderr; a failed one means the SSH session is gone. Default 3. */
    heartbeatSeconds?: number;
}

/** Lines that frame the JSON report on the script's stdout. */
export const REPORT_BEGIN = "-----BEGIN OPENSTACK-RECOVERY REPORT-----";
export const REPORT_END = "-----END OPENSTACK-RECOVERY REPORT-----";

const VOLUME_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// absolute, each part a name (no "." or ".." parts, no empty ones), no newline or NUL: what is
// checked on the helper (a block device, a whole disk) cannot be known here
const DEVICE_PATH = /^(?:\/(?!\.\.?(?:\/|$))[^/\n\0]+)+$/;

/** The driver, in the order it is inlined: driver.sh (common: output, logging, state, cleanup and
 *  traps) first, since its top-level lines (the stdout/stderr split, the state) must run before
 *  anything else; main.sh last (the action registry must exist before the actions register). */
export const DRIVER_PARTS = [
    "driver.sh",
    "driver/device.sh",
    "driver/filesystems.sh",
    "driver/lvm.sh",
    "driver/view.sh",
    "driver/report.sh",
    "driver/main.sh",
] as const;

const OptionsSchema = z
    .object({
        volumeId: z
            .string({ error: "volumeId must be the Cinder id (a string) of the attached clone" })
            .regex(VOLUME_ID, {
                error: "volumeId must be a Cinder volume id (a UUID such as 6a3a7ee8-47a4-4e4b-a4b2-13f2fe2d3a3c): pass the clone's id, not its name",
            })
            .optional(),
        devicePath: z
            .string({ error: "devicePath must be a string: the disk's path on the helper, such as /dev/vdb" })
            .regex(DEVICE_PATH, {
                error: 'devicePath must be an absolute path of a block device on the helper, such as /dev/vdb, /dev/disk/by-path/… or a loop device (/dev/loop0) an image file is attached to; no relative path, no "." or ".." parts',
            })
            .optional(),
        actions: z
            .array(
                z.enum(REPAIR_ACTIONS, {
                    error: (iss) => `unknown action ${JSON.stringify(iss.input)}: use one of ${REPAIR_ACTIONS.join(", ")}`,
                }),
                { error: `actions must be a list of action names (${REPAIR_ACTIONS.join(", ")})` },
            )
            .min(1, { error: `actions is empty: name at least one of ${REPAIR_ACTIONS.join(", ")}` }),
        mode: z.enum(["repair", "report"], { error: 'mode must be "repair" or "report" (report changes nothing)' }),
        customScript: z.string({ error: "customScript must be the text of a bash script" }).optional(),
        fstabPolicy: z.enum(["comment", "nofail"], { error: 'fstabPolicy must be "nofail" (default) or "comment"' }).optional(),
        deviceTimeoutSeconds: z
            .number({ error: "deviceTimeoutSeconds must be a number of seconds" })
            .int({ error: "deviceTimeoutSeconds must be a whole number of seconds" })
            .min(1, { error: "deviceTimeoutSeconds must be at least 1" })
            .max(3600, { error: "deviceTimeoutSeconds must be at most 3600" })
            .optional(),
        byIdDir: z
            .string()
            .regex(/^\/[^\n\0]*$/, { error: "byIdDir must be an absolute path such as /dev/disk/by-id" })
            .optional(),
        heartbeatSeconds: z.number().int().min(1).max(60, { error: "heartbeatSeconds must be 1..60" }).optional(),
    })
    .strict()
    .superRefine((o, ctx) => {
        // one way to name the disk: a serial search and a path could disagree on which disk it is
        if (o.volumeId === undefined && o.devicePath === undefined) {
            ctx.addIssue({
                code: "custom",
                path: [],
                message:
                    "the disk is not named: set volumeId (the Cinder id of the attached clone, found by its serial) or devicePath (its path on the helper, such as /dev/vdb)",
            });
        }
        if (o.volumeId !== undefined && o.devicePath !== undefined) {
            ctx.addIssue({
                code: "custom",
                path: ["devicePath"],
                message:
                    "volumeId and devicePath are both set: name the disk one way only, by volumeId (found by its serial) or by devicePath (its path on the helper)",
            });
        }
        if (o.devicePath !== undefined && o.byIdDir !== undefined) {
            ctx.addIssue({
                code: "custom",
                path: ["byIdDir"],
                message: "byIdDir is where a disk is searched for by serial (volumeId): drop it when the disk is named by devicePath",
            });
        }
        const seen = new Set<string>();
        o.actions.forEach((a, i) => {
            if (seen.has(a))
                ctx.addIssue({ code: "custom", path: ["actions", i], message: `action "${a}" is listed twice: list each action once` });
            seen.add(a);
        });
        const hasCustom = o.actions.includes("custom");
        if (hasCustom && !(o.customScript && o.customScript.trim())) {
            ctx.addIssue({
                code: "custom",
                path: ["customScript"],
                message: 'actions has "custom" but customScript is empty: give the script body, or drop "custom"',
            });
        }
        if (!hasCustom && o.customScript !== undefined) {
            ctx.addIssue({
                code: "custom",
                path: ["customScript"],
                message: 'customScript is set but actions has no "custom": add "custom" where it should run',
            });
        }
    });

function formatIssues(error: z.ZodError): string {
    return error.issues.map((i) => `${i.path.length ? i.path.join(".") : "options"}: ${i.message}`).join("; ");
}

/** Single-quote a string for bash. */
function shq(s: string): string {
    return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** What names this disk's files on the helper (the report copy under
 *  /var/lib/openstack-recovery/reports/<key>.json, e2undo files): the volume id, or for a
 *  devicePath "path" and the path with its slashes as dashes (/dev/vdb -> path-dev-vdb). */
export function repairStateKey(o: Pick<RepairScriptOptions, "volumeId" | "devicePath">): string {
    if (o.volumeId !== undefined) return o.volumeId;
    return `path${(o.devicePath ?? "").replace(/[^A-Za-z0-9._-]+/g, "-")}`;
}

function scriptDir(): string {
    // from source (ts-node, ts-jest) and from dist/ the scripts are beside this file; from a build
    // in bin/ (tsconfig.json's outDir: bin/toolkit/index.js), in the tree
    for (const d of [__dirname, path.resolve(__dirname, "..", "..", "toolkit")]) {
        if (fs.existsSync(path.join(d, "driver.sh"))) return d;
    }
    throw new Error(`repair toolkit scripts (driver.sh) not found beside ${__dirname}`);
}

/** The text of a toolkit file (driver.sh, driver/<job>.sh or actions/<name>.sh). */
export function toolkitFile(rel: string): string {
    return fs.readFileSync(path.join(scriptDir(), rel), "utf8");
}

/** One self-contained bash script (the driver's parts + the chosen actions inlined), run as root with `bash -s`
 *  on stdin (e.g. `sudo -n bash -s` over SSH). Deterministic: same options -> same text -> same sha256. */
export function buildRepairScript(o: RepairScriptOptions): { script: string; sha256: string } {
    const parsed = OptionsSchema.safeParse(o);
    if (!parsed.success) throw new Error(`invalid repair options: ${formatIssues(parsed.error)}`);
    const opt = parsed.data;
    const actions = opt.actions;
    const lines: string[] = [
        "#!/bin/bash",
        "# shellcheck disable=SC2317  # actions are called by name (osr_action_<name>), not seen as reachable",
        "# openstack-recovery repair script, generated by toolkit/index.ts: do not edit.",
        `# ${opt.devicePath !== undefined ? `disk ${opt.devicePath}` : `volume ${opt.volumeId}`}, mode ${opt.mode}, actions: ${actions.join(" ")}`,
        "# Run as root with the script on stdin: sudo -n bash -s",
        "# The braces make bash read the whole script before running any of it, so no command can",
        "# swallow the rest of stdin.",
        "{",
        "set -euo pipefail",
        // empty when the disk is named by devicePath (the report's volumeId is then "")
        `OSR_VOLUME_ID=${shq(opt.volumeId ?? "")}`,
        `OSR_DEVICE_PATH=${shq(opt.devicePath ?? "")}`,
        `OSR_STATE_KEY=${shq(repairStateKey(opt))}`,
        `OSR_ACTIONS=(${actions.map(shq).join(" ")})`,
        `OSR_MODE=${shq(opt.mode)}`,
        `OSR_FSTAB_POLICY=${shq(opt.fstabPolicy ?? "nofail")}`,
        `OSR_DEVICE_TIMEOUT=${opt.deviceTimeoutSeconds ?? 120}`,
        `OSR_BYID_DIR=${shq(opt.byIdDir ?? "/dev/disk/by-id")}`,
        `OSR_HEARTBEAT=${opt.heartbeatSeconds ?? 3}`,
        `OSR_CUSTOM_SCRIPT_B64=${shq(opt.customScript !== undefined ? Buffer.from(opt.customScript, "utf8").toString("base64") : "")}`,
        "",
    ];
    // one "# ======== " section for the whole driver (what a reader of the script, and the package
    // test, look for), a "# -------- " line per part
    for (const part of DRIVER_PARTS) {
        lines.push(part === "driver.sh" ? "# ======== driver.sh" : `# -------- ${part}`, toolkitFile(part).trimEnd());
        if (part !== DRIVER_PARTS[DRIVER_PARTS.length - 1]) lines.push("");
    }
    for (const a of actions) {
        lines.push("", `# ======== actions/${a}.sh`, toolkitFile(path.join("actions", `${a}.sh`)).trimEnd());
    }
    lines.push("", "osr_main </dev/null", "exit", "}", "");
    const script = lines.join("\n");
    return { script, sha256: createHash("sha256").update(script, "utf8").digest("hex") };
}

// ---------------------------------------------------------------- the report

const nullToUndefined = z
    .string()
    .nullable()
    .transform((v) => v ?? undefined)
    // outside the transform, so the key is optional in the inferred type (`backup?: string`)
    .optional();

const FilesystemSchema = z.object({
    device: z.string(),
    partition: z.number().int().nullable(),
    lv: z.string().nullable(),
    fsType: z.string().nullable(),
    uuid: z.string().nullable(),
    label: z.string().nullable(),
    partUuid: z.string().nullable(),
    partLabel: z.string().nullable(),
    mountPoint: z.string().nullable(),
    subvolume: z.string().nullable(),
    sizeBytes: z.number().int().nonnegative(),
});

const ActionStatusSchema = z.enum(["changed", "would-change", "unchanged", "skipped", "failed"]);

const ActionSchema = z.object({
    name: z.enum(REPAIR_ACTIONS),
    /** changed (repair mode wrote), would-change (report mode), unchanged, skipped (not applicable), failed */
    status: ActionStatusSchema,
    changed: z.boolean(),
    wouldChange: z.boolean(),
    summary: z
        .string()
        .nullable()
        .transform((v) => v ?? ""),
    /** What was found and what was done, and why, one line each. */
    details: z.array(z.string()),
    /** The first backup made (in the image unless it starts with "helper:"). */
    backup: nullToUndefined,
    backups: z.array(z.object({ path: z.string(), backup: z.string() })),
    /** Unified diff per changed file (in report mode: what repair mode would change). */
    diffs: z.array(z.object({ path: z.string(), diff: z.string() })),
    error: nullToUndefined,
});

const LvmGroupSchema = z.object({
    vg: z.string(),
    importedAs: z.string().nullable(),
    nameNow: z.string(),
    activated: z.boolean(),
    note: z.string().nullable(),
});

export const RepairReportSchema = z.object({
    version: z.literal(1),
    /** The options' volumeId; "" when the disk was named by devicePath (device.link is then that path). */
    volumeId: z.string(),
    mode: z.enum(["repair", "report"]),
    /** No fatal error and no failed action. */
    ok: z.boolean(),
    error: nullToUndefined,
    /** The block device, and the by-id link (volumeId) or the path given (devicePath) it was found by. */
    device: z.object({ path: z.string(), link: z.string() }).nullable(),
    filesystems: z.array(FilesystemSchema),
    root: FilesystemSchema.nullable(),
    lvm: z.array(LvmGroupSchema),
    actions: z.array(ActionSchema),
    warnings: z.array(z.string()),
});

// The report's types are what the schemas produce (z.output: after the null -> undefined transforms).
export type RepairFilesystem = z.output<typeof FilesystemSchema>;
export type RepairActionStatus = z.output<typeof ActionStatusSchema>;
export type RepairActionResult = z.output<typeof ActionSchema>;
export type RepairLvmGroup = z.output<typeof LvmGroupSchema>;
export type RepairReport = z.output<typeof RepairReportSchema>;

/** Extract and validate the report from the script's stdout; throws an Error naming what is wrong. */
export function parseRepairReport(stdout: string): RepairReport {
    const lines = stdout.split(/\r?\n/);
    let begin = -1;
    for (let i = lines.length - 1; i >= 0; i--) {
        if (lines[i].trim() === REPORT_BEGIN) {
            begin = i;
            break;
        }
    }
    const tail = stdout.trim().slice(-300);
    if (begin < 0) {
        throw new Error(
            `no repair report in the output: the line "${REPORT_BEGIN}" is missing (the script did not run, or was cut off before its end); ` +
                (tail ? `the output ends with: ${JSON.stringify(tail)}` : "the output is empty"),
        );
    }
    const end = lines.findIndex((l, i) => i > begin && l.trim() === REPORT_END);
    if (end < 0) throw new Error(`the repair report starts but "${REPORT_END}" never comes: the output was cut off`);
    const body = lines
        .slice(begin + 1, end)
        .join("\n")
        .trim();
    let json: unknown;
    try {
        json = JSON.parse(body);
    } catch (e) {
        throw new Error(`the repair report is not valid JSON (${(e as Error).message}): ${JSON.stringify(body.slice(0, 200))}`);
    }
    const r = RepairReportSchema.safeParse(json);
    if (!r.success) throw new Error(`the repair report does not have the expected shape: ${formatIssues(r.error)}`);
    return r.data;
}
