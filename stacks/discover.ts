// What the broken server is, read before anything changes (so it runs at preview too): its root
// volume and data volumes (runbook 000 B 2: "the volume attached to /dev/vda is the root volume"),
// its ports and addresses, its zone and flavor; the helper and its address; what keeping the IP
// means. Every problem is a ConfigError naming the key to fix.
import {
    AmbiguousNameError, blockStorage, compute, network, ResourceNotFoundError, type Session,
} from "../providers/openstack";
import { heldBy, LOCK_KEY } from "../providers/incidentLock";
import { TAG_STACK } from "../providers/step";
import { ConfigError, type RecoveryConfig } from "./config";

export interface Incident {
    broken: compute.Server;
    volumeBacked: boolean;
    rootVolume?: blockStorage.Volume;
    dataVolumes: blockStorage.Volume[];
    ports: network.Port[];
    flavorId: string;
    helper: compute.Server;
    helperAddress: string;
    keepIp:
        | { mode: "takeover"; ports: network.Port[] }
        | { mode: "create"; networkId: string; fixedIps: { subnet_id: string; ip_address: string }[] }
        | { mode: "none"; networkIds: string[] };
}

const ROOT_DEVICES = /^\/dev\/(x?v|s|h)da$/;

async function server(s: Session, key: string, nameOrId: string): Promise<compute.Server> {
    try {
        return await compute.resolveServer(s, nameOrId);
    } catch (e) {
        if (e instanceof ResourceNotFoundError) throw new ConfigError(key, `no server named or with id "${nameOrId}" in this project`, `check it with \`openstack server list\`, then \`pulumi config set ${key.includes(".") ? "--path " : ""}${key} <name or id>\``);
        if (e instanceof AmbiguousNameError) throw new ConfigError(key, e.message, `pulumi config set ${key.includes(".") ? "--path " : ""}${key} <one of: ${e.ids.join(", ")}>`);
        throw e;
    }
}

/**
 * What the broken server had before this stack moved anything: its own ports and data volumes,
 * plus those this stack already moved to its replacement (found by the stack's tag, never by name).
 * Without this a second `up` would see a server without ports or data volumes and replace the
 * recovered server.
 */
async function movedByThisStack(s: Session, stack: string): Promise<{ ports: network.Port[]; volumeIds: string[] }> {
    const tag = `${TAG_STACK}=${stack}`;
    const ports = await network.listPorts(s, { tags: tag });
    const replacements = (await compute.listServers(s)).filter((x) => x.metadata[TAG_STACK] === stack);
    const volumeIds: string[] = [];
    for (const r of replacements) {
        for (const a of await compute.listVolumeAttachments(s, r.id)) if (!ROOT_DEVICES.test(a.device ?? "")) volumeIds.push(a.volumeId);
    }
    return { ports, volumeIds };
}

const byId = <T extends { id: string }>(a: T, b: T) => a.id.localeCompare(b.id);

