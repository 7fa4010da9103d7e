// Runbook 000 section B steps 5-12: on the helper, find the attached clone, find its root
// filesystem, repair it, unmount; then release the clone so the replacement can boot from it.
// The repair toolkit (toolkit/) is one bash script, run as root with `bash -s` (or `sudo -n bash -s`
// as another user, a refusal that names the fix when sudo wants a password); its JSON
// report is validated when it comes back. Nothing to undo on delete: the repair changed the clone
// only, and the clone is the VolumeClone's to delete.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import type { RepairAction, RepairReport } from "../toolkit";
import { releaseFromServer } from "./ops";
import { runRemote } from "../clients/ssh";
import { checkInputs, diffBy, MODULE, parse, progress, session, Tagging, wire } from "./step";
import { StepProvider, type StepImplementation } from "./stub";

const Inputs = Tagging.extend({
    volumeId: z.string().min(1),
    helperServerId: z.string().min(1),
    /** how to reach the helper's operating system */
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().min(1).default("root"),
    privateKeyFile: z.string().nullish(),
    hostKey: z.string().nullish(),
    actions: z.array(z.string()).min(1),
    mode: z.enum(["repair", "report"]),
    fstabPolicy: z.enum(["comment", "nofail"]).nullish(),
    customScript: z.string().nullish(),
    /** the script as preview shows it (with a placeholder volume id) and its hash: a change re-runs the repair */
    script: z.string(),
    scriptSha256: z.string(),
    byIdDir: z.string().nullish(),
    timeoutSeconds: z.number().positive().default(1800),
    /** detach the clone from the helper once repaired (default), so the same `up` can boot from it */
    release: z.boolean().default(true),
});
type Inputs = z.infer<typeof Inputs>;
const Outputs = Inputs.extend({
    report: z.record(z.string(), z.unknown()),
    changed: z.boolean(),
    summary: z.string(),
    hostKeyFingerprint: z.string(),
    released: z.boolean(),
});

export interface DiskRepairArgs {
    incident: pulumi.Input<string>;
    stack: pulumi.Input<string>;
    /** the id of the broken server this chain recovers (the recovery-source tag) */
    source?: pulumi.Input<string>;
    volumeId: pulumi.Input<string>;
    helperServerId: pulumi.Input<string>;
    host: pulumi.Input<string>;
    port?: pulumi.Input<number>;
    user?: pulumi.Input<string>;
    /** path of the private key on the machine running pulumi; default: SSH agent, ~/.ssh/id_* */
    privateKeyFile?: pulumi.Input<string>;
    /** pin the helper's host key ("ssh-ed25519 AAAA..." or "SHA256:..."); unset: recorded on first use */
    hostKey?: pulumi.Input<string>;
    actions: RepairAction[];
    mode?: "repair" | "report";
    fstabPolicy?: "comment" | "nofail";
    customScript?: string;
    byIdDir?: string;
    timeoutSeconds?: pulumi.Input<number>;
    release?: pulumi.Input<boolean>;
}

/** The placeholder preview shows where the clone's id goes (it is not known before the clone exists). */
export const PREVIEW_VOLUME_ID = "00000000-0000-4000-8000-000000000000";

export class DiskRepair extends pulumi.dynamic.Resource {
    declare readonly report: pulumi.Output<RepairReport>;
    declare readonly changed: pulumi.Output<boolean>;
    declare readonly summary: pulumi.Output<string>;
    declare readonly scriptSha256: pulumi.Output<string>;
    declare readonly released: pulumi.Output<boolean>;

    constructor(name: string, args: DiskRepairArgs, opts?: pulumi.CustomResourceOptions) {
        const { buildRepairScript } = require("../toolkit") as typeof import("../toolkit");
        const mode = args.mode ?? "repair";
        const preview = buildRepairScript({
            volumeId: PREVIEW_VOLUME_ID,
            actions: args.actions,
            mode,
            customScript: args.customScript,
            fstabPolicy: args.fstabPolicy,
            byIdDir: args.byIdDir,
        });
        super(
            new StepProvider("diskRepair"),
            name,
            {
                report: undefined,
                changed: undefined,
                summary: undefined,
                hostKeyFingerprint: undefined,
                released: undefined,
                ...args,
                mode,
                script: preview.script,
                scriptSha256: preview.sha256,
                logicalName: name,
            },
            opts,
            MODULE,
            "DiskRepair",
        );
    }
}

/** Why `sudo -n bash -s` never ran the script, or null: sudo wanted a password (it never asks with -n),
 *  or is not there. The script never started, so the clone is untouched. */
