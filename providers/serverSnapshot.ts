// Runbook 000 section A through Nova, for project members who cannot SSH to a compute node: stop the
// broken server and let Nova make the image of its disk.
//   openstack server stop eph-1 && openstack server image create --name "inc1234 DELETE ME" eph-1
// Nova's compute host merges the overlay and its base into the image (libvirt's snapshot converts the
// chain), so the image is whole; it needs a live nova-compute on the server's host. The image carries
// the recovery tags (createImage's metadata becomes its properties) and DELETE ME in its name; an image
// that does not become active is deleted, so none stays in queued or saving.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { compute, image, waitFor } from "../clients/openstack";
import { deleteImageAndWait, deleteOrKeepImage, fenceServer } from "./ops";
import {
    checkInputs,
    diffBy,
    humanBytes,
    madeByThisStep,
    MODULE,
    parse,
    progress,
    recoveryMetadata,
    session,
    TAG_RESOURCE,
    Tagging,
    wire,
} from "./step";
import { StepProvider, type StepImplementation } from "./stub";

const Inputs = Tagging.extend({
    serverId: z.string().min(1),
    name: z.string().min(1),
    /** keep the image on destroy (its recovery tags removed) */
    retain: z.boolean().default(false),
    timeoutSeconds: z.number().positive().default(3600),
});
type Inputs = z.infer<typeof Inputs>;
const Outputs = Inputs.extend({
    imageId: z.string(),
    size: z.number(),
    /** GiB a volume of it needs: the disk's virtual size (Glance's), else Nova's min_disk */
    minVolumeGiB: z.number(),
    status: z.string(),
});
type Outputs = z.infer<typeof Outputs>;

export interface ServerSnapshotArgs {
    incident: pulumi.Input<string>;
    stack: pulumi.Input<string>;
    source?: pulumi.Input<string>;
    serverId: pulumi.Input<string>;
    name: pulumi.Input<string>;
    retain?: pulumi.Input<boolean>;
    timeoutSeconds?: pulumi.Input<number>;
}

/** A DELETE-ME image that Nova made of a stopped server's root disk. */
export class ServerSnapshot extends pulumi.dynamic.Resource {
    declare readonly imageId: pulumi.Output<string>;
    declare readonly minVolumeGiB: pulumi.Output<number>;

    constructor(name: string, args: ServerSnapshotArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            new StepProvider("serverSnapshot"),
            name,
            { imageId: undefined, size: undefined, minVolumeGiB: undefined, status: undefined, ...args, logicalName: name },
            opts,
            MODULE,
            "ServerSnapshot",
        );
    }
}

export const impl: StepImplementation = {
    async check(_olds, news) {
        return checkInputs(Inputs, news);
    },

    async diff(_id, olds, news) {
        return diffBy(olds, news, { replaceOn: ["serverId", "incident", "stack"], updateOn: ["name", "retain", "timeoutSeconds"] });
    },

    async create(raw, env) {
        const i = parse(Inputs, raw, "ServerSnapshot inputs");
        const log = progress("ServerSnapshot", i);
        const s = await session(env, log);
        // an image this step asked for in a killed run: its data never known whole, so deleted first
        // (an active one may be a recorded image being replaced: left to its own delete, or to the sweep at destroy)
        for (const old of await image.listImagesByProperty(s, TAG_RESOURCE, i.logicalName)) {
            if (!madeByThisStep(image.propertiesOf(old), i) || old.status === "active") continue;
            log(`deleting image ${old.id} (${old.status}): an earlier run of this stack asked for it and did not finish`);
            await deleteImageAndWait(s, old.id, 600, log);
        }
        // a consistent image: the guest stopped first (it is broken; the replacement gets its address later)
        await fenceServer(s, i.serverId, i.timeoutSeconds, log);
        const imageId = await compute.createServerImage(s, i.serverId, i.name, recoveryMetadata(i));
        log(`Nova is making image ${imageId} of server ${i.serverId}`);
        try {
            const img = await waitFor({
                what: `image ${imageId} of server ${i.serverId} to become active`,
                poll: () => image.getImage(s, imageId),
                state: (x) => `${x.status}${x.size ? `, ${humanBytes(x.size)}` : ""}`,
                done: (x) => x.status === "active",
                failed: (x) => (["killed", "deleted", "deactivated"].includes(x.status) ? `Nova's upload failed (${x.status})` : undefined),
                timeoutSeconds: i.timeoutSeconds,
                progress: log,
            });
            const minVolumeGiB = Math.max(1, img.virtual_size ? Math.ceil(img.virtual_size / 1024 ** 3) : (img.min_disk ?? 0));
            log(`image ${imageId} is active: ${humanBytes(img.size ?? 0)}, a volume of it needs ${minVolumeGiB} GiB`);
            return { id: imageId, outs: wire({ ...i, imageId, size: img.size ?? 0, minVolumeGiB, status: img.status } satisfies Outputs) };
        } catch (e) {
            await deleteImageAndWait(s, imageId, 600, log).catch((d: Error) => log(`could not delete image ${imageId}: ${d.message}`));
            throw new Error(
                `${i.logicalName}: ${(e as Error).message}. The image was deleted. Nova makes it on the server's compute host: if nova-compute there is down ` +
                    "(`openstack compute service list`), use the compute host's way (ephemeral.computeHost) or bring nova-compute back, then run `pulumi up` again",
            );
        }
    },

    async read(id, props, env) {
        const o = parse(Outputs, props, "ServerSnapshot state");
        const s = await session(env, progress("ServerSnapshot", o));
        const img = await image.findImage(s, id);
        if (!img || img.status === "deleted") return { id: "", props: {} };
        return { id, props: wire({ ...o, status: img.status }) };
    },

    async update(id, olds, news, env) {
        const o = parse(Outputs, olds, "ServerSnapshot state");
        const i = parse(Inputs, news, "ServerSnapshot inputs");
        const s = await session(env, progress("ServerSnapshot", i));
        if (o.name !== i.name) await image.patchImage(s, id, [{ op: "replace", path: "/name", value: i.name }]);
        return { outs: wire({ ...o, ...i }) };
    },

    async delete(id, props, env) {
        const o = parse(Outputs, props, "ServerSnapshot state");
        const log = progress("ServerSnapshot", o);
        const s = await session(env, log);
        await deleteOrKeepImage(s, id, { ...o, kept: `${o.incident}: image of server ${o.serverId}, kept by the recovery` }, log);
    },
};
