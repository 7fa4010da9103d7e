// The Glance upload step (providers/imageUpload.ts) on the lab's real Glance, through Pulumi's real runner
// and provider host (test/e2e/image-upload: one ImageUpload): the bytes Glance stores are the file's
// (sha512sum of the file against Glance's os_hash_value), a second up changes nothing, destroy deletes it;
// an image with a backing file is refused before Glance is called; an upload cut off half-way and one with
// a flipped byte (a proxy in front of Glance, test/support/faultProxy.ts) fail saying which and leave no image.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { z } from "zod";
import { checkpointPath, destroy, EngineRunError, preview, up, type StackRun } from "../engine";
import { faultProxy } from "../support/faultProxy";
import { CLOUDS_YAML, REPO, requireLab } from "../support/lab";
import { osc, oscRun } from "../support/oscli";

jest.setTimeout(10 * 60_000);

const GLANCE_PORT = 9292;
const MiB = 1024 * 1024;
const Images = z.array(z.object({ ID: z.string() }));
const ImageShow = z.object({ status: z.string(), size: z.number().nullish(), properties: z.record(z.string(), z.unknown()).nullish() });

/** images any run of this test's stacks tagged */
function taggedImages(stack: string): string[] {
    return osc(["image", "list", "--property", `recovery-stack=${stack}`], Images).map((i) => i.ID);
}

describe("the Glance upload step on the lab", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "osr-upload-"));
    const file = path.join(tmp, "merged.qcow2");
    let sha512 = "";

    function run(stack: string, cloudsFile = CLOUDS_YAML, f = file): StackRun {
        return {
            stack,
            config: { "openstack:cloud": "lab-member", "image-upload:incident": "INC0060", "image-upload:file": f },
            stateFile: checkpointPath(path.join(tmp, "state"), "image-upload", stack),
            projectDir: path.join(REPO, "test", "e2e", "image-upload"),
            env: { OS_CLIENT_CONFIG_FILE: cloudsFile },
        };
    }

    /** clouds.yaml with lab-member's Glance behind a proxy */
    function cloudsVia(url: string): string {
        const c = yaml.load(fs.readFileSync(CLOUDS_YAML, "utf8")) as { clouds: Record<string, Record<string, unknown>> };
        c.clouds["lab-member"]!.image_endpoint_override = url;
        const out = path.join(tmp, `clouds-${path.basename(url).replace(/\W/g, "_")}.yaml`);
        fs.writeFileSync(out, yaml.dump(c), { mode: 0o600 });
        return out;
    }

    beforeAll(() => {
        requireLab();
        process.env.OS_CLIENT_CONFIG_FILE = CLOUDS_YAML;
        // 48 MiB of random data (a disk's, not zeros: nothing to compress or skip), as the flatten step leaves it
        execFileSync("head", ["-c", String(48 * MiB), "/dev/urandom"], {
            stdio: ["ignore", fs.openSync(path.join(tmp, "d.raw"), "w"), "inherit"],
        });
        execFileSync("qemu-img", ["convert", "-O", "qcow2", path.join(tmp, "d.raw"), file]);
        sha512 = execFileSync("sha512sum", [file], { encoding: "utf8" }).split(" ")[0]!;
        // what an interrupted earlier run of these stacks left (its state went with its temp dir)
        for (const stack of ["upload-ok", "upload-overlay", "upload-cut", "upload-flip"])
            for (const id of taggedImages(`organization/image-upload/${stack}`)) oscRun(["image", "delete", id]);
    });
    afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it("up uploads exactly the file's bytes (DELETE ME, tagged), a second up changes nothing, destroy deletes it", async () => {
        const r = run("upload-ok");
        try {
            await uploadedAndUnchanged(r);
        } finally {
            await destroy(r);
        }
        expect(taggedImages("organization/image-upload/upload-ok")).toEqual([]);
    });

    async function uploadedAndUnchanged(r: StackRun): Promise<void> {
        await preview(r);
        expect(taggedImages("organization/image-upload/upload-ok")).toEqual([]); // preview made nothing
        const first = await up(r);
        const id = String(first.outputs.imageId);
        expect(first.outputs.sha512).toBe(sha512);
        const img = osc(["image", "show", id], ImageShow.extend({ name: z.string() }));
        expect(img.status).toBe("active");
        expect(img.size).toBe(fs.statSync(file).size);
        expect(img.name).toMatch(/INC0060 DELETE ME/);
        expect(img.properties?.os_hash_algo).toBe("sha512");
        expect(img.properties?.os_hash_value).toBe(sha512); // Glance's own hash of what it stored
        expect(img.properties?.["recovery-stack"]).toBe("organization/image-upload/upload-ok");
        expect(String(img.properties?.description)).toMatch(/DELETE ME/);
        const second = await up(r);
        expect(second.steps.filter((s) => s.op !== "same")).toEqual([]);
    }

    it("a qcow2 with a backing file is refused before Glance is called, with the way to flatten it", async () => {
        const overlay = path.join(tmp, "overlay.qcow2");
        execFileSync("qemu-img", ["create", "-f", "qcow2", "-F", "qcow2", "-b", file, overlay]);
        const r = run("upload-overlay", CLOUDS_YAML, overlay);
        await expect(up(r)).rejects.toThrow(/has a backing file[\s\S]*qemu-img convert/);
        expect(taggedImages("organization/image-upload/upload-overlay")).toEqual([]);
    });

    it.each([
        ["cut", /transfer was cut off after/],
        ["flip", /corrupted in transfer: Glance's sha512 [0-9a-f]+\.\.\. is not the file's sha512/],
    ] as const)("an upload whose connection is %s half-way fails saying so and leaves no image", async (mode, message) => {
        const proxy = await faultProxy({ targetPort: GLANCE_PORT, mode, at: 24 * MiB });
        const stack = `upload-${mode}`;
        try {
            const r = run(stack, cloudsVia(proxy.url));
            const e = await up(r).then(
                () => undefined,
                (x: unknown) => x,
            );
            expect(e).toBeInstanceOf(EngineRunError);
            expect((e as Error).message).toMatch(message);
            expect((e as Error).message).toMatch(/the image was deleted\. Run `pulumi up` again/);
            expect(proxy.faults()).toBe(1);
            expect(taggedImages(`organization/image-upload/${stack}`)).toEqual([]);
            await destroy(r); // nothing in the state: destroy has nothing to do and says so without an error
        } finally {
            await proxy.close();
        }
    });
});
