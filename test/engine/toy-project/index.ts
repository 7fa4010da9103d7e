// The toy stack program, run by @pulumi/pulumi/cmd/run like any Pulumi program. The test picks its shape through
// config: `toy:dir` (the toy cloud's directory), `toy:scenario`, and `toy:variant` (JSON, see Variant).
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { Group, Thing } from "../toy";

interface Variant {
    aName?: string;
    aSize?: number;
    aDbr?: boolean;
    withC?: boolean;
    /** c has the deleteBeforeReplace resource option */
    cDbrOption?: boolean;
    retainB?: boolean;
    cFail?: string;
    /** b is replaced when a's id changes */
    bReplaceOnRef?: boolean;
    token?: string;
    /** scenario "parallel": how many independent Things, and how long each create takes */
    count?: number;
    delayMs?: number;
    /** scenario "command": what the command echoes */
    size?: number;
    /** scenario "check": a command run like the stack's verify, with PASS=yes|no in its environment */
    check?: string;
    pass?: boolean;
}

const config = new pulumi.Config("toy");
const dir = config.require("dir");
const v = config.getObject<Variant>("variant") ?? {};

function main(): Record<string, unknown> {
    switch (config.get("scenario") ?? "default") {
        case "probe":
            new Thing("probe", { dir, name: "probe", size: 1, probe: "config" });
            return {};
        case "neg":
            new Thing("neg", { dir, name: "neg", size: -1 });
            return {};
        case "parallel": {
            const ids: Record<string, pulumi.Output<string>> = {};
            for (let i = 0; i < (v.count ?? 4); i++)
                ids[`p${i}`] = new Thing(`p${i}`, { dir, name: `p${i}`, size: 1, delayMs: v.delayMs ?? 0 }).thingId;
            return ids;
        }
        case "command": {
            const cmd = new command.local.Command("probe", { create: `echo ${v.size ?? 1}` });
            const t = new Thing("t", { dir, name: "t", size: cmd.stdout.apply((s) => Number(s)) });
            return { size: t.size };
        }
        case "check": {
            const check = new command.local.Command("check", { create: v.check ?? "true", environment: { PASS: v.pass ? "yes" : "no" } });
            return { out: check.stdout };
        }
        default: {
            const group = new Group("grp");
            const a = new Thing(
                "a",
                { dir, name: v.aName ?? "alpha", size: v.aSize ?? 1, dbr: v.aDbr, token: v.token ? pulumi.secret(v.token) : undefined },
                { parent: group, additionalSecretOutputs: ["apiToken"] },
            );
            const b = new Thing(
                "b",
                { dir, name: "beta", size: 1, ref: a.thingId, replaceOnRef: v.bReplaceOnRef },
                { parent: group, retainOnDelete: v.retainB },
            );
            let c: Thing | undefined;
            if (v.withC)
                c = new Thing("c", { dir, name: "gamma", size: 1, fail: v.cFail }, { dependsOn: [b], deleteBeforeReplace: v.cDbrOption });
            group.done({ a: a.thingId });
            return { aId: a.thingId, bRef: b.urn.apply(() => b.thingId), aToken: a.apiToken, ...(c ? { cId: c.thingId } : {}) };
        }
    }
}

export = main();
