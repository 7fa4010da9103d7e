// Runbook 000 section B step 3: clone the root volume, never touch the original.
//   openstack volume create --source <root> --description "inc1234 DELETE ME" vol-clone-inc1234
// The clone is crash-consistent, like Ceph RBD and LVM clones of an in-use volume.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { releaseFromServer } from "./helperAttachment";
import { blockStorage, waitFor, type Session } from "./openstack";
import {
    checkInputs, deleteMeDescription, diffBy, MODULE, parse, PartialCreateError, progress, promotedDescription,
    recoveryMetadata, session, Tagging, TAG_INCIDENT, TAG_RESOURCE, TAG_STACK, wire,
} from "./step";
import { StepProvider, type StepImplementation } from "./stub";

const Inputs = Tagging.extend({
    sourceVolumeId: z.string().min(1),
    name: z.string().min(1),
    /** GiB; default: the source's size (a clone cannot be smaller) */
    size: z.number().int().positive().nullish(),
    availabilityZone: z.string().nullish(),
    volumeType: z.string().nullish(),
    /** keep the clone on destroy (it became the root of the recovered server): promote, don't delete */
    retain: z.boolean().default(false),
    /** the helper it is attached to: an attachment there that no state records (a crash between the
     *  attach call and the state write) is ours, released before the clone is deleted */
    helperServerId: z.string().nullish(),
    timeoutSeconds: z.number().positive().default(1800),
});
type Inputs = z.infer<typeof Inputs>;
const Outputs = Inputs.extend({ volumeId: z.string(), size: z.number(), status: z.string() });
type Outputs = z.infer<typeof Outputs>;

export interface VolumeCloneArgs {
    incident: pulumi.Input<string>;
    stack: pulumi.Input<string>;
    /** the volume to copy; it is only read */
    sourceVolumeId: pulumi.Input<string>;
    name: pulumi.Input<string>;
    size?: pulumi.Input<number>;
    availabilityZone?: pulumi.Input<string>;
    volumeType?: pulumi.Input<string>;
    /** default false: destroy deletes the clone */
    retain?: pulumi.Input<boolean>;
    /** the helper the clone is attached to (see Inputs.helperServerId) */
    helperServerId?: pulumi.Input<string>;
    timeoutSeconds?: pulumi.Input<number>;
}

/** A DELETE-ME copy of a volume, tagged with the stack and incident. */
export class VolumeClone extends pulumi.dynamic.Resource {
    declare readonly volumeId: pulumi.Output<string>;
    declare readonly size: pulumi.Output<number>;
    declare readonly status: pulumi.Output<string>;

    constructor(name: string, args: VolumeCloneArgs, opts?: pulumi.CustomResourceOptions) {
        super(new StepProvider("volumeClone"), name, { volumeId: undefined, status: undefined, ...args, size: args.size, logicalName: name }, opts, MODULE, "VolumeClone");
    }
}

const what = (i: Inputs) => `clone of volume ${i.sourceVolumeId}`;

