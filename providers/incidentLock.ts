// Before anything else: mark the broken server as being recovered by this stack (server metadata
// `recovery-lock=<org/project/stack>`), so a second operator's stack stops at preview instead of
// cloning, fencing and booting the same server twice. Destroy releases it. Only metadata is
// touched, never the server's disks. The sweep of what the state never knew is a step of its own
// (LeftoverSweep, one per stack); a lock written before it (no `sweptBy`) still sweeps in its delete.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { compute, ConflictError } from "../clients/openstack";
import { sweepLeftovers } from "./leftovers";
import { checkInputs, diffBy, MODULE, parse, progress, session, Tagging, wire } from "./step";
import { StepProvider, type StepImplementation } from "./stub";

export const LOCK_KEY = "recovery-lock";

const Inputs = Tagging.extend({
    serverId: z.string().min(1),
    /** the LeftoverSweep of this stack; absent in a lock written before it, which sweeps itself */
    sweptBy: z.string().min(1).nullish(),
});
const Outputs = Inputs.extend({ locked: z.boolean() });

export interface IncidentLockArgs {
    incident: pulumi.Input<string>;
    stack: pulumi.Input<string>;
    serverId: pulumi.Input<string>;
    source?: pulumi.Input<string>;
    /** the logical name of the stack's LeftoverSweep, when there is one */
    sweptBy?: pulumi.Input<string>;
}

export class IncidentLock extends pulumi.dynamic.Resource {
    declare readonly locked: pulumi.Output<boolean>;

    constructor(name: string, args: IncidentLockArgs, opts?: pulumi.CustomResourceOptions) {
        super(new StepProvider("incidentLock"), name, { locked: undefined, ...args, logicalName: name }, opts, MODULE, "IncidentLock");
    }
}

/** The message for a server another stack holds, with what to do about it. */
export function heldBy(serverName: string, holder: string): string {
    return (
        `${serverName} is being recovered by stack ${holder} (server metadata ${LOCK_KEY}): finish or destroy that stack first; ` +
        `if it is gone, remove the stale lock with \`openstack server unset --property ${LOCK_KEY} ${serverName}\``
    );
}

export const impl: StepImplementation = {
    async check(olds, news) {
        // One stack, one server, to the end: the lock is never replaced, so its delete is always the
        // last step of a destroy, which is where the leftover sweep can run safely.
        for (const key of ["serverId", "stack"] as const) {
            const [was, now] = [olds[key], news[key]];
            if (typeof was === "string" && typeof now === "string" && was !== now) {
                return {
                    inputs: news,
                    failures: [
                        {
                            property: key,
                            reason:
                                key === "serverId"
                                    ? `this stack recovers server ${was}; to recover ${now}, use a stack of its own (\`pulumi stack init\`) or destroy this one first`
                                    : `this stack's resources are tagged ${was}; rename the stack back, or destroy it under its old name first`,
                        },
                    ],
                };
            }
        }
        return checkInputs(Inputs, news);
    },

    async diff(_id, olds, news) {
        return diffBy(olds, news, { replaceOn: ["serverId", "stack"], updateOn: ["sweptBy"], deleteBeforeReplace: true });
    },

    async create(raw, env) {
        const i = parse(Inputs, raw, "IncidentLock inputs");
        const log = progress("IncidentLock", i);
        const s = await session(env, log);
        const server = compute.complete(await compute.getServer(s, i.serverId));
        const holder = server.metadata[LOCK_KEY];
        if (holder && holder !== i.stack) throw new Error(heldBy(server.name, holder));
        try {
            await compute.setServerMetadataItem(s, i.serverId, LOCK_KEY, i.stack);
        } catch (e) {
            // Nova refuses metadata changes on a server in ERROR (a dead host): recover it unlocked
            if (!(e instanceof ConflictError)) throw e;
            log(`could not lock ${server.name} (${(e as Error).message}); going on without the lock`);
            return { id: i.serverId, outs: wire({ ...i, locked: false }) };
        }
        log(`locked ${server.name} for this stack (${LOCK_KEY}=${i.stack})`);
        return { id: i.serverId, outs: wire({ ...i, locked: true }) };
    },

    async read(id, props) {
        return { id, props };
    },

    async update(_id, olds, news) {
        // a lock of an older stack learns that the sweep is now a step of its own
        return { outs: { ...olds, sweptBy: news.sweptBy ?? olds.sweptBy ?? null } };
    },

    async delete(id, props, env) {
        const o = parse(Outputs, props, "IncidentLock state");
        const log = progress("IncidentLock", o);
        const s = await session(env, log);
        if (!o.sweptBy) {
            // a lock from before LeftoverSweep: the last step of its destroy, so it sweeps
            const left = await sweepLeftovers(s, o, log);
            if (left.length) log(`${left.length} leftover(s) of this stack need you (listed above); the lock is released anyway`);
        }
        const found = await compute.findServerById(s, id);
        // only our own lock is ever removed, so a lock Nova cannot show (a down cell) is not touched
        const server = found && compute.complete(found);
        if (!server || server.metadata[LOCK_KEY] !== o.stack) return;
        try {
            await compute.deleteServerMetadataItem(s, id, LOCK_KEY);
            log(`released the lock on ${server.name}`);
        } catch (e) {
            if (!(e instanceof ConflictError)) throw e;
            log(
                `could not release the lock on ${server.name} (${(e as Error).message}): remove it with \`openstack server unset --property ${LOCK_KEY} ${server.name}\``,
            );
        }
    },
};
