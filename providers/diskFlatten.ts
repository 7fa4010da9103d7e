// Runbook 000 section A step 8: merge the ephemeral disk and its base into one image.
//   qemu-img rebase -F qcow2 -b '' -f qcow2 <uuid>-disk
// The copy names its base by the compute host's absolute path, which does not exist here: the
// header is first re-pointed at the local copy (`rebase -u`, header only), then the chain is
// converted into a new file (the runbook's safe rebase in place costs as much and leaves no original
// to retry from). The result must have no backing file; its sha512 goes to the upload, which must
// carry exactly these bytes.
import { execFile, execFileSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { checkInputs, diffBy, MODULE, parse, progress, Tagging, wire, humanBytes, fileHash } from "./step";
import { StepProvider, type StepImplementation } from "./stub";

const Inputs = Tagging.extend({
    /** the copied overlay (qcow2); its header is re-pointed at baseFile */
    overlayFile: z.string().startsWith("/"),
    /** the local copy of its backing file; none: the disk is whole already */
    baseFile: z.string().startsWith("/").nullish(),
    /** the overlay's sha256 as copied: a new copy is a new merge */
    overlaySha256: z.string().nullish(),
    timeoutSeconds: z.number().positive().default(3600),
});
type Inputs = z.infer<typeof Inputs>;
const Outputs = Inputs.extend({
    mergedFile: z.string(),
    sha512: z.string(),
    size: z.number(),
    virtualSize: z.number(),
});
type Outputs = z.infer<typeof Outputs>;

export interface DiskFlattenArgs {
    incident: pulumi.Input<string>;
    stack: pulumi.Input<string>;
    source?: pulumi.Input<string>;
    overlayFile: pulumi.Input<string>;
    baseFile?: pulumi.Input<string | null>;
    overlaySha256?: pulumi.Input<string>;
    timeoutSeconds?: pulumi.Input<number>;
}

/** A DELETE-ME qcow2 with no backing file: the overlay and its base merged, on this machine. */
export class DiskFlatten extends pulumi.dynamic.Resource {
    declare readonly mergedFile: pulumi.Output<string>;
    declare readonly sha512: pulumi.Output<string>;
    declare readonly size: pulumi.Output<number>;
    declare readonly virtualSize: pulumi.Output<number>;

    constructor(name: string, args: DiskFlattenArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            new StepProvider("diskFlatten"),
            name,
            { mergedFile: undefined, sha512: undefined, size: undefined, virtualSize: undefined, ...args, logicalName: name },
            opts,
            MODULE,
            "DiskFlatten",
        );
    }
}

const gib = humanBytes;
const Info = z.object({
    format: z.string(),
    "backing-filename-format": z.string().optional(),
    "virtual-size": z.number(),
    "backing-filename": z.string().optional(),
    "actual-size": z.number().optional(),
});

/** qemu-img info, with the format given when it is known: a raw disk whose data starts like a qcow2 header (a
 *  guest can write that) must never be read as one, or its "backing file" would be opened on this machine */
function info(file: string, format?: string): z.infer<typeof Info> {
    const args = ["info", "--output=json", ...(format ? ["-f", format] : []), file];
    return Info.parse(JSON.parse(execFileSync("qemu-img", args, { encoding: "utf8" })));
}

export const impl: StepImplementation = {
    async check(_olds, news) {
        return checkInputs(Inputs, news);
    },

    async diff(_id, olds, news) {
        return diffBy(olds, news, {
            replaceOn: ["overlayFile", "baseFile", "overlaySha256", "incident", "stack"],
            updateOn: ["timeoutSeconds"],
        });
    },

    async create(raw) {
        const i = parse(Inputs, raw, "DiskFlatten inputs");
        const log = progress("DiskFlatten", i);
        // a name of this create's own: a replacement is created before the old one's delete runs
        const merged = path.join(path.dirname(i.overlayFile), `merged-${randomBytes(3).toString("hex")}.qcow2`);
        const run = promisify(execFile);
        const ov = info(i.overlayFile, "qcow2");
        if (ov.format !== "qcow2") throw new Error(`${i.logicalName}: ${i.overlayFile} is ${ov.format}, not a qcow2 overlay`);
        // the merged image holds at most the allocated data of both: checked before qemu-img fills the disk
        const need = fs.statSync(i.overlayFile).size + (i.baseFile ? fs.statSync(i.baseFile).size : 0);
        const free = Number(
            execFileSync("df", ["-B1", "--output=avail", path.dirname(merged)], { encoding: "utf8" })
                .trim()
                .split("\n")
                .at(-1),
        );
        if (free < need)
            throw new Error(
                `${i.logicalName}: ${path.dirname(merged)} has ${gib(free)} free; the merged image needs up to ${gib(need)}. Free space there or set ephemeral.workDir elsewhere`,
            );
        if (ov["backing-filename"]) {
            if (!i.baseFile)
                throw new Error(
                    `${i.logicalName}: ${i.overlayFile} has a backing file (${ov["backing-filename"]}) and no local copy of it was given`,
                );
            // the format the overlay names for its base (Nova writes it); only without one is it probed
            const baseFormat = ov["backing-filename-format"] ?? info(i.baseFile).format;
            const base = info(i.baseFile, baseFormat);
            if (base["backing-filename"])
                throw new Error(
                    `${i.logicalName}: the base ${i.baseFile} (${baseFormat}) names a backing file of its own (${base["backing-filename"]}); Nova's _base files are whole. Check the copy, then run up again`,
                );
            // header only: the compute host's path becomes the local copy's
            await run("qemu-img", ["rebase", "-u", "-F", baseFormat, "-b", i.baseFile, i.overlayFile]);
            log(`re-pointed ${i.overlayFile} from ${ov["backing-filename"]} to ${i.baseFile} (${baseFormat})`);
        }
        const t0 = Date.now();
        try {
            await run("qemu-img", ["convert", "-f", "qcow2", "-O", "qcow2", i.overlayFile, merged], { timeout: i.timeoutSeconds * 1000 });
        } catch (e) {
            fs.rmSync(merged, { force: true });
            throw new Error(
                `${i.logicalName}: qemu-img convert ${i.overlayFile} failed: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`,
            );
        }
        const m = info(merged, "qcow2");
        if (m["backing-filename"]) {
            fs.rmSync(merged, { force: true });
            throw new Error(`${i.logicalName}: the merged image still names a backing file (${m["backing-filename"]}); it was deleted`);
        }
        const sha512 = await fileHash("sha512", merged);
        const size = fs.statSync(merged).size;
        log(
            `merged into ${merged}: ${gib(size)} (virtual ${gib(m["virtual-size"])}), no backing file, in ${((Date.now() - t0) / 1000).toFixed(0)}s`,
        );
        const outs: Outputs = { ...i, mergedFile: merged, sha512, size, virtualSize: m["virtual-size"] };
        return { id: merged, outs: wire(outs) };
    },

    async read(id, props) {
        const o = parse(Outputs, props, "DiskFlatten state");
        if (!fs.existsSync(o.mergedFile)) return { id: "", props: {} };
        return { id, props: wire(o) };
    },

    async update(_id, olds, news) {
        const o = parse(Outputs, olds, "DiskFlatten state");
        return { outs: wire({ ...o, ...parse(Inputs, news, "DiskFlatten inputs") }) };
    },

    async delete(_id, props) {
        const o = parse(Outputs, props, "DiskFlatten state");
        fs.rmSync(o.mergedFile, { force: true });
        progress("DiskFlatten", o)(`deleted ${o.mergedFile}`);
    },
};
