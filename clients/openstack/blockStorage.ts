// Cinder v3: volumes only, each call named after its API verb.
import { z } from "zod";
import { unlessGone } from "./errors";
import type { Session } from "./session";

/** 3.60: volume list filters by metadata and reports everything we read. */
export const VOLUME_MICROVERSION = "3.60";
const mv = VOLUME_MICROVERSION;

export const Volume = z.object({
    id: z.string(),
    name: z.string().nullish(),
    description: z.string().nullish(),
    status: z.string(),
    size: z.number(),
    availability_zone: z.string().nullish(),
    bootable: z.union([z.string(), z.boolean()]).transform((b) => b === true || b === "true"),
    volume_type: z.string().nullish(),
    multiattach: z.boolean().optional(),
    source_volid: z.string().nullish(),
    /** a volume created from an image: Glance's properties as Cinder copied them (image_id among them) */
    volume_image_metadata: z.record(z.string(), z.unknown()).nullish(),
    // Cinder stores strings; a scalar of another type (the v2 api-ref sample's `"readonly": false`) reads as its text
    metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).default({}),
    attachments: z
        .array(
            z.object({
                // null when the volume is attached to a host, not to a Nova server (views/volumes.py: instance_uuid)
                server_id: z.string().nullable(),
                attachment_id: z.string().optional(),
                device: z.string().nullish(),
            }),
        )
        .default([]),
});
export type Volume = z.infer<typeof Volume>;

/** Where a volume is attached, for messages: the servers, or a host when an attachment names none. */
export function attachedWhere(v: Volume): string {
    return v.attachments.map((a) => (a.server_id ? `server ${a.server_id}` : "a host (no server)")).join(", ");
}

export async function getVolume(s: Session, id: string): Promise<Volume> {
    const r = await s.request("volume", {
        what: `show volume ${id}`,
        path: `/volumes/${id}`,
        microversion: mv,
        schema: z.object({ volume: Volume }),
    });
    return r.data.volume;
}

/** The volume, or undefined when it is gone. */
export async function findVolume(s: Session, id: string): Promise<Volume | undefined> {
    return unlessGone(getVolume(s, id));
}

/** Volumes whose metadata contains all these pairs (Cinder filters server-side). */
export async function listVolumesByMetadata(s: Session, metadata: Record<string, string>): Promise<Volume[]> {
    return s.list("volume", {
        what: "list volumes by metadata",
        path: "/volumes/detail",
        key: "volumes",
        item: Volume,
        query: { metadata: JSON.stringify(metadata) },
        microversion: mv,
    });
}

export interface CreateVolumeRequest {
    name: string;
    description: string;
    size: number;
    sourceVolumeId?: string;
    /** create from a Glance image (Cinder copies its data in, `downloading`) */
    imageId?: string;
    availabilityZone?: string;
    volumeType?: string;
    metadata: Record<string, string>;
}

export async function createVolume(s: Session, r: CreateVolumeRequest): Promise<Volume> {
    const body = {
        volume: {
            name: r.name,
            description: r.description,
            size: r.size,
            metadata: r.metadata,
            ...(r.sourceVolumeId ? { source_volid: r.sourceVolumeId } : {}),
            ...(r.imageId ? { imageRef: r.imageId } : {}),
            ...(r.availabilityZone ? { availability_zone: r.availabilityZone } : {}),
            ...(r.volumeType ? { volume_type: r.volumeType } : {}),
        },
    };
    const res = await s.request("volume", {
        what: `create volume ${r.name}`,
        method: "POST",
        path: "/volumes",
        body,
        microversion: mv,
        schema: z.object({ volume: Volume }),
    });
    return res.data.volume;
}

/** Delete; already gone is success. */
export async function deleteVolume(s: Session, id: string): Promise<void> {
    await unlessGone(
        s.request("volume", {
            what: `delete volume ${id}`,
            method: "DELETE",
            path: `/volumes/${id}`,
            microversion: mv,
            retryConflict: true,
        }),
    );
}

export async function updateVolume(s: Session, id: string, fields: { name?: string; description?: string }): Promise<void> {
    await s.request("volume", {
        what: `update volume ${id}`,
        method: "PUT",
        path: `/volumes/${id}`,
        body: { volume: fields },
        microversion: mv,
    });
}

/** Merge these metadata pairs into the volume's metadata. */
export async function setVolumeMetadata(s: Session, id: string, metadata: Record<string, string>): Promise<void> {
    await s.request("volume", {
        what: `set metadata on volume ${id}`,
        method: "POST",
        path: `/volumes/${id}/metadata`,
        body: { metadata },
        microversion: mv,
        idempotent: true,
    });
}

export async function deleteVolumeMetadataKey(s: Session, id: string, key: string): Promise<void> {
    await unlessGone(
        s.request("volume", {
            what: `delete metadata ${key} of volume ${id}`,
            method: "DELETE",
            path: `/volumes/${id}/metadata/${encodeURIComponent(key)}`,
            microversion: mv,
        }),
    );
}

export async function setBootable(s: Session, id: string, bootable: boolean): Promise<void> {
    await s.request("volume", {
        what: `mark volume ${id} bootable=${bootable}`,
        method: "POST",
        path: `/volumes/${id}/action`,
        body: { "os-set_bootable": { bootable } },
        microversion: mv,
        idempotent: true,
    });
}
