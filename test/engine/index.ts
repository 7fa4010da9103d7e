/**
 * The engine stand-in: an imitation of the Pulumi engine (the Go `pulumi` CLI, which cannot be installed here) that
 * runs a stack the way these commands do, against a checkpoint in the file backend's format:
 *
 *   pulumi preview   → preview(run)   the program runs under Pulumi's own runner with --dry-run; dynamic resources
 *                                     get Check and Diff only; nothing is created, updated or deleted; no state written
 *   pulumi up        → up(run)        steps run in parallel (--parallel) as registrations arrive, each journalled as it
 *                                     begins and ends; then the deletes, in dependency layers
 *   pulumi destroy   → destroy(run)   deletes everything in the state, dependents first, in parallel layers (the
 *                                     program is not run, like `pulumi destroy` without --run-program)
 *   pulumi refresh   → refresh(run)   Read for every dynamic resource; --clear-pending-creates, --import-pending-creates
 *   pulumi stack export → readState(stateFile)
 *
 * How (see deployment.ts): the stand-in serves the engine's gRPC services (ResourceMonitor and Engine) on loopback,
 * starts the program with Pulumi's real runner (`@pulumi/pulumi/cmd/run`, what pulumi-language-nodejs starts) with
 * the CLI's arguments, environment and working directory (languageHost.ts), and sends every dynamic resource to the
 * real dynamic-provider host (host.ts), started the way the engine starts `pulumi-resource-pulumi-nodejs`.
 * Plugin-backed resources (@pulumi/openstack, @pulumi/command) cannot run here: their outputs come from
 * `StackRun.mockResource`, and their steps are marked `mocked`.
 */
import { Deployment, type RefreshOptions, type RunResult, type StackRun, type Step, type StepOp } from "./deployment";
import { readState as readStateFile, type StackState } from "./state";

export { EngineRunError, isDynamicType } from "./deployment";
export type { EngineEvent, MockedResource, RefreshOptions, RunResult, Step, StepOp, StackRun } from "./deployment";
export type { StackState, ResourceState, PendingOperation } from "./state";
export { checkpointPath } from "./state";
export { UNKNOWN } from "./props";
import { urnName } from "./host";

export function readState(stateFile: string, passphrase?: string): StackState {
    return readStateFile(stateFile, passphrase);
}

export function preview(run: StackRun): Promise<RunResult> {
    return new Deployment(run, "preview").runProgram();
}
export function up(run: StackRun): Promise<RunResult> {
    return new Deployment(run, "up").runProgram();
}
export function destroy(run: StackRun): Promise<RunResult> {
    return new Deployment(run, "destroy").runDestroy();
}
export function refresh(run: StackRun, opts: RefreshOptions = {}): Promise<RunResult> {
    return new Deployment(run, "refresh").runRefresh(opts);
}

// ---------------------------------------------------------------------------------------------------------------

const SYMBOL: Record<StepOp, string> = { create: "+", update: "~", replace: "+-", delete: "-", same: " ", read: ">", refresh: "~" };

/** Render a result like the CLI's progress table and summary (for the demo). */
export function formatResult(r: RunResult, title: string): string {
    const lines: string[] = [title, ""];
    const shown = r.steps.filter((s) => !(s.op === "delete" && s.replacing));
    const byUrn = new Map(shown.map((s) => [s.urn, s]));
    const children = new Map<string, Step[]>();
    const roots: Step[] = [];
    for (const s of shown) {
        if (s.parent && byUrn.has(s.parent) && s.parent !== s.urn) {
            const list = children.get(s.parent) ?? [];
            list.push(s);
            children.set(s.parent, list);
        } else roots.push(s);
    }
    const rows: [string, string, string, string, string][] = [];
    const walk = (s: Step, prefix: string, last: boolean, depth: number) => {
        const branch = depth === 0 ? "" : `${prefix}${last ? "└─ " : "├─ "}`;
        const op = s.op === "refresh" ? (s.refreshResult ?? "same") : s.op;
        const sym = s.op === "refresh" ? (s.refreshResult === "delete" ? "-" : s.refreshResult === "update" ? "~" : " ") : SYMBOL[s.op];
        const notes: string[] = [];
        if (s.diffs?.length)
            notes.push(`[diff: ${s.diffs.map((k) => (s.replaces?.includes(k) ? `~${k} (replace)` : `~${k}`)).join(", ")}]`);
        if (s.op === "replace" && s.deleteBeforeReplace) notes.push("[delete-before-replace]");
        if (s.retained) notes.push("[retain]");
        if (s.mocked) notes.push("[mocked]");
        if (s.error) notes.push(`**failed**: ${s.error.split("\n")[0]}`);
        rows.push([sym, `${branch}${s.type}`, urnName(s.urn), op, notes.join(" ")]);
        const kids = children.get(s.urn) ?? [];
        kids.forEach((k, i) => walk(k, depth === 0 ? "" : `${prefix}${last ? "   " : "│  "}`, i === kids.length - 1, depth + 1));
    };
    roots.forEach((s, i) => walk(s, "", i === roots.length - 1, 0));
    const w1 = Math.max(4, ...rows.map((x) => x[1].length));
    const w2 = Math.max(4, ...rows.map((x) => x[2].length));
    lines.push(`     ${"Type".padEnd(w1)}  ${"Name".padEnd(w2)}  Plan`);
    for (const [sym, type, name, op, notes] of rows)
        lines.push(` ${sym.padEnd(3)} ${type.padEnd(w1)}  ${name.padEnd(w2)}  ${op}${notes ? `  ${notes}` : ""}`);
    if (r.warnings.length) lines.push("", "Warnings:", ...r.warnings.map((w) => `    ${w}`));
    const diffLines = r.diagnostics.length ? ["", "Diagnostics:", ...r.diagnostics.map((d) => `    ${d}`)] : [];
    lines.push(...diffLines);
    const outs = Object.entries(r.outputs);
    if (outs.length) {
        lines.push("", "Outputs:");
        const w = Math.max(...outs.map(([k]) => k.length));
        for (const [k, v] of outs) lines.push(`    ${k.padEnd(w)}: ${JSON.stringify(v)}`);
    }
    const c = r.changes;
    const summary: string[] = [];
    if (c.create) summary.push(`+ ${c.create} to create`);
    if (c.update) summary.push(`~ ${c.update} to update`);
    if (c.replace) summary.push(`+-${c.replace} to replace`);
    if (c.delete) summary.push(`- ${c.delete} to delete`);
    if (c.read) summary.push(`> ${c.read} read`);
    if (c.refresh) summary.push(`~ ${c.refresh} refreshed`);
    if (c.same) summary.push(`${c.same} unchanged`);
    lines.push("", "Resources:", ...summary.map((s) => `    ${s}`));
    return lines.join("\n");
}