export const impl: StepImplementation = {
    async check(_olds, news) {
        return checkInputs(Inputs, news);
    },

    async diff(_id, olds, news) {
        // a different source, size, type or zone is a different clone (Cinder cannot change them in place)
        return diffBy(olds, news, { replaceOn: ["sourceVolumeId", "size", "availabilityZone", "volumeType", "incident", "stack"], updateOn: ["name", "retain", "helperServerId", "timeoutSeconds"] });
    },

    async create(raw, env) {
        const i = parse(Inputs, raw, "VolumeClone inputs");
        const log = progress("VolumeClone", i);
        const s = await session(env, log);
        const source = await blockStorage.getVolume(s, i.sourceVolumeId);
        // A clone this stack started but never recorded (a crash between the API call and the state
        // write) is adopted, found by our tags and source, never by its name.
        const leftover = (await blockStorage.listVolumesByMetadata(s, recoveryMetadata(i))).find(
            (v) => v.source_volid === i.sourceVolumeId && !/deleting|error/.test(v.status),
        );
        let volume = leftover;
        if (leftover) log(`adopting volume ${leftover.id}: an earlier run of this stack created it and did not finish`);
        else {
            volume = await blockStorage.createVolume(s, {
                name: i.name,
                description: deleteMeDescription(i.incident, what(i)),
                size: i.size ?? source.size,
                sourceVolumeId: i.sourceVolumeId,
                availabilityZone: i.availabilityZone ?? source.availability_zone ?? undefined,
                volumeType: i.volumeType ?? undefined,
                metadata: recoveryMetadata(i),
            });
            log(`cloning volume ${source.id} (${source.size} GiB, ${source.status}) into ${volume.id}`);
        }
        const id = volume!.id;
        const outs = (v: blockStorage.Volume): Outputs => ({ ...i, volumeId: v.id, size: v.size, status: v.status });
        try {
            volume = await waitFor({
                what: `volume ${id} (${what(i)}) to become available`,
                poll: () => blockStorage.getVolume(s, id),
                state: (v) => v.status,
                done: (v) => v.status === "available",
                failed: (v) => (v.status.startsWith("error") ? `Cinder could not clone ${i.sourceVolumeId}; see the cinder-volume log` : undefined),
                timeoutSeconds: i.timeoutSeconds,
                progress: log,
            });
        } catch (e) {
            throw new PartialCreateError(`volume clone ${id}: ${(e as Error).message}`, id, wire(outs(volume!)));
        }
        return { id, outs: wire(outs(volume!)) };
    },

    async read(id, props, env) {
        const o = parse(Outputs, props, "VolumeClone state");
        const s = await session(env, progress("VolumeClone", o));
        const v = await blockStorage.findVolume(s, id);
        if (!v) return { id: "", props: {} };
        return { id, props: wire({ ...o, size: v.size, status: v.status }) };
    },

    async update(id, olds, news, env) {
        const o = parse(Outputs, olds, "VolumeClone state");
        const i = parse(Inputs, news, "VolumeClone inputs");
        const s = await session(env, progress("VolumeClone", i));
        if (o.name !== i.name) await blockStorage.updateVolume(s, id, { name: i.name });
        return { outs: wire({ ...o, ...i }) };
    },

    async delete(id, props, env) {
        const o = parse(Outputs, props, "VolumeClone state");
        const log = progress("VolumeClone", o);
        const s = await session(env, log);
        let v = await blockStorage.findVolume(s, id);
        if (!v) return; // already gone: destroy can always finish
        if (v.metadata[TAG_STACK] !== o.stack) {
            // never delete what this stack did not create and tag
            throw new Error(`volume ${id} is not tagged ${TAG_STACK}=${o.stack} (it has ${JSON.stringify(v.metadata)}); refusing to delete or change it`);
        }
        if (o.retain) {
            await blockStorage.updateVolume(s, id, { description: promotedDescription(o.incident, `${what(o)}, kept by the recovery`) });
            for (const key of [TAG_STACK, TAG_INCIDENT, TAG_RESOURCE]) await blockStorage.deleteVolumeMetadataKey(s, id, key);
            log(`kept volume ${id}: DELETE ME and the recovery tags removed`);
            return;
        }
        // our own attachment to the helper whose record was lost: released (never one to another server)
        if (o.helperServerId && v.attachments.length && v.attachments.every((a) => a.server_id === o.helperServerId)) {
            log(`volume ${id} is still attached to the helper ${o.helperServerId} (no attachment in the state: an interrupted run); detaching it`);
            await releaseFromServer(s, id, o.helperServerId, o.timeoutSeconds, log);
            v = await blockStorage.getVolume(s, id);
        }
        if (v.attachments.length) {
            throw new Error(`volume ${id} is attached to server ${v.attachments.map((a) => a.server_id).join(", ")}; refusing to delete it (detach it first, or set retain)`);
        }
        await deleteVolumeAndWait(s, id, o.timeoutSeconds, log);
    },
};

/** Delete a volume and wait until Cinder has (Cinder deletes asynchronously; a quota or a re-run must see it gone). */
export async function deleteVolumeAndWait(s: Session, id: string, timeoutSeconds: number, log: (m: string) => void): Promise<void> {
    await blockStorage.deleteVolume(s, id);
    await waitFor({
        what: `volume ${id} to be deleted`,
        poll: () => blockStorage.findVolume(s, id),
        state: (x) => x?.status ?? "gone",
        done: (x) => x === undefined,
        failed: (x) => (x?.status === "error_deleting" ? "Cinder could not delete it" : undefined),
        timeoutSeconds,
        progress: log,
    });
    log(`deleted volume ${id}`);
}
