// Runbook 000 section A step 8: upload the merged (flattened) ephemeral disk to Glance.
//   openstack image create --disk-format qcow2 --file disk-merged.qcow2 "<incident> DELETE ME"
// Streamed from the work host's file (never buffered: clients that buffer run out of memory on
// 1-2 GB images), the size announced, sha512 computed while streaming and compared with what Glance
// says it stored (os_hash_value, glance's hashing_algorithm default). A failed or unverified upload
// deletes its image: none stays in queued or saving (anchors-recipes.md section 2).
import { execFile } from "child_process";
import { getHashes } from "crypto";
import * as fs from "fs";
import { promisify } from "util";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { image, type Session } from "../clients/openstack";
import { deleteImageAndWait, deleteOrKeepImage } from "./ops";
import {
    checkInputs,
    deleteMeDescription,
    diffBy,
    madeByThisStep,
    MODULE,
    parse,
    progress,
    promotedDescription,
    recoveryMetadata,
    session,
    TAG_RESOURCE,
    Tagging,
    wire,
    humanBytes,
    hashingMeter,
    fileHash,
} from "./step";
import { StepProvider, type StepImplementation } from "./stub";

const Inputs = Tagging.extend({
    /** the flattened image on the machine that runs pulumi; only read */
    file: z.string().min(1),
    name: z.string().min(1),
    diskFormat: z.enum(["qcow2", "raw"]).default("qcow2"),
    /** the file's sha512 as the step that made it computed it: the upload must carry exactly those bytes
     *  (an input of its own: the output `sha512` is what was uploaded, and a diff compares olds' outputs) */
    expectedSha512: z
        .string()
        .regex(/^[0-9a-f]{128}$/, "a sha512 in hex (128 characters)")
        .nullish(),
    /** keep the image on destroy: promote it (DELETE ME and the tags removed) */
    retain: z.boolean().default(false),
    timeoutSeconds: z.number().positive().default(3600),
});
type Inputs = z.infer<typeof Inputs>;
const Outputs = Inputs.extend({ imageId: z.string(), size: z.number(), sha512: z.string(), status: z.string() });
type Outputs = z.infer<typeof Outputs>;

export interface ImageUploadArgs {
    incident: pulumi.Input<string>;
    stack: pulumi.Input<string>;
    source?: pulumi.Input<string>;
    file: pulumi.Input<string>;
    name: pulumi.Input<string>;
    diskFormat?: pulumi.Input<"qcow2" | "raw">;
    expectedSha512?: pulumi.Input<string>;
    retain?: pulumi.Input<boolean>;
    timeoutSeconds?: pulumi.Input<number>;
}

/** A DELETE-ME Glance image holding exactly the bytes of a local file, verified by sha512. */
export class ImageUpload extends pulumi.dynamic.Resource {
    declare readonly imageId: pulumi.Output<string>;
    declare readonly size: pulumi.Output<number>;
    declare readonly sha512: pulumi.Output<string>;
    declare readonly status: pulumi.Output<string>;

    constructor(name: string, args: ImageUploadArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            new StepProvider("imageUpload"),
            name,
            { imageId: undefined, size: undefined, sha512: undefined, status: undefined, ...args, logicalName: name },
            opts,
            MODULE,
            "ImageUpload",
        );
    }
}

const what = (i: Inputs) => `image of ${i.file}`;
const gib = humanBytes;

/** The image must be whole on its own: Glance's format inspector refuses a qcow2 with a backing file, but only
 *  after the whole upload (glance 75a8851c1, LP#2059809), so that is checked here, before a byte is sent. */
async function inspect(i: Inputs): Promise<{ size: number }> {
    let size: number;
    try {
        size = fs.statSync(i.file).size;
    } catch (e) {
        throw new Error(
            `${i.logicalName}: cannot read ${i.file} (${(e as NodeJS.ErrnoException).code}): the flattened image must exist on this machine`,
        );
    }
    const { stdout } = await promisify(execFile)("qemu-img", ["info", "--output=json", i.file]).catch((e: Error) => {
        throw new Error(`${i.logicalName}: qemu-img info ${i.file} failed: ${e.message}`);
    });
    const info = z.object({ format: z.string(), "backing-filename": z.string().optional() }).parse(JSON.parse(stdout));
    if (info["backing-filename"])
        throw new Error(
            `${i.logicalName}: ${i.file} has a backing file (${info["backing-filename"]}); Glance refuses it after the whole upload. Flatten it first: qemu-img convert -O qcow2 ${i.file} merged.qcow2`,
        );
    if (info.format !== i.diskFormat)
        throw new Error(`${i.logicalName}: ${i.file} is ${info.format}, not ${i.diskFormat}: set diskFormat to ${info.format}`);
    return { size };
}

