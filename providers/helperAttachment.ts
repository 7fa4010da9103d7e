// Runbook 000 section B step 4: attach the clone to the helper VM ("snap-mounter").
//   openstack server add volume snap-mounter <clone>
// The attachment is a lease: the repair step releases it when the disk is repaired (so the same
// `pulumi up` can boot the replacement from it); destroy detaches it if it is still held.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { blockStorage, compute } from "../clients/openstack";
import { releaseFromServer, waitAttached } from "./ops";
import { checkInputs, diffBy, MODULE, parse, PartialCreateError, partialUpdate, progress, session, Tagging, wire } from "./step";
import { StepProvider, type StepImplementation } from "./stub";

const Inputs = Tagging.extend({
    helperServerId: z.string().min(1),
    volumeId: z.string().min(1),
    timeoutSeconds: z.number().positive().default(600),
});
type Inputs = z.infer<typeof Inputs>;
const Outputs = Inputs.extend({
    /** the device name Nova reports; informational only: the guest is searched by serial */
    device: z.string().nullable(),
    /** what the guest sees as /dev/disk/by-id/virtio-<serial> */
    serial: z.string(),
    /** false once the repair step has released the volume */
    attached: z.boolean(),
    /** false while the attach was not yet seen in-use (a create that stopped in its wait): update
     *  finishes it. States written before this field come from finished creates. */
    confirmed: z.boolean().default(true),
});
type Outputs = z.infer<typeof Outputs>;

export interface HelperAttachmentArgs {
    incident: pulumi.Input<string>;
    stack: pulumi.Input<string>;
    /** the id of the broken server this chain recovers (the recovery-source tag) */
    source?: pulumi.Input<string>;
    /** the helper server; in another availability zone than the volume only where Nova allows it (cross_az_attach) */
    helperServerId: pulumi.Input<string>;
    volumeId: pulumi.Input<string>;
    timeoutSeconds?: pulumi.Input<number>;
}

export class HelperAttachment extends pulumi.dynamic.Resource {
    declare readonly device: pulumi.Output<string | null>;
    declare readonly serial: pulumi.Output<string>;
    declare readonly attached: pulumi.Output<boolean>;
    declare readonly volumeId: pulumi.Output<string>;
    declare readonly helperServerId: pulumi.Output<string>;

    constructor(name: string, args: HelperAttachmentArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            new StepProvider("helperAttachment"),
            name,
            { device: undefined, serial: undefined, attached: undefined, ...args, logicalName: name },
            opts,
            MODULE,
            "HelperAttachment",
        );
    }
}

/** Virtio exposes the first 20 characters of the volume id as the disk serial. */
export const serialOf = (volumeId: string): string => volumeId.slice(0, 20);

const attachedTo = (v: blockStorage.Volume, serverId: string) => v.attachments.some((a) => a.server_id === serverId);

export const impl: StepImplementation = {
    async check(_olds, news) {
        return checkInputs(Inputs, news);
    },

    async diff(_id, olds, news) {
        // one volume cannot be attached twice: detach the old before attaching anew
        return diffBy(olds, news, { replaceOn: ["helperServerId", "volumeId"], updateOn: ["timeoutSeconds"], deleteBeforeReplace: true });
    },

    async create(raw, env) {
        const i = parse(Inputs, raw, "HelperAttachment inputs");
        const log = progress("HelperAttachment", i);
        const s = await session(env, log);
        const [shown, volume] = await Promise.all([compute.getServer(s, i.helperServerId), blockStorage.getVolume(s, i.volumeId)]);
        const helper = compute.complete(shown);
        const helperAz = compute.availabilityZone(helper);
        if (volume.availability_zone && helperAz && volume.availability_zone !== helperAz) {
            throw new Error(
                `helper ${helper.name} is in availability zone ${helperAz} but volume ${volume.id} is in ${volume.availability_zone}: use a helper in ${volume.availability_zone}`,
            );
        }
        const attachment = attachedTo(volume, i.helperServerId) ? undefined : await compute.attachVolume(s, i.helperServerId, i.volumeId);
        log(`attaching volume ${i.volumeId} to helper ${helper.name} (${helper.id})`);
        const outs: Outputs = { ...i, device: attachment?.device ?? null, serial: serialOf(i.volumeId), attached: true, confirmed: false };
        const id = `${i.helperServerId}/${i.volumeId}`;
        await waitAttached(s, i.volumeId, i.helperServerId, helper.name, i.timeoutSeconds, log).catch((e: unknown) => {
            throw new PartialCreateError(`attach of ${i.volumeId}: ${(e as Error).message}`, id, wire(outs));
        });
        return { id, outs: wire({ ...outs, confirmed: true }) };
    },

    async read(id, props, env) {
        const o = parse(Outputs, props, "HelperAttachment state");
        const s = await session(env, progress("HelperAttachment", o));
        const v = await blockStorage.findVolume(s, o.volumeId);
        // Released by the repair step (or gone with its volume): keep the record, marked released,
        // so a refresh does not make the next `up` attach the disk again.
        return { id, props: wire({ ...o, attached: !!v && attachedTo(v, o.helperServerId) }) };
    },

    async update(id, olds, news, env) {
        const o = parse(Outputs, olds, "HelperAttachment state");
        const i = parse(Inputs, news, "HelperAttachment inputs");
        const outs: Outputs = { ...o, timeoutSeconds: i.timeoutSeconds };
        if (o.confirmed) return { outs: wire(outs) };
        // a create that stopped waiting for the attach: attach again if Nova gave up on it, and wait
        const log = progress("HelperAttachment", i);
        const s = await session(env, log);
        const v = await blockStorage.getVolume(s, o.volumeId);
        let device = o.device;
        if (!attachedTo(v, o.helperServerId) && v.status === "available") {
            log(`volume ${o.volumeId} is not attached to the helper (the interrupted attach did not happen); attaching it again`);
            device = (await compute.attachVolume(s, o.helperServerId, o.volumeId)).device ?? null;
        } else log(`finishing the interrupted attach of volume ${o.volumeId} (${v.status})`);
        await waitAttached(s, o.volumeId, o.helperServerId, o.helperServerId, i.timeoutSeconds, log).catch((e: unknown) => {
            throw partialUpdate(`attach of ${o.volumeId}: ${(e as Error).message}`, id, { ...outs, device }, news);
        });
        return { outs: wire({ ...outs, device, confirmed: true }) };
    },

    async delete(_id, props, env) {
        const o = parse(Outputs, props, "HelperAttachment state");
        const log = progress("HelperAttachment", o);
        const s = await session(env, log);
        // already detached (released by the repair) is success: destroy can always finish
        await releaseFromServer(s, o.volumeId, o.helperServerId, o.timeoutSeconds, log);
    },
};