export async function discover(s: Session, c: RecoveryConfig, stack: string): Promise<Incident> {
    const broken = await server(s, "server", c.server);
    const holder = broken.metadata[LOCK_KEY];
    if (holder && holder !== stack) throw new ConfigError("server", heldBy(broken.name, holder), "");
    const helper = await server(s, "helper.server", c.helper.server);
    if (helper.id === broken.id) throw new ConfigError("helper.server", `the helper cannot be the broken server itself (${broken.name})`, "pulumi config set --path helper.server <another server in the same zone>");

    const moved = await movedByThisStack(s, stack);
    const volumeIds = [...new Set([...broken["os-extended-volumes:volumes_attached"].map((v) => v.id), ...moved.volumeIds])];
    const volumes = (await Promise.all(volumeIds.map((id) => blockStorage.getVolume(s, id)))).sort(byId);
    const deviceOf = (v: blockStorage.Volume) => v.attachments.find((a) => a.server_id === broken.id)?.device ?? "";
    const volumeBacked = compute.isVolumeBacked(broken);
    let rootVolume: blockStorage.Volume | undefined;
    if (volumeBacked) {
        const attachedHere = volumes.filter((v) => v.attachments.some((a) => a.server_id === broken.id));
        rootVolume = attachedHere.find((v) => ROOT_DEVICES.test(deviceOf(v))) ?? (attachedHere.filter((v) => v.bootable).length === 1 ? attachedHere.find((v) => v.bootable) : undefined);
        if (!rootVolume) {
            throw new ConfigError("server", `${broken.name} boots from a volume but none of its volumes (${volumes.map((v) => `${v.id} at ${deviceOf(v) || "?"}`).join(", ") || "none"}) is attached as /dev/vda`, "check `openstack server show --fit -c attached_volumes` and the volumes' attachments");
        }
    }
    const dataVolumes = volumes.filter((v) => v.id !== rootVolume?.id);

    if (c.strategy === "volume-backed" && !volumeBacked) {
        throw new ConfigError("strategy", `${broken.name} is not volume-backed (it boots from image ${typeof broken.image === "object" && broken.image ? broken.image.id : "?"} on local disk)`, "pulumi config set strategy auto");
    }
    const zone = rootVolume?.availability_zone ?? compute.availabilityZone(broken);
    const helperZone = compute.availabilityZone(helper);
    if (zone && helperZone && zone !== helperZone) {
        throw new ConfigError("helper.server", `${helper.name} is in availability zone ${helperZone}, but the root volume of ${broken.name} is in ${zone}: Cinder attaches volumes only within a zone`, `pulumi config set --path helper.server <a server in ${zone}>`);
    }
    const helperAddress = c.helper.address ?? Object.values(helper.addresses).flat()[0]?.addr;
    if (!helperAddress) throw new ConfigError("helper.address", `${helper.name} has no address`, "pulumi config set --path helper.address <address the helper's sshd listens on>");

    const interfaces = await compute.listInterfaces(s, broken.id);
    const own = await Promise.all(interfaces.map((i) => network.getPort(s, i.port_id)));
    const ports = [...own, ...moved.ports.filter((p) => !own.some((o) => o.id === p.id))].sort(byId);
    const flavorId = c.replacement.flavor ?? (await compute.resolveFlavorId(s, broken));

    let keepIp: Incident["keepIp"];
    if (c.keepIp === false) {
        keepIp = { mode: "none", networkIds: [...new Set(ports.map((p) => p.network_id))] };
    } else if (c.keepIp === true) {
        keepIp = { mode: "takeover", ports };
    } else {
        keepIp = await keepOneAddress(s, c.keepIp, broken, ports);
    }
    return { broken, volumeBacked, rootVolume, dataVolumes, ports, flavorId, helper, helperAddress, keepIp };
}

/** keepIp: <address>: the broken server's port that holds it, or a new port if it is free. */
async function keepOneAddress(s: Session, ip: string, broken: compute.Server, ports: network.Port[]): Promise<Incident["keepIp"]> {
    const own = ports.find((p) => p.fixed_ips.some((f) => f.ip_address === ip));
    if (own) return { mode: "takeover", ports: [own] };
    const holders = await network.listPortsByIp(s, ip);
    if (holders.length) {
        const h = holders[0];
        throw new ConfigError("keepIp", `${ip} belongs to port ${h.id} of ${h.device_owner || "no device"} ${h.device_id || ""}, not to ${broken.name}`.trim(), "pulumi config set keepIp true   (to keep the broken server's own addresses)");
    }
    const subnet = (await network.listSubnets(s)).find((sn) => network.ipv4InCidr(ip, sn.cidr));
    if (!subnet) throw new ConfigError("keepIp", `no subnet visible to this project contains ${ip}`, "pulumi config set keepIp <an address of the broken server's network>");
    return { mode: "create", networkId: subnet.network_id, fixedIps: [{ subnet_id: subnet.id, ip_address: ip }] };
}
