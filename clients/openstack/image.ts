// Glance v2: images only, each call named after its API verb. Custom properties are top-level keys of
// an image (glance api-ref "Create image"), so the recovery tags are read from the passthrough rest.
import { z } from "zod";
import { unlessGone } from "./errors";
import type { Session } from "./session";

export const Image = z
    .object({
        id: z.string(),
        name: z.string().nullish(),
        status: z.string(),
        /** null until data is uploaded */
        size: z.number().nullish(),
        disk_format: z.string().nullish(),
        container_format: z.string().nullish(),
        checksum: z.string().nullish(),
        os_hash_algo: z.string().nullish(),
        os_hash_value: z.string().nullish(),
        /** the disk's size as the guest sees it (Glance reads it from the data on upload) */
        virtual_size: z.number().nullish(),
        /** GiB (Nova sets it on a server's image from the flavor's root disk) */
        min_disk: z.number().nullish(),
        tags: z.array(z.string()).default([]),
    })
    .catchall(z.unknown());
export type Image = z.infer<typeof Image>;

/** The image's string-valued custom properties (where the recovery tags live). */
export function propertiesOf(i: Image): Record<string, string> {
    return Object.fromEntries(Object.entries(i).filter((e): e is [string, string] => typeof e[1] === "string"));
}

export async function getImage(s: Session, id: string): Promise<Image> {
    const r = await s.request("image", { what: `show image ${id}`, path: `/v2/images/${id}`, schema: Image });
    return r.data;
}

export async function findImage(s: Session, id: string): Promise<Image | undefined> {
    return unlessGone(getImage(s, id));
}

/** Images that carry this property value (Glance filters on custom properties server-side). */
export async function listImagesByProperty(s: Session, key: string, value: string): Promise<Image[]> {
    return s.list("image", {
        what: `list images with ${key}=${value}`,
        path: "/v2/images",
        key: "images",
        item: Image,
        query: { [key]: value },
    });
}

export async function createImage(
    s: Session,
    o: { name: string; diskFormat: string; containerFormat?: string; properties: Record<string, string> },
): Promise<Image> {
    const r = await s.request("image", {
        what: `create image ${o.name}`,
        method: "POST",
        path: "/v2/images",
        body: {
            name: o.name,
            disk_format: o.diskFormat,
            container_format: o.containerFormat ?? "bare",
            visibility: "private",
            ...o.properties,
        },
        schema: Image,
    });
    return r.data;
}

/**
 * Stream the image data (PUT /file). The size is announced twice: Content-Length, so Glance and any proxy
 * know the end, and X-OpenStack-Image-Size, which newer Glance checks before it writes to its store
 * (a mismatch is a 400); older Glance ignores the header. Never retried: the stream is consumed.
 */
export async function uploadImageData(s: Session, id: string, data: NodeJS.ReadableStream, size: number): Promise<void> {
    await s.request("image", {
        what: `upload the data of image ${id}`,
        method: "PUT",
        path: `/v2/images/${id}/file`,
        stream: data,
        headers: { "Content-Length": String(size), "X-OpenStack-Image-Size": String(size) },
    });
}

/** JSON-patch replace/remove of top-level properties (Glance's own patch media type). */
export async function patchImage(
    s: Session,
    id: string,
    ops: ({ op: "replace" | "add"; path: string; value: string } | { op: "remove"; path: string })[],
): Promise<void> {
    await s.request("image", {
        what: `update image ${id}`,
        method: "PATCH",
        path: `/v2/images/${id}`,
        body: ops,
        headers: { "Content-Type": "application/openstack-images-v2.1-json-patch" },
    });
}

export async function deleteImage(s: Session, id: string): Promise<void> {
    await unlessGone(s.request("image", { what: `delete image ${id}`, method: "DELETE", path: `/v2/images/${id}` }));
}