/** Upload, then check what Glance stored; the reason it is not the file's bytes, or undefined. */
async function upload(
    s: Session,
    i: Inputs,
    id: string,
    size: number,
    log: (m: string) => void,
): Promise<{ sha512: string; img: image.Image }> {
    const m = hashingMeter("sha512", size, `uploading ${i.file}`, log);
    const file = fs.createReadStream(i.file, { highWaterMark: 1024 * 1024 });
    file.on("error", (e) => m.stream.destroy(e));
    const t0 = Date.now();
    try {
        await image.uploadImageData(s, id, file.pipe(m.stream), size);
    } catch (e) {
        throw new Error(
            `the transfer was cut off after ${gib(m.bytes())} of ${gib(size)} (${(e as Error).message}). Glance has no whole copy; the image was deleted. Run \`pulumi up\` again to upload it anew`,
        );
    }
    const sha512 = m.hex();
    if (i.expectedSha512 && sha512 !== i.expectedSha512)
        throw new Error(
            `${i.file} is not the file its maker hashed (sha512 ${sha512.slice(0, 16)}..., expected ${i.expectedSha512.slice(0, 16)}...): it changed on this machine after it was made; make it again (\`pulumi up --replace\` of the step that made it)`,
        );
    const img = await image.getImage(s, id);
    if (img.status !== "active" || img.size !== size)
        throw new Error(
            `the transfer was cut off: Glance holds ${img.size ?? 0} of ${size} bytes (image ${img.status}); the image was deleted. Run \`pulumi up\` again to upload it anew`,
        );
    // a Glance whose hashing_algorithm is not the default sha512: the file is hashed again with Glance's
    const algo = img.os_hash_algo ?? "sha512";
    if (!getHashes().includes(algo))
        throw new Error(
            `Glance hashed image ${id} with ${algo}, which this machine cannot compute; the image was deleted. Ask for Glance's hashing_algorithm to be sha512`,
        );
    const ours = algo === "sha512" ? sha512 : await fileHash(algo, i.file);
    if (img.os_hash_value !== ours)
        throw new Error(
            `the image was corrupted in transfer: Glance's ${algo} ${String(img.os_hash_value).slice(0, 16)}... is not the file's ${algo} ${ours.slice(0, 16)}... (same size, different bytes: a proxy or the network changed them); the image was deleted. Run \`pulumi up\` again; if it repeats, check what sits between this machine and Glance`,
        );
    log(`uploaded ${gib(size)} to image ${id} in ${((Date.now() - t0) / 1000).toFixed(0)}s; Glance's ${algo} matches the file's`);
    return { sha512, img };
}

export const impl: StepImplementation = {
    async check(_olds, news) {
        return checkInputs(Inputs, news);
    },

    async diff(_id, olds, news) {
        // other bytes are another image: Glance data is immutable once active
        return diffBy(olds, news, {
            replaceOn: ["file", "diskFormat", "expectedSha512", "incident", "stack"],
            updateOn: ["name", "retain", "timeoutSeconds"],
        });
    },

    async create(raw, env) {
        const i = parse(Inputs, raw, "ImageUpload inputs");
        const log = progress("ImageUpload", i);
        const { size } = await inspect(i);
        const s = await session(env, log);
        // an upload of this step that a crash interrupted: ours by its tags, never whole, so deleted first
        // (an active one may be a recorded image being replaced: left to its own delete, or to the sweep at destroy)
        for (const old of await image.listImagesByProperty(s, TAG_RESOURCE, i.logicalName)) {
            if (!madeByThisStep(image.propertiesOf(old), i) || old.status === "active") continue;
            log(`deleting image ${old.id} (${old.status}): an earlier run of this stack started it and did not finish`);
            await deleteImageAndWait(s, old.id, 600, log);
        }
        const made = await image.createImage(s, {
            name: i.name,
            diskFormat: i.diskFormat,
            properties: { ...recoveryMetadata(i), description: deleteMeDescription(i.incident, what(i)) },
        });
        log(`uploading ${i.file} (${gib(size)}) to image ${made.id}`);
        try {
            const { sha512, img } = await upload(s, i, made.id, size, log);
            return { id: made.id, outs: wire({ ...i, imageId: made.id, size, sha512, status: img.status } satisfies Outputs) };
        } catch (e) {
            await deleteImageAndWait(s, made.id, 600, log).catch((d: Error) => log(`could not delete image ${made.id}: ${d.message}`));
            throw new Error(`${i.logicalName}: ${(e as Error).message}`);
        }
    },

    async read(id, props, env) {
        const o = parse(Outputs, props, "ImageUpload state");
        const s = await session(env, progress("ImageUpload", o));
        const img = await image.findImage(s, id);
        if (!img || img.status === "deleted") return { id: "", props: {} };
        return { id, props: wire({ ...o, status: img.status }) };
    },

    async update(id, olds, news, env) {
        const o = parse(Outputs, olds, "ImageUpload state");
        const i = parse(Inputs, news, "ImageUpload inputs");
        const s = await session(env, progress("ImageUpload", i));
        if (o.name !== i.name) await image.patchImage(s, id, [{ op: "replace", path: "/name", value: i.name }]);
        return { outs: wire({ ...o, ...i, sha512: o.sha512 }) };
    },

    async delete(id, props, env) {
        const o = parse(Outputs, props, "ImageUpload state");
        const log = progress("ImageUpload", o);
        const s = await session(env, log);
        // never one this stack did not create and tag (ops.ts)
        await deleteOrKeepImage(s, id, { ...o, kept: promotedDescription(o.incident, `${what(o)}, kept by the recovery`) }, log);
    },
};
