// Runbook 000 section B step 3: clone the root volume, never touch the original.
//   openstack volume create --source <root> --description "inc1234 DELETE ME" vol-clone-inc1234
// The clone is crash-consistent, like Ceph RBD and LVM clones of an in-use volume.
// Section C for an ephemeral root: the same DELETE-ME volume, made from the uploaded merged image
//   openstack volume create --image <merged image> --size <GiB> --bootable vol-clone-inc1234
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { blockStorage, waitFor, type Session } from "../clients/openstack";
import { assertOwned, deleteVolumeAndWait, releaseFromServer, untagVolume } from "./ops";
import {
    checkInputs,
    deleteMeDescription,
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
    /** the volume to copy (section B); or */
    sourceVolumeId: z.string().min(1).nullish(),
    /** the image to make the volume from (section C, an ephemeral root); exactly one of the two */
    sourceImageId: z.string().min(1).nullish(),
    name: z.string().min(1),
    /** GiB; default: the source volume's size (a clone cannot be smaller); required with sourceImageId */
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
    /** the id of the broken server this chain recovers (the recovery-source tag) */
    source?: pulumi.Input<string>;
    /** the volume to copy; it is only read */
    sourceVolumeId?: pulumi.Input<string>;
    /** or the image to make it from */
    sourceImageId?: pulumi.Input<string>;
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
        super(
            new StepProvider("volumeClone"),
            name,
            { volumeId: undefined, status: undefined, ...args, size: args.size, logicalName: name },
            opts,
            MODULE,
            "VolumeClone",
        );
    }
}

const what = (i: Inputs) => (i.sourceImageId ? `volume from image ${i.sourceImageId}` : `clone of volume ${i.sourceVolumeId}`);

const outputsOf = (i: Inputs, v: blockStorage.Volume): Outputs => ({ ...i, volumeId: v.id, size: v.size, status: v.status });

/** Cinder's states while it still copies the source (an `available` clone may be attached later). */
const cloning = (status: string) => status === "creating" || status === "downloading";

/** Wait until Cinder has finished the copy; `partial` reports the volume as last seen. */
async function waitAvailable(
    s: Session,
    i: Inputs,
    id: string,
    log: (m: string) => void,
    partial: (e: unknown, last: blockStorage.Volume | undefined) => Error,
): Promise<blockStorage.Volume> {
    let last: blockStorage.Volume | undefined;
    try {
        return await waitFor({
            what: `volume ${id} (${what(i)}) to become available`,
            poll: async () => (last = await blockStorage.getVolume(s, id)),
            state: (v) => v.status,
            done: (v) => v.status === "available",
            failed: (v) =>
                v.status.startsWith("error")
                    ? `Cinder could not ${i.sourceImageId ? `make a volume of image ${i.sourceImageId}` : `clone ${i.sourceVolumeId}`}; see the cinder-volume log, then make a new clone with \`pulumi up --replace <urn of ${i.logicalName}>\``
                    : undefined,
            timeoutSeconds: i.timeoutSeconds,
            progress: log,
        });
    } catch (e) {
        throw partial(e, last);
    }
}

