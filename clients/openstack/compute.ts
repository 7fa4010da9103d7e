// Nova: only the calls the recovery needs, each named after its API verb.
import { z } from "zod";
import { AmbiguousNameError, ApiError, CellDownError, ConflictError, ResourceNotFoundError, unlessGone } from "./errors";
import type { Session } from "./session";

/** 2.79: volume attachments report delete_on_termination; servers embed flavor details (2.47+). */
export const COMPUTE_MICROVERSION = "2.79";
/** Setting a server's hostname at boot (instead of Nova's, made from its name) needs 2.90 (Xena). */
export const HOSTNAME_MICROVERSION = "2.90";
/** Stable-device rescue of a volume-backed server needs 2.87 (runbook 001/004). */
export const RESCUE_MICROVERSION = "2.87";

const ServerImage = z.union([z.literal(""), z.object({ id: z.string() }), z.null()]).optional();
/** By id up to 2.46; from 2.47 embedded: its original name and sizes. */
const ServerFlavor = z.object({
    id: z.string().optional(),
    original_name: z.string().optional(),
    vcpus: z.number().optional(),
    ram: z.number().optional(),
    disk: z.number().optional(),
});

/** A server as Nova reports it when it can reach the server's cell. */
export const CompleteServer = z.object({
    id: z.string(),
    name: z.string(),
    status: z.string(),
    tenant_id: z.string().optional(),
    "OS-EXT-AZ:availability_zone": z.string().nullish(),
    "OS-EXT-STS:task_state": z.string().nullish(),
    "OS-EXT-STS:vm_state": z.string().nullish(),
    "OS-EXT-SRV-ATTR:host": z.string().nullish(),
    /** the guest's hostname (shown to every user from 2.90) */
    "OS-EXT-SRV-ATTR:hostname": z.string().nullish(),
    "os-extended-volumes:volumes_attached": z
        .array(z.object({ id: z.string(), delete_on_termination: z.boolean().optional() }))
        .default([]),
    image: ServerImage,
    flavor: ServerFlavor,
    addresses: z
        .record(
            z.string(),
            z.array(z.object({ addr: z.string(), version: z.number().optional(), "OS-EXT-IPS-MAC:mac_addr": z.string().optional() })),
        )
        .default({}),
    metadata: z.record(z.string(), z.string()).default({}),
    key_name: z.string().nullish(),
    fault: z.object({ message: z.string().optional(), code: z.number().optional() }).nullish(),
});
export type CompleteServer = z.infer<typeof CompleteServer>;

/**
 * A server in a cell Nova cannot reach (2.69 and later): only what the API database knows, as
 * nova/api/openstack/compute/views/servers.py _show_from_down_cell builds it. A list gives id,
 * status UNKNOWN, tenant_id, created and links; a show adds the request spec's flavor, image, zone
 * and user_id. Never a name, metadata, addresses or volumes: whose it is cannot be told.
 */
export const PartialServer = z
    .object({
        id: z.string(),
        status: z.literal("UNKNOWN"),
        // what tells it from a complete record that lost a field: Nova never names a down cell's server
        name: z.never().optional(),
        tenant_id: z.string().optional(),
        created: z.string().optional(),
        "OS-EXT-AZ:availability_zone": z.string().nullish(),
        image: ServerImage,
        flavor: ServerFlavor.optional(),
    })
    .transform(({ name: _name, ...known }) => known);
export type PartialServer = z.infer<typeof PartialServer>;

/** What Nova answers for a server: complete, or partial when its cell is down. */
export const Server = z.union([CompleteServer, PartialServer]);
export type Server = CompleteServer | PartialServer;

/** A down cell's record: no name (see PartialServer); every caller that needs more skips or refuses it. */
export const isPartial = (x: Server): x is PartialServer => !("name" in x);

/** The record, where the caller needs what only a complete one has; a CellDownError naming the server. */
export function complete(x: Server): CompleteServer {
    if (isPartial(x)) throw new CellDownError(x.id);
    return x;
}

/** The complete records and the partial ones (servers in cells Nova cannot reach). */
export function splitPartial(servers: Server[]): { complete: CompleteServer[]; partial: PartialServer[] } {
    return {
        complete: servers.filter((x): x is CompleteServer => !isPartial(x)),
        partial: servers.filter(isPartial),
    };
}

