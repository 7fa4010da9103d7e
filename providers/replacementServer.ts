// Runbook 000 section C: a root volume cannot be swapped under a server, so a new server boots
// from the repaired clone, with the broken server's address (its port) and its data volumes moved
// over. The broken server is stopped, never deleted. Destroy keeps the new server by default.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { blockStorage, compute, waitFor, type Session } from "../clients/openstack";
import { assertOwned, fenceServer, moveVolume, serversTagged, untagServer } from "./ops";
import {
    checkInputs,
    diffBy,
    MODULE,
    parse,
    PartialCreateError,
    partialUpdate,
    progress,
    promotedDescription,
    recoveryMetadata,
    session,
    Tagging,
    wire,
} from "./step";
import { StepProvider, type StepImplementation } from "./stub";

const Inputs = Tagging.extend({
    name: z.string().min(1),
    flavorId: z.string().min(1),
    bootVolumeId: z.string().min(1),
    portIds: z.array(z.string().min(1)).default([]),
    /** when the address is not kept: new ports on these networks */
    networkIds: z.array(z.string().min(1)).default([]),
    availabilityZone: z.string().nullish(),
    keyName: z.string().nullish(),
    /** the guest's hostname (Nova 2.90+); absent: Nova's, from the name */
    hostname: z.string().nullish(),
    brokenServerId: z.string().min(1),
    /** moved from the broken server to the new one (runbook 000 C: "detached ... re-attached") */
    dataVolumeIds: z.array(z.string().min(1)).default([]),
    /** keep the server on destroy (default); false: delete it and give the data volumes back */
    retain: z.boolean().default(true),
    timeoutSeconds: z.number().positive().default(900),
});
type Inputs = z.infer<typeof Inputs>;
const Outputs = Inputs.extend({
    serverId: z.string(),
    status: z.string(),
    ipAddresses: z.array(z.string()),
    movedVolumeIds: z.array(z.string()),
});
type Outputs = z.infer<typeof Outputs>;

export interface ReplacementServerArgs {
    incident: pulumi.Input<string>;
    stack: pulumi.Input<string>;
    /** the id of the broken server this chain recovers (the recovery-source tag) */
    source?: pulumi.Input<string>;
    name: pulumi.Input<string>;
    flavorId: pulumi.Input<string>;
    bootVolumeId: pulumi.Input<string>;
    portIds?: pulumi.Input<pulumi.Input<string>[]>;
    networkIds?: pulumi.Input<pulumi.Input<string>[]>;
    availabilityZone?: pulumi.Input<string>;
    keyName?: pulumi.Input<string>;
    hostname?: pulumi.Input<string>;
    brokenServerId: pulumi.Input<string>;
    dataVolumeIds?: pulumi.Input<pulumi.Input<string>[]>;
    retain?: pulumi.Input<boolean>;
    timeoutSeconds?: pulumi.Input<number>;
}

export class ReplacementServer extends pulumi.dynamic.Resource {
    declare readonly serverId: pulumi.Output<string>;
    declare readonly status: pulumi.Output<string>;
    declare readonly ipAddresses: pulumi.Output<string[]>;
    declare readonly movedVolumeIds: pulumi.Output<string[]>;

    constructor(name: string, args: ReplacementServerArgs, opts?: pulumi.CustomResourceOptions) {
        // Always delete-before-replace, also for `pulumi up --replace` (which asks no Diff, so only this
        // option makes it delete first): the old server holds the port and the volumes the new one boots
        // with, and a create that saw the old one still tagged would adopt it.
        super(
            new StepProvider("replacementServer"),
            name,
            { serverId: undefined, status: undefined, ipAddresses: undefined, movedVolumeIds: undefined, ...args, logicalName: name },
            { deleteBeforeReplace: true, ...opts },
            MODULE,
            "ReplacementServer",
        );
    }
}

const ips = (s: compute.CompleteServer) =>
    Object.values(s.addresses)
        .flat()
        .map((a) => a.addr);

/**
 * The end of create, and what update does for a create that stopped part-way: wait until the server
 * is ACTIVE, move the data volumes not moved yet, promote the clone. `partial` reports how far it got.
 */
