// Runbook 000 C, "check the new instance", the part a cloud API can prove: the replacement's console
// log (Nova's os-getConsoleOutput, what the guest wrote to its serial console) read until the boot
// is over: a login prompt (the repaired disk boots) or systemd's emergency mode (it does not: the
// `up` fails with the console lines that say why). ACTIVE alone only says the hypervisor started.
// It creates nothing in the cloud: delete forgets it, a new replacement server is proven again.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { ApiError, compute, ConflictError, WaitTimeoutError, waitFor } from "../clients/openstack";
import { isRegExp, readConsole, type ConsoleVerdict } from "../toolkit/bootConsole";
import { checkInputs, diffBy, MODULE, parse, progress, session, Tagging, wire } from "./step";
import { StepProvider, type StepImplementation } from "./stub";

/** A regular expression an operator wrote: refused at check when it does not compile. */
const Pattern = z
    .string()
    .min(1)
    .refine(isRegExp, { message: "must be a JavaScript regular expression, matched per line (e.g. '^\\\\S+ login: ?$')" });

const Inputs = Tagging.extend({
    serverId: z.string().min(1),
    serverName: z.string().min(1),
    /** the operator's login prompt, matched per line (default: agetty's `<host> login:`) */
    loginPattern: Pattern.nullish(),
    /** how many of the console's last lines to ask Nova for each time */
    consoleLines: z.number().int().positive().default(500),
    timeoutSeconds: z.number().positive().default(600),
});
type Inputs = z.infer<typeof Inputs>;
const Outputs = Inputs.extend({
    outcome: z.literal("login"),
    /** the console lines that show it: the login prompt and the lines before it */
    evidence: z.array(z.string()),
    seconds: z.number(),
});
type Outputs = z.infer<typeof Outputs>;

export interface BootProofArgs {
    incident: pulumi.Input<string>;
    stack: pulumi.Input<string>;
    source?: pulumi.Input<string>;
    serverId: pulumi.Input<string>;
    serverName: pulumi.Input<string>;
    loginPattern?: pulumi.Input<string>;
    consoleLines?: pulumi.Input<number>;
    timeoutSeconds?: pulumi.Input<number>;
}

export class BootProof extends pulumi.dynamic.Resource {
    declare readonly outcome: pulumi.Output<"login">;
    declare readonly evidence: pulumi.Output<string[]>;
    declare readonly seconds: pulumi.Output<number>;

    constructor(name: string, args: BootProofArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            new StepProvider("bootProof"),
            name,
            { outcome: undefined, evidence: undefined, seconds: undefined, ...args, logicalName: name },
            opts,
            MODULE,
            "BootProof",
        );
    }
}

const indent = (lines: string[]) => lines.map((l) => `    | ${l}`).join("\n");

/** Read the console until the boot is over; the verdict and how long it took. */
async function watch(i: Inputs, read: () => Promise<string>, log: (m: string) => void): Promise<ConsoleVerdict & { seconds: number }> {
    const t0 = Date.now();
    const login = i.loginPattern ? new RegExp(i.loginPattern, "m") : undefined;
    let last: ConsoleVerdict = { outcome: "booting", evidence: [] };
    try {
        const v = await waitFor({
            what: `the console of ${i.serverName} to show a login prompt or emergency mode`,
            poll: async (): Promise<ConsoleVerdict> => {
                try {
                    last = readConsole(await read(), { login });
                } catch (e) {
                    // 409: not running (yet); anything else is an answer to act on
                    if (!(e instanceof ConflictError)) throw e;
                    last = { outcome: "booting", evidence: [`(no console yet: ${e.message})`] };
                }
                return last;
            },
            state: (x) => (x.outcome === "booting" ? `booting, console ends: ${x.evidence.at(-1) ?? "(empty)"}` : x.outcome),
            done: (x) => x.outcome !== "booting",
            timeoutSeconds: i.timeoutSeconds,
            progress: log,
            intervalMs: 2000,
            maxIntervalMs: 10_000,
        });
        return { ...v, seconds: Math.round((Date.now() - t0) / 1000) };
    } catch (e) {
        if (e instanceof WaitTimeoutError)
            throw new Error(
                `${i.serverName} (${i.serverId}) showed neither a login prompt nor emergency mode on its console within ${i.timeoutSeconds}s; ` +
                    `its console ends:\n${indent(last.evidence)}\n` +
                    `see \`openstack console log show ${i.serverId}\`; a slow boot: raise bootProof.timeoutSeconds; a custom prompt: set bootProof.loginPattern`,
            );
        throw e;
    }
}

async function prove(i: Inputs, env: Parameters<StepImplementation["create"]>[1]): Promise<Outputs> {
    const log = progress("BootProof", i);
    const s = await session(env, log);
    let v: ConsoleVerdict & { seconds: number };
    try {
        v = await watch(i, () => compute.getConsoleOutput(s, i.serverId, i.consoleLines), log);
    } catch (e) {
        if (e instanceof ApiError && e.status === 501)
            throw new Error(
                `Nova keeps no console log for ${i.serverName} (${i.serverId}): its hypervisor driver does not serve os-getConsoleOutput (${e.message}); ` +
                    "the boot cannot be proven this way: pulumi config set --path bootProof.enabled false",
            );
        throw e;
    }
    if (v.outcome === "emergency")
        throw new Error(
            `${i.serverName} (${i.serverId}) is ACTIVE but its boot ended in emergency mode after ${v.seconds}s: the repaired disk does not boot. Its console:\n` +
                `${indent(v.evidence)}\n` +
                `see \`openstack console log show ${i.serverId}\`; fix what the console names (repair.actions, repair.customScript), then boot a new replacement`,
        );
    log(`${i.serverName} booted to a login prompt in ${v.seconds}s: ${v.evidence.at(-1)}`);
    return { ...i, outcome: "login", evidence: v.evidence, seconds: v.seconds };
}

export const impl: StepImplementation = {
    async check(_olds, news) {
        return checkInputs(Inputs, news);
    },

    async diff(_id, olds, news) {
        // a new server boots again and is proven again; the rest only says how to look
        return diffBy(olds, news, {
            replaceOn: ["serverId", "incident", "stack"],
            updateOn: ["serverName", "loginPattern", "consoleLines", "timeoutSeconds"],
        });
    },

    async create(raw, env) {
        const i = parse(Inputs, raw, "BootProof inputs");
        const outs = await prove(i, env);
        return { id: `boot-proof-${i.serverId}`, outs: wire(outs) };
    },

    async read(id, props, env) {
        const o = parse(Outputs, props, "BootProof state");
        const s = await session(env, progress("BootProof", o));
        // the proof is of a server: gone with it
        if (!(await compute.findServerById(s, o.serverId))) return { id: "", props: {} };
        return { id, props: wire(o) };
    },

    async update(_id, olds, news) {
        // the same server: what was proven stays proven
        const o = parse(Outputs, olds, "BootProof state");
        const i = parse(Inputs, news, "BootProof inputs");
        return { outs: wire({ ...o, ...i }) };
    },

    async delete() {
        // nothing in the cloud is this step's
    },
};
