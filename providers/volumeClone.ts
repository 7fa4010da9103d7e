// Runbook 000 section B step 3: clone the root volume, never touch the original.
//   openstack volume create --source <root> --description "inc1234 DELETE ME" vol-clone-inc1234
// The clone is crash-consistent, like Ceph RBD and LVM clones of an in-use volume.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { blockStorage, waitFor } from "./openstack";
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
        return diffBy(olds, news, { replaceOn: ["sourceVolumeId", "size", "availabilityZone", "volumeType", "incident", "stack"], updateOn: ["name", "retain", "timeoutSeconds"] });
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
        const v = await blockStorage.findVolume(s, id);
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
        if (v.attachments.length) {
            throw new Error(`volume ${id} is attached to server ${v.attachments.map((a) => a.server_id).join(", ")}; refusing to delete it (detach it first, or set retain)`);
        }
        await blockStorage.deleteVolume(s, id);
        await waitFor({
            what: `volume ${id} to be deleted`,
            poll: () => blockStorage.findVolume(s, id),
            state: (x) => x?.status ?? "gone",
            done: (x) => x === undefined,
            failed: (x) => (x?.status === "error_deleting" ? "Cinder could not delete it" : undefined),
            timeoutSeconds: o.timeoutSeconds,
            progress: log,
        });
        log(`deleted volume ${id}`);
    },
};
