// One per stack, the first resource every chain depends on, so the engine deletes it last: at the end
// of a destroy, when every chain's resources are deleted or promoted (untagged), it sweeps what this
// stack created and tagged but its state never knew (an interrupted run: providers/leftovers.ts).
// Before 0.2 the sweep ran in IncidentLock's delete, one per chain; with many chains in one stack
// that swept while other chains still held their ports.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { sweepLeftovers } from "./leftovers";
import { checkInputs, diffBy, MODULE, parse, progress, session, wire } from "./step";
import { StepProvider, type StepImplementation } from "./stub";

const Inputs = z.object({
    incident: z.string().min(1),
    stack: z.string().min(1),
    logicalName: z.string().min(1),
    timeoutSeconds: z.number().positive().default(600),
});

/** Its logical name: one per stack, fixed, so a new incident id updates it instead of replacing it
 *  (a replacement would delete the old one, and sweep, in the middle of an `up`). */
export const SWEEP_NAME = "leftover-sweep";

export interface LeftoverSweepArgs {
    incident: pulumi.Input<string>;
    stack: pulumi.Input<string>;
    timeoutSeconds?: pulumi.Input<number>;
}

export class LeftoverSweep extends pulumi.dynamic.Resource {
    declare readonly stack: pulumi.Output<string>;

    constructor(name: string, args: LeftoverSweepArgs, opts?: pulumi.CustomResourceOptions) {
        super(new StepProvider("leftoverSweep"), name, { ...args, logicalName: name }, opts, MODULE, "LeftoverSweep");
    }
}

export const impl: StepImplementation = {
    async check(_olds, news) {
        return checkInputs(Inputs, news);
    },

    async diff(_id, olds, news) {
        return diffBy(olds, news, { replaceOn: ["stack"], updateOn: ["timeoutSeconds", "incident"], deleteBeforeReplace: true });
    },

    async create(raw) {
        const i = parse(Inputs, raw, "LeftoverSweep inputs");
        // nothing to do until destroy; the id names what it sweeps
        return { id: i.stack, outs: wire(i) };
    },

    async read(id, props) {
        return { id, props };
    },

    async update(_id, _olds, news) {
        return { outs: wire(parse(Inputs, news, "LeftoverSweep inputs")) };
    },

    async delete(_id, props, env) {
        const o = parse(Inputs, props, "LeftoverSweep state");
        const log = progress("LeftoverSweep", o);
        const left = await sweepLeftovers(await session(env, log), o, log, o.timeoutSeconds);
        if (left.length) log(`${left.length} leftover(s) of this stack need you (listed above)`);
    },
};
