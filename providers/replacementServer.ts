// Runbook 000 section C: a root volume cannot be swapped under a server, so a new server boots
// from the repaired clone, with the broken server's address (its port) and its data volumes moved
// over. The broken server is stopped, never deleted. Destroy keeps the new server by default.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { blockStorage, compute, waitFor, type Session } from "./openstack";
import { releaseFromServer } from "./helperAttachment";
import { fenceServer } from "./reservedPort";
import {
    checkInputs, diffBy, MODULE, parse, PartialCreateError, progress, promotedDescription, recoveryMetadata,
    session, Tagging, TAG_INCIDENT, TAG_RESOURCE, TAG_STACK, wire,
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
    name: pulumi.Input<string>;
    flavorId: pulumi.Input<string>;
    bootVolumeId: pulumi.Input<string>;
    portIds?: pulumi.Input<pulumi.Input<string>[]>;
    networkIds?: pulumi.Input<pulumi.Input<string>[]>;
    availabilityZone?: pulumi.Input<string>;
    keyName?: pulumi.Input<string>;
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
        super(new StepProvider("replacementServer"), name, { serverId: undefined, status: undefined, ipAddresses: undefined, movedVolumeIds: undefined, ...args, logicalName: name }, opts, MODULE, "ReplacementServer");
    }
}

const ips = (s: compute.Server) => Object.values(s.addresses).flat().map((a) => a.addr);

/** Detach from one server, attach to another, wait until Cinder shows it there. */
async function moveVolume(s: Session, volumeId: string, from: string, to: string, timeoutSeconds: number, log: (m: string) => void): Promise<void> {
    await releaseFromServer(s, volumeId, from, timeoutSeconds, log);
    const v = await blockStorage.getVolume(s, volumeId);
    if (v.attachments.some((a) => a.server_id === to)) return;
    await compute.attachVolume(s, to, volumeId);
    await waitFor({
        what: `volume ${volumeId} to attach to server ${to}`,
        poll: () => blockStorage.getVolume(s, volumeId),
        state: (x) => x.status,
        done: (x) => x.status === "in-use" && x.attachments.some((a) => a.server_id === to),
        failed: (x) => (x.status.startsWith("error") ? "Cinder reports an error on attach" : undefined),
        timeoutSeconds,
        progress: log,
    });
    log(`moved volume ${volumeId} from server ${from} to ${to}`);
}