export function sudoRefusal(user: string, host: string, r: { code: number | null; stdout: string; stderr: string }): string | null {
    if (r.stdout.trim()) return null; // the script ran (its report is on stdout)
    const fix =
        `give ${user} passwordless sudo on the helper (a sudoers rule such as "${user} ALL=(ALL) NOPASSWD:ALL", ` +
        `what cloud-init gives a cloud image's default user), or set helper.sshUser to root (a key login as root)`;
    if (/sudo: (a password is required|a terminal is required|no tty present)/.test(r.stderr))
        return `the repair did not run: sudo on ${host} asks ${user} for a password, and the repair runs "sudo -n bash -s", which never asks: ${fix}. Nothing was changed on the disk`;
    if (r.code === 127 && /sudo: .*not found/.test(r.stderr))
        return `the repair did not run: ${user}@${host} has no sudo (the repair runs "sudo -n bash -s" for a user other than root): install sudo and ${fix}. Nothing was changed on the disk`;
    return null;
}

function summarise(r: RepairReport): string {
    const changed = r.actions.filter((a) => a.changed);
    if (!changed.length) return `${r.mode}: nothing to change (${r.actions.map((a) => a.name).join(", ")})`;
    return `${r.mode}: ${changed.map((a) => `${a.name}: ${a.summary}`).join("; ")}`;
}

export const impl: StepImplementation = {
    async check(_olds, news) {
        const result = checkInputs(Inputs, news);
        if (result.failures?.length) return result;
        // the actions must be ones the toolkit knows; it says which, and what to use instead
        const { REPAIR_ACTIONS } = require("../toolkit") as typeof import("../toolkit");
        const bad = (Array.isArray(news.actions) ? news.actions : []).filter(
            (a) => typeof a === "string" && !(REPAIR_ACTIONS as readonly string[]).includes(a),
        );
        return bad.length
            ? {
                  inputs: news,
                  failures: [{ property: "actions", reason: `unknown repair action ${bad.join(", ")}: use ${REPAIR_ACTIONS.join(", ")}` }],
              }
            : result;
    },

    async diff(_id, olds, news) {
        // a different disk, action list or script is a different repair; how we reach the helper is not
        return diffBy(olds, news, {
            replaceOn: ["volumeId", "actions", "mode", "fstabPolicy", "customScript", "scriptSha256"],
            updateOn: ["host", "port", "user", "privateKeyFile", "hostKey", "timeoutSeconds", "release", "helperServerId", "byIdDir"],
        });
    },

    async create(raw, env) {
        const i = parse(Inputs, raw, "DiskRepair inputs");
        const log = progress("DiskRepair", i);
        const { buildRepairScript, parseRepairReport } = require("../toolkit") as typeof import("../toolkit");
        const { script, sha256 } = buildRepairScript({
            volumeId: i.volumeId,
            actions: i.actions as RepairAction[],
            mode: i.mode,
            customScript: i.customScript ?? undefined,
            fstabPolicy: i.fstabPolicy ?? undefined,
            byIdDir: i.byIdDir ?? undefined,
        });
        // root runs the script itself; any other user through sudo, which must not ask for a password (-n)
        const command = i.user === "root" ? "bash -s" : "sudo -n bash -s";
        log(
            `running ${i.mode} (${i.actions.join(", ")}) on ${i.user}@${i.host} (${command}) for volume ${i.volumeId}; script sha256 ${sha256}`,
        );
        const result = await runRemote({
            host: i.host,
            port: i.port,
            user: i.user,
            privateKeyFile: i.privateKeyFile,
            hostKey: i.hostKey,
            command,
            stdin: script,
            timeoutSeconds: i.timeoutSeconds,
            onStderrLine: (l) => log(`helper: ${l}`),
        });
        if (!i.hostKey) log(`helper host key ${result.hostKeyFingerprint} was not pinned; pin it with helper.hostKey`);
        if (i.user !== "root") {
            const refused = sudoRefusal(i.user, i.host, result);
            if (refused) throw new Error(refused);
        }
        let report: RepairReport;
        try {
            report = parseRepairReport(result.stdout);
        } catch (e) {
            throw new Error(
                `the repair on ${i.host} exited ${result.code ?? result.signal} without a valid report: ${(e as Error).message}\n${result.stderr.split("\n").slice(-15).join("\n")}`,
            );
        }
        if (result.code !== 0 || !report.ok) {
            // the clone stays attached to the helper for inspection; destroy detaches it
            throw new Error(`the repair on ${i.host} failed (exit ${result.code}): ${report.error ?? summarise(report)}`);
        }
        log(summarise(report));
        let released = false;
        if (i.release) {
            const s = await session(env, log);
            released = await releaseFromServer(s, i.volumeId, i.helperServerId, 600, log);
        }
        const outs = {
            ...i,
            report,
            changed: report.actions.some((a) => a.changed),
            summary: summarise(report),
            hostKeyFingerprint: result.hostKeyFingerprint,
            released,
        };
        return { id: `${i.volumeId}/${sha256.slice(0, 12)}`, outs: wire(outs) };
    },

    async read(id, props) {
        return { id, props };
    },

    async update(_id, olds, news) {
        const o = parse(Outputs, olds, "DiskRepair state");
        const i = parse(Inputs, news, "DiskRepair inputs");
        return { outs: wire({ ...o, ...i, report: o.report, changed: o.changed, summary: o.summary }) };
    },

    async delete() {
        // nothing to undo: the repair changed only the clone, which VolumeClone owns
    },
};