export const VolumeAttachment = z.object({
    id: z.string().optional(),
    volumeId: z.string(),
    serverId: z.string().optional(),
    device: z.string().nullish(),
    delete_on_termination: z.boolean().optional(),
});
export type VolumeAttachment = z.infer<typeof VolumeAttachment>;

export const InterfaceAttachment = z.object({
    port_id: z.string(),
    net_id: z.string().optional(),
    port_state: z.string().optional(),
    fixed_ips: z.array(z.object({ ip_address: z.string(), subnet_id: z.string() })).default([]),
});
export type InterfaceAttachment = z.infer<typeof InterfaceAttachment>;

const Flavor = z.object({ id: z.string(), name: z.string() });

const mv = COMPUTE_MICROVERSION;

export const availabilityZone = (s: Server): string => s["OS-EXT-AZ:availability_zone"] ?? "";
/** A server booted from a volume has no image (Nova reports "" or null). */
export const isVolumeBacked = (s: Server): boolean => !s.image;

export async function getServer(s: Session, id: string): Promise<Server> {
    const r = await s.request("compute", {
        what: `show server ${id}`,
        path: `/servers/${id}`,
        microversion: mv,
        schema: z.object({ server: Server }),
    });
    return r.data.server;
}

/** The server with this id, or undefined when it is gone. */
export async function findServerById(s: Session, id: string): Promise<Server | undefined> {
    return unlessGone(getServer(s, id));
}