export const impl: StepImplementation = {
    async check(_olds, news) {
        return checkInputs(Inputs, news);
    },

    async diff(_id, olds, news) {
        // a server cannot change its root volume or ports' identity in place: a new one must boot,
        // and the old must go first (it holds the volume and the address)
        return diffBy(olds, news, {
            replaceOn: ["bootVolumeId", "flavorId", "portIds", "networkIds", "availabilityZone", "keyName", "brokenServerId", "incident", "stack"],
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
        const boot = await blockStorage.getVolume(s, i.bootVolumeId);
        if (boot.attachments.length) {
            throw new Error(`the repaired volume ${boot.id} is still attached to server ${boot.attachments.map((a) => a.server_id).join(", ")}: the repair step should have released it; detach it and run up again`);
        }
        if (!boot.bootable) await blockStorage.setBootable(s, boot.id, true);
        const serverId = await compute.createServer(s, {
            name: i.name,
            flavorRef: i.flavorId,
            bootVolumeId: i.bootVolumeId,
            portIds: i.portIds,
            networkIds: i.networkIds,
            availabilityZone: i.availabilityZone ?? undefined,
            keyName: i.keyName ?? undefined,
            metadata: recoveryMetadata(i),
        });
        log(`booting ${i.name} (${serverId}) from the repaired volume ${i.bootVolumeId}`);
        let outs: Outputs = { ...i, serverId, status: "BUILD", ipAddresses: [], movedVolumeIds: [] };
        const partial = (e: unknown, step: string) => new PartialCreateError(`replacement server ${serverId}: ${step}: ${(e as Error).message}`, serverId, wire(outs));
        try {
            const server = await waitFor({
                what: `server ${i.name} to become ACTIVE`,
                poll: () => compute.getServer(s, serverId),
                state: (x) => `${x.status}${x["OS-EXT-STS:task_state"] ? `/${x["OS-EXT-STS:task_state"]}` : ""}`,
                done: (x) => x.status === "ACTIVE",
                failed: (x) => (x.status === "ERROR" ? x.fault?.message ?? "Nova reports ERROR" : undefined),
                timeoutSeconds: i.timeoutSeconds,
                progress: log,
            });
            outs = { ...outs, status: server.status, ipAddresses: ips(server) };
        } catch (e) {
            throw partial(e, "boot");
        }
        try {
            for (const volumeId of i.dataVolumeIds) {
                await moveVolume(s, volumeId, i.brokenServerId, serverId, i.timeoutSeconds, log);
                outs = { ...outs, movedVolumeIds: [...outs.movedVolumeIds, volumeId] };
            }
            // the clone is now a server's root: it loses DELETE ME (the VolumeClone removes the tags on destroy)
            await blockStorage.updateVolume(s, i.bootVolumeId, { description: promotedDescription(i.incident, `root volume of ${i.name}, repaired copy of server ${i.brokenServerId}'s root`) });
        } catch (e) {
            throw partial(e, "moving the data volumes");
        }
        log(`${i.name} is ACTIVE at ${outs.ipAddresses.join(", ") || "(no address)"} with ${outs.movedVolumeIds.length} data volume(s)`);
        return { id: serverId, outs: wire(outs) };
    },

    async read(id, props, env) {
        const o = parse(Outputs, props, "ReplacementServer state");
        const s = await session(env, progress("ReplacementServer", o));
        const server = await compute.findServerById(s, id);
        if (!server) return { id: "", props: {} };
        return { id, props: wire({ ...o, status: server.status, ipAddresses: ips(server) }) };
    },

    async update(id, olds, news, env) {
        const o = parse(Outputs, olds, "ReplacementServer state");
        const i = parse(Inputs, news, "ReplacementServer inputs");
        const log = progress("ReplacementServer", i);
        const s = await session(env, log);
        if (o.name !== i.name) await s.request("compute", { what: `rename server ${id}`, method: "PUT", path: `/servers/${id}`, body: { server: { name: i.name } }, microversion: compute.COMPUTE_MICROVERSION });
        const moved = [...o.movedVolumeIds];
        for (const volumeId of i.dataVolumeIds.filter((v) => !moved.includes(v))) {
            await moveVolume(s, volumeId, i.brokenServerId, id, i.timeoutSeconds, log);
            moved.push(volumeId);
        }
        return { outs: wire({ ...o, ...i, movedVolumeIds: moved }) };
    },

    async delete(id, props, env) {
        const o = parse(Outputs, props, "ReplacementServer state");
        const log = progress("ReplacementServer", o);
        const s = await session(env, log);
        const server = await compute.findServerById(s, id);
        if (!server) return;
        // a server that never became ACTIVE recovered nothing: it is not kept, whatever `retain` says
        if (o.retain && server.status !== "ERROR") {
            for (const key of [TAG_STACK, TAG_INCIDENT, TAG_RESOURCE]) await compute.deleteServerMetadataItem(s, id, key);
            log(`kept server ${server.name} (${id}); recovery tags removed`);
            return;
        }
        if (server.metadata[TAG_STACK] !== o.stack) throw new Error(`server ${id} is not tagged ${TAG_STACK}=${o.stack}; refusing to delete it`);
        await compute.deleteServer(s, id);
        await waitFor({ what: `server ${server.name} to be deleted`, poll: () => compute.findServerById(s, id), state: (x) => x?.status ?? "gone", done: (x) => !x, timeoutSeconds: o.timeoutSeconds, progress: log });
        // the data volumes go back where they came from, if that server still exists
        if (await compute.findServerById(s, o.brokenServerId)) {
            for (const volumeId of o.movedVolumeIds) await moveVolume(s, volumeId, id, o.brokenServerId, o.timeoutSeconds, log);
        }
        log(`deleted server ${server.name}; data volumes returned to ${o.brokenServerId}`);
    },
};