async function finish(
    s: Session,
    i: Inputs,
    start: Outputs,
    log: (m: string) => void,
    partial: (e: unknown, step: string, outs: Outputs) => Error,
): Promise<Outputs> {
    let outs = start;
    const serverId = outs.serverId;
    try {
        const server = await waitFor({
            what: `server ${i.name} to become ACTIVE`,
            // a cell that goes down mid-boot stops the wait: the next `up` finishes this create
            poll: async () => compute.complete(await compute.getServer(s, serverId)),
            state: (x) => `${x.status}${x["OS-EXT-STS:task_state"] ? `/${x["OS-EXT-STS:task_state"]}` : ""}`,
            done: (x) => x.status === "ACTIVE",
            failed: (x) => (x.status === "ERROR" ? (x.fault?.message ?? "Nova reports ERROR") : undefined),
            timeoutSeconds: i.timeoutSeconds,
            progress: log,
        });
        outs = { ...outs, status: server.status, ipAddresses: ips(server) };
    } catch (e) {
        throw partial(e, "boot", outs);
    }
    try {
        for (const volumeId of i.dataVolumeIds.filter((v) => !outs.movedVolumeIds.includes(v))) {
            await moveVolume(s, volumeId, i.brokenServerId, serverId, i.timeoutSeconds, log);
            outs = { ...outs, movedVolumeIds: [...outs.movedVolumeIds, volumeId] };
        }
        // the clone is now a server's root: it loses DELETE ME (the VolumeClone removes the tags on destroy)
        await blockStorage.updateVolume(s, i.bootVolumeId, {
            description: promotedDescription(i.incident, `root volume of ${i.name}, repaired copy of server ${i.brokenServerId}'s root`),
        });
    } catch (e) {
        throw partial(e, "moving the data volumes", outs);
    }
    log(`${i.name} is ACTIVE at ${outs.ipAddresses.join(", ") || "(no address)"} with ${outs.movedVolumeIds.length} data volume(s)`);
    return outs;
}

/**
 * A server this step booted but never recorded: an `up` killed while the server was building leaves
 * a pending create, which `pulumi refresh --clear-pending-creates` forgets (an import cannot serve a
 * dynamic resource: the engine's import Read carries no __provider). Found by this step's tags, never
 * by its name, and only one booting from this step's volume in a state it can leave by itself;
 * booting a second one would put two servers on the kept port. finish() then does what
 * the killed run did not (wait for ACTIVE, move the data volumes); one in ERROR is recorded with the
 * error, and the next `up` says how to replace it.
 */
async function leftoverOf(s: Session, i: Inputs, log: (m: string) => void): Promise<compute.CompleteServer | undefined> {
    const { tagged, unreachable } = await serversTagged(s, recoveryMetadata(i));
    // one of them may be ours; boot() still refuses a volume that Cinder shows attached to any server
    if (unreachable.length)
        log(`not searched for an earlier run's replacement: server(s) ${unreachable.join(", ")}, in cells Nova cannot reach`);
    const ours = tagged.filter((x) => x["os-extended-volumes:volumes_attached"].some((v) => v.id === i.bootVolumeId));
    if (ours.length > 1) {
        throw new Error(
            `servers ${ours.map((x) => x.id).join(", ")} are all tagged as this step's replacement booting from ${i.bootVolumeId}: keep one, delete the others (\`openstack server delete <id>\`), then run up again`,
        );
    }
    const [x] = ours;
    const task = x?.["OS-EXT-STS:task_state"];
    if (x && (!["BUILD", "ACTIVE", "ERROR"].includes(x.status) || task === "deleting")) {
        throw new Error(
            `server ${x.name} (${x.id}), booted by an earlier run of this stack, is ${x.status}${task ? `/${task}` : ""} and cannot be adopted: see \`openstack server show ${x.id}\`, delete it or bring it back, then run up again`,
        );
    }
    return x;
}

function adopt(server: compute.CompleteServer, log: (m: string) => void): string {
    log(`adopting server ${server.name} (${server.id}, ${server.status}): an earlier run of this stack booted it and did not finish`);
    return server.id;
}

async function boot(s: Session, i: Inputs, log: (m: string) => void): Promise<string> {
    const volume = await blockStorage.getVolume(s, i.bootVolumeId);
    if (volume.attachments.length) {
        throw new Error(
            `the repaired volume ${volume.id} is still attached to ${blockStorage.attachedWhere(volume)}: the repair step should have released it; detach it and run up again`,
        );
    }
    if (!volume.bootable) await blockStorage.setBootable(s, volume.id, true);
    const serverId = await compute.createServer(s, {
        name: i.name,
        flavorRef: i.flavorId,
        bootVolumeId: i.bootVolumeId,
        portIds: i.portIds,
        networkIds: i.networkIds,
        availabilityZone: i.availabilityZone ?? undefined,
        keyName: i.keyName ?? undefined,
        hostname: i.hostname ?? undefined,
        metadata: recoveryMetadata(i),
    });
    log(`booting ${i.name} (${serverId}) from the repaired volume ${i.bootVolumeId}`);
    return serverId;
}