export const impl: StepImplementation = {
    async check(_olds, news) {
        return checkInputs(Inputs, news);
    },

    async diff(_id, olds, news) {
        // a different source, size, type or zone is a different clone (Cinder cannot change them in place)
        return diffBy(olds, news, {
            replaceOn: ["sourceVolumeId", "sourceImageId", "size", "availabilityZone", "volumeType", "incident", "stack"],
            updateOn: ["name", "retain", "helperServerId", "timeoutSeconds"],
        });
    },

    async create(raw, env) {
        const i = parse(Inputs, raw, "VolumeClone inputs");
        const log = progress("VolumeClone", i);
        const s = await session(env, log);
        if (!i.sourceVolumeId === !i.sourceImageId)
            throw new Error(`${i.logicalName}: give exactly one of sourceVolumeId and sourceImageId (a bug in the recipe that built it)`);
        if (i.sourceImageId && !i.size) throw new Error(`${i.logicalName}: a volume from image ${i.sourceImageId} needs a size`);
        const source = i.sourceVolumeId ? await blockStorage.getVolume(s, i.sourceVolumeId) : undefined;
        const fromSource = (v: blockStorage.Volume) =>
            i.sourceVolumeId
                ? v.source_volid === i.sourceVolumeId
                : // Cinder records the image only once its download is done: one still downloading has no record yet
                  !v.source_volid && (v.volume_image_metadata?.image_id ?? i.sourceImageId) === i.sourceImageId;
        // A clone this stack started but never recorded (a crash between the API call and the state
        // write) is adopted, found by our tags and source, never by its name.
        const leftover = (await blockStorage.listVolumesByMetadata(s, recoveryMetadata(i))).find(
            (v) => fromSource(v) && !/deleting|error/.test(v.status),
        );
        let volume = leftover;
        if (leftover) log(`adopting volume ${leftover.id}: an earlier run of this stack created it and did not finish`);
        else {
            volume = await blockStorage.createVolume(s, {
                name: i.name,
                description: deleteMeDescription(i.incident, what(i)),
                size: i.size ?? source!.size,
                sourceVolumeId: i.sourceVolumeId ?? undefined,
                imageId: i.sourceImageId ?? undefined,
                availabilityZone: i.availabilityZone ?? source?.availability_zone ?? undefined,
                volumeType: i.volumeType ?? undefined,
                metadata: recoveryMetadata(i),
            });
            log(
                source
                    ? `cloning volume ${source.id} (${source.size} GiB, ${source.status}) into ${volume.id}`
                    : `copying image ${i.sourceImageId} into volume ${volume.id} (${i.size} GiB)`,
            );
        }
        const id = volume!.id;
        const done = await waitAvailable(
            s,
            i,
            id,
            log,
            (e, v) => new PartialCreateError(`volume clone ${id}: ${(e as Error).message}`, id, wire(outputsOf(i, v ?? volume!))),
        );
        return { id, outs: wire(outputsOf(i, done)) };
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
        const log = progress("VolumeClone", i);
        const s = await session(env, log);
        if (o.name !== i.name) await blockStorage.updateVolume(s, id, { name: i.name });
        // a create that stopped while Cinder was still copying (or in error): finish it, or say why not
        if (!cloning(o.status) && !o.status.startsWith("error")) return { outs: wire({ ...o, ...i }) };
        log(`finishing the interrupted clone ${id} (${o.status})`);
        const done = await waitAvailable(s, i, id, log, (e, v) =>
            partialUpdate(`volume clone ${id}: ${(e as Error).message}`, id, v ? outputsOf(i, v) : { ...o, ...i }, news),
        );
        return { outs: wire(outputsOf(i, done)) };
    },

    async delete(id, props, env) {
        const o = parse(Outputs, props, "VolumeClone state");
        const log = progress("VolumeClone", o);
        const s = await session(env, log);
        let v = await blockStorage.findVolume(s, id);
        if (!v) return; // already gone: destroy can always finish
        assertOwned(`volume ${id}`, v.metadata, o.stack); // never delete what this stack did not create and tag
        if (o.retain) {
            await blockStorage.updateVolume(s, id, { description: promotedDescription(o.incident, `${what(o)}, kept by the recovery`) });
            await untagVolume(s, v);
            log(`kept volume ${id}: DELETE ME and the recovery tags removed`);
            return;
        }
        // our own attachment to the helper whose record was lost: released (never one to another server)
        if (o.helperServerId && v.attachments.length && v.attachments.every((a) => a.server_id === o.helperServerId)) {
            log(
                `volume ${id} is still attached to the helper ${o.helperServerId} (no attachment in the state: an interrupted run); detaching it`,
            );
            await releaseFromServer(s, id, o.helperServerId, o.timeoutSeconds, log);
            v = await blockStorage.getVolume(s, id);
        }
        if (v.attachments.length) {
            throw new Error(
                `volume ${id} is attached to ${blockStorage.attachedWhere(v)}; refusing to delete it (detach it first, or set retain)`,
            );
        }
        await deleteVolumeAndWait(s, id, o.timeoutSeconds, log);
    },
};