export async function listServers(s: Session, query: Record<string, string> = {}): Promise<Server[]> {
    return s.list("compute", { what: "list servers", path: "/servers/detail", key: "servers", item: Server, query, microversion: mv });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** By id, else by exact name; refuses an ambiguous name rather than picking one. */
export async function resolveServer(s: Session, nameOrId: string): Promise<Server> {
    if (UUID.test(nameOrId)) {
        const byId = await findServerById(s, nameOrId);
        if (byId) return byId;
    }
    // Nova's name filter is a regular expression: anchor and escape it, then compare exactly.
    const pattern = `^${nameOrId.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`;
    // a filtered list never has partial records (Nova skips the down cells: servers.py _is_cell_down_supported)
    const matches = splitPartial(await listServers(s, { name: pattern })).complete.filter((x) => x.name === nameOrId);
    if (matches.length === 0) throw new ResourceNotFoundError("server", nameOrId, "check the name with `openstack server list`");
    if (matches.length > 1)
        throw new AmbiguousNameError(
            "server",
            nameOrId,
            matches.map((m) => m.id),
        );
    return matches[0];
}

/**
 * Ask Nova to stop a server. Nova accepts only with no task under way (vm_state active or error,
 * task_state None) and answers 409 otherwise: "stopped" when it already is (what we wanted), "busy"
 * when a task is under way (another step's stop, a reboot ...) for the caller to wait for. Two
 * stops at once can both pass that check: the loser fails in the database update
 * (compute/api.py: instance.save(expected_task_state=[None])) with UnexpectedTaskStateError, which
 * the os-stop handler does not map, so it comes back as HTTP 500. That too is "busy".
 */
export async function stopServer(s: Session, id: string): Promise<"stopping" | "stopped" | "busy"> {
    try {
        await s.request("compute", {
            what: `stop server ${id}`,
            method: "POST",
            path: `/servers/${id}/action`,
            body: { "os-stop": null },
            microversion: mv,
        });
        return "stopping";
    } catch (e) {
        if (e instanceof ConflictError && /vm_state stopped|is not running|SHUTOFF/i.test(e.message)) return "stopped";
        if (e instanceof ConflictError && /task_state/i.test(e.message)) return "busy";
        if (e instanceof ApiError && e.status === 500 && /UnexpectedTaskStateError/.test(e.message)) return "busy";
        throw e;
    }
}

/** 2.45: createImage answers with the image id in the body (before, only in the Location header). */
export const CREATE_IMAGE_BODY_MICROVERSION = "2.45";

/**
 * Ask Nova to make a Glance image of a server's root disk (createImage). Nova creates the image record
 * (queued) at once and the compute host uploads the data; `metadata` becomes the image's properties.
 */
export async function createServerImage(s: Session, id: string, name: string, metadata: Record<string, string>): Promise<string> {
    const r = await s.request("compute", {
        what: `create an image of server ${id}`,
        method: "POST",
        path: `/servers/${id}/action`,
        body: { createImage: { name, metadata } },
        microversion: CREATE_IMAGE_BODY_MICROVERSION,
        schema: z.object({ image_id: z.string() }).optional(),
    });
    const fromHeader = String(r.headers.location ?? "")
        .split("/")
        .pop();
    const imageId = r.data?.image_id ?? fromHeader;
    if (!imageId) throw new Error(`Nova accepted createImage for server ${id} but named no image (no image_id, no Location header)`);
    return imageId;
}

export const ComputeService = z.object({ host: z.string(), binary: z.string(), state: z.string(), status: z.string() });
export type ComputeService = z.infer<typeof ComputeService>;

/** The nova-compute service of a host, or undefined when this user may not see services (not an admin: 403). */
export async function computeServiceOf(s: Session, host: string): Promise<ComputeService | undefined> {
    try {
        const r = await s.request("compute", {
            what: `show the compute service of host ${host}`,
            path: "/os-services",
            query: { binary: "nova-compute", host },
            microversion: mv,
            schema: z.object({ services: z.array(ComputeService) }),
        });
        return r.data.services[0];
    } catch (e) {
        if (e instanceof ApiError && e.status === 403) return undefined;
        throw e;
    }
}

export async function renameServer(s: Session, id: string, name: string): Promise<void> {
    await s.request("compute", {
        what: `rename server ${id}`,
        method: "PUT",
        path: `/servers/${id}`,
        body: { server: { name } },
        microversion: mv,
    });
}

export interface CreateServerRequest {
    name: string;
    flavorRef: string;
    bootVolumeId: string;
    portIds: string[];
    /** networks to get a new port on (when the address is not kept) */
    networkIds?: string[];
    availabilityZone?: string;
    metadata?: Record<string, string>;
    keyName?: string;
    description?: string;
    /** the guest's hostname; needs HOSTNAME_MICROVERSION (refused on an older cloud) */
    hostname?: string;
}

export async function createServer(s: Session, r: CreateServerRequest): Promise<Server["id"]> {
    const body = {
        server: {
            name: r.name,
            flavorRef: r.flavorRef,
            networks: [...r.portIds.map((port) => ({ port })), ...(r.networkIds ?? []).map((uuid) => ({ uuid }))],
            block_device_mapping_v2: [
                { boot_index: 0, uuid: r.bootVolumeId, source_type: "volume", destination_type: "volume", delete_on_termination: false },
            ],
            ...(r.availabilityZone ? { availability_zone: r.availabilityZone } : {}),
            ...(r.metadata ? { metadata: r.metadata } : {}),
            ...(r.keyName ? { key_name: r.keyName } : {}),
            ...(r.description ? { description: r.description } : {}),
            ...(r.hostname ? { hostname: r.hostname } : {}),
        },
    };
    const res = await s.request("compute", {
        what: `create server ${r.name}`,
        method: "POST",
        path: "/servers",
        body,
        ...(r.hostname
            ? { microversion: HOSTNAME_MICROVERSION, requires: { microversion: HOSTNAME_MICROVERSION, feature: "the hostname" } }
            : { microversion: mv }),
        schema: z.object({ server: z.object({ id: z.string() }) }),
    });
    return res.data.server.id;
}

export async function deleteServer(s: Session, id: string): Promise<void> {
    await unlessGone(
        s.request("compute", {
            what: `delete server ${id}`,
            method: "DELETE",
            path: `/servers/${id}`,
            microversion: mv,
            retryConflict: true,
        }),
    );
}

export async function listVolumeAttachments(s: Session, serverId: string): Promise<VolumeAttachment[]> {
    const r = await s.request("compute", {
        what: `list volume attachments of server ${serverId}`,
        path: `/servers/${serverId}/os-volume_attachments`,
        microversion: mv,
        schema: z.object({ volumeAttachments: z.array(VolumeAttachment) }),
    });
    return r.data.volumeAttachments;
}

export async function attachVolume(s: Session, serverId: string, volumeId: string): Promise<VolumeAttachment> {
    const r = await s.request("compute", {
        what: `attach volume ${volumeId} to server ${serverId}`,
        method: "POST",
        path: `/servers/${serverId}/os-volume_attachments`,
        body: { volumeAttachment: { volumeId } },
        microversion: mv,
        retryConflict: true,
        schema: z.object({ volumeAttachment: VolumeAttachment }),
    });
    return r.data.volumeAttachment;
}

/** Detach; a volume that is no longer attached is success (destroy must always be able to finish). */
export async function detachVolume(s: Session, serverId: string, volumeId: string): Promise<void> {
    await unlessGone(
        s.request("compute", {
            what: `detach volume ${volumeId} from server ${serverId}`,
            method: "DELETE",
            path: `/servers/${serverId}/os-volume_attachments/${volumeId}`,
            microversion: mv,
            retryConflict: true,
        }),
    );
}

export async function listInterfaces(s: Session, serverId: string): Promise<InterfaceAttachment[]> {
    const r = await s.request("compute", {
        what: `list interfaces of server ${serverId}`,
        path: `/servers/${serverId}/os-interface`,
        microversion: mv,
        schema: z.object({ interfaceAttachments: z.array(InterfaceAttachment) }),
    });
    return r.data.interfaceAttachments;
}

export async function setServerMetadataItem(s: Session, serverId: string, key: string, value: string): Promise<void> {
    await s.request("compute", {
        what: `set metadata ${key} on server ${serverId}`,
        method: "PUT",
        path: `/servers/${serverId}/metadata/${encodeURIComponent(key)}`,
        body: { meta: { [key]: value } },
        microversion: mv,
    });
}

export async function deleteServerMetadataItem(s: Session, serverId: string, key: string): Promise<void> {
    await unlessGone(
        s.request("compute", {
            what: `delete metadata ${key} of server ${serverId}`,
            method: "DELETE",
            path: `/servers/${serverId}/metadata/${encodeURIComponent(key)}`,
            microversion: mv,
        }),
    );
}

/** The flavor id to boot a replacement with: Nova >= 2.47 reports the flavor by name only. */
export async function resolveFlavorId(s: Session, server: Server): Promise<string> {
    if (server.flavor?.id) return server.flavor.id;
    const name = server.flavor?.original_name;
    const flavors = await s.list("compute", {
        what: "list flavors",
        path: "/flavors/detail",
        key: "flavors",
        item: Flavor,
        query: { is_public: "None" },
        microversion: mv,
    });
    const match = flavors.filter((f) => f.name === name);
    if (match.length !== 1)
        throw new ResourceNotFoundError(
            "flavor",
            name ?? "(unknown)",
            "set `flavor` in the stack config to the flavor the replacement should use",
        );
    return match[0].id;
}

/**
 * Detach an interface in Nova. Nova forgets its virtual interface record (so another server can
 * use the port) and keeps a port it did not create; a port it created it deletes.
 */
export async function detachInterface(s: Session, serverId: string, portId: string): Promise<void> {
    await unlessGone(
        s.request("compute", {
            what: `detach port ${portId} from server ${serverId}`,
            method: "DELETE",
            path: `/servers/${serverId}/os-interface/${portId}`,
            microversion: mv,
            retryConflict: true,
        }),
    );
}

/** Attach an existing port to a server (also a stopped one): the way a port is given back. */
export async function attachInterface(s: Session, serverId: string, portId: string): Promise<InterfaceAttachment> {
    const r = await s.request("compute", {
        what: `attach port ${portId} to server ${serverId}`,
        method: "POST",
        path: `/servers/${serverId}/os-interface`,
        body: { interfaceAttachment: { port_id: portId } },
        microversion: mv,
        schema: z.object({ interfaceAttachment: InterfaceAttachment }),
    });
    return r.data.interfaceAttachment;
}

/**
 * The last `length` lines of the server's console log (os-getConsoleOutput): what the guest wrote
 * to its serial console, as the hypervisor kept it. Nova answers 409 while the server is not
 * running and 501 when the driver keeps no log (the caller says what that means for it).
 */
export async function getConsoleOutput(s: Session, serverId: string, length: number): Promise<string> {
    const r = await s.request("compute", {
        what: `read the console log of server ${serverId}`,
        method: "POST",
        path: `/servers/${serverId}/action`,
        body: { "os-getConsoleOutput": { length } },
        microversion: mv,
        schema: z.object({ output: z.string() }),
    });
    return r.data.output;
}