export const impl: StepImplementation = {
    async check(_olds, news) {
        return checkInputs(Inputs, news);
    },

    async diff(_id, olds, news) {
        // a server cannot change its root volume or ports' identity in place: a new one must boot,
        // and the old must go first (it holds the volume and the address)
        return diffBy(olds, news, {
            replaceOn: [
                "bootVolumeId",
                "flavorId",
                "portIds",
                "networkIds",
                "availabilityZone",
                "keyName",
                "hostname",
                "brokenServerId",
                "incident",
                "stack",
            ],
            updateOn: ["name", "retain", "timeoutSeconds", "dataVolumeIds"],
            deleteBeforeReplace: true,
        });
    },

    async create(raw, env) {
        const i = parse(Inputs, raw, "ReplacementServer inputs");
        const log = progress("ReplacementServer", i);
        const s = await session(env, log);
        // data volumes and the address move only off a server that is stopped
        await fenceServer(s, i.brokenServerId, i.timeoutSeconds, log);
        const leftover = await leftoverOf(s, i, log);
        const serverId = leftover ? adopt(leftover, log) : await boot(s, i, log);
        const outs: Outputs = { ...i, serverId, status: leftover?.status ?? "BUILD", ipAddresses: [], movedVolumeIds: [] };
        const done = await finish(
            s,
            i,
            outs,
            log,
            (e, step, o) => new PartialCreateError(`replacement server ${serverId}: ${step}: ${(e as Error).message}`, serverId, wire(o)),
        );
        return { id: serverId, outs: wire(done) };
    },

    async read(id, props, env) {
        const o = parse(Outputs, props, "ReplacementServer state");
        const s = await session(env, progress("ReplacementServer", o));
        const server = await compute.findServerById(s, id);
        if (!server) return { id: "", props: {} };
        // a down cell's record (UNKNOWN) has no addresses: the recorded ones stay
        return { id, props: wire({ ...o, status: server.status, ipAddresses: compute.isPartial(server) ? o.ipAddresses : ips(server) }) };
    },

    async update(id, olds, news, env) {
        const o = parse(Outputs, olds, "ReplacementServer state");
        const i = parse(Inputs, news, "ReplacementServer inputs");
        const log = progress("ReplacementServer", i);
        const s = await session(env, log);
        if (o.name !== i.name) await compute.renameServer(s, id, i.name);
        const outs: Outputs = { ...o, ...i };
        const pending = i.dataVolumeIds.filter((v) => !o.movedVolumeIds.includes(v));
        // BUILD is what an interrupted create recorded (it never saw the server ACTIVE); ERROR, a refresh of one
        if (!["BUILD", "ERROR"].includes(o.status) && !pending.length) return { outs: wire(outs) };
        const server = await compute.getServer(s, id);
        if (server.status === "ERROR") {
            const what = pending.length ? `refusing to move data volume(s) ${pending.join(", ")} to it` : "it recovered nothing";
            throw partialUpdate(
                `replacement server ${server.name} (${id}) is in ERROR${server.fault?.message ? ` (${server.fault.message})` : ""}: ${what}; ` +
                    `see \`openstack server show ${id}\`, then boot a new one with \`pulumi up --replace <urn of ${i.logicalName}>\` (a replacement in ERROR is deleted, never kept)`,
                id,
                { ...outs, status: server.status },
                news,
            );
        }
        // data volumes move only off a server that is stopped
        if (pending.length) await fenceServer(s, i.brokenServerId, i.timeoutSeconds, log);
        if (o.status === "BUILD") log(`finishing the interrupted create of ${i.name} (${id}, ${server.status})`);
        const done = await finish(s, i, outs, log, (e, step, x) =>
            partialUpdate(`replacement server ${id}: ${step}: ${(e as Error).message}`, id, x, news),
        );
        return { outs: wire(done) };
    },

    async delete(id, props, env) {
        const o = parse(Outputs, props, "ReplacementServer state");
        const log = progress("ReplacementServer", o);
        const s = await session(env, log);
        const found = await compute.findServerById(s, id);
        if (!found) return;
        // its tags cannot be read while its cell is down: neither kept (untagged) nor deleted until it is back
        const server = compute.complete(found);
        // a server that never became ACTIVE recovered nothing: it is not kept, whatever `retain` says
        if (o.retain && server.status !== "ERROR") {
            await untagServer(s, server);
            log(`kept server ${server.name} (${id}); recovery tags removed`);
            return;
        }
        assertOwned(`server ${id}`, server.metadata, o.stack);
        await compute.deleteServer(s, id);
        await waitFor({
            what: `server ${server.name} to be deleted`,
            poll: () => compute.findServerById(s, id),
            state: (x) => x?.status ?? "gone",
            done: (x) => !x,
            timeoutSeconds: o.timeoutSeconds,
            progress: log,
        });
        // the data volumes go back where they came from, if that server still exists
        if (await compute.findServerById(s, o.brokenServerId)) {
            for (const volumeId of o.movedVolumeIds) await moveVolume(s, volumeId, id, o.brokenServerId, o.timeoutSeconds, log);
        }
        log(`deleted server ${server.name}; data volumes returned to ${o.brokenServerId}`);
    },
};
