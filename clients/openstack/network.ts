// Neutron v2.0: ports only, each call named after its API verb.
import { z } from "zod";
import { unlessGone } from "./errors";
import type { Session } from "./session";

export const Port = z.object({
    id: z.string(),
    name: z.string().default(""),
    description: z.string().nullish(),
    network_id: z.string(),
    project_id: z.string().optional(),
    mac_address: z.string(),
    fixed_ips: z.array(z.object({ subnet_id: z.string(), ip_address: z.string() })),
    device_id: z.string().default(""),
    device_owner: z.string().default(""),
    status: z.string().optional(),
    security_groups: z.array(z.string()).default([]),
    "binding:host_id": z.string().nullish(),
    "binding:profile": z.record(z.string(), z.unknown()).nullish(),
    tags: z.array(z.string()).default([]),
});
export type Port = z.infer<typeof Port>;

export async function getPort(s: Session, id: string): Promise<Port> {
    const r = await s.request("network", { what: `show port ${id}`, path: `/v2.0/ports/${id}`, schema: z.object({ port: Port }) });
    return r.data.port;
}

export async function findPort(s: Session, id: string): Promise<Port | undefined> {
    return unlessGone(getPort(s, id));
}

export async function listPorts(s: Session, query: Record<string, string>): Promise<Port[]> {
    return s.list("network", { what: "list ports", path: "/v2.0/ports", key: "ports", item: Port, query });
}

/** Ports that hold this IP address, whoever owns them. */
export async function listPortsByIp(s: Session, ip: string): Promise<Port[]> {
    return listPorts(s, { fixed_ips: `ip_address=${ip}` });
}

export interface CreatePortRequest {
    name: string;
    description: string;
    networkId: string;
    fixedIps: { subnet_id: string; ip_address: string }[];
    macAddress?: string;
    securityGroups?: string[];
}

export async function createPort(s: Session, r: CreatePortRequest): Promise<Port> {
    const body = {
        port: {
            name: r.name,
            description: r.description,
            network_id: r.networkId,
            fixed_ips: r.fixedIps,
            ...(r.macAddress ? { mac_address: r.macAddress } : {}),
            ...(r.securityGroups?.length ? { security_groups: r.securityGroups } : {}),
        },
    };
    const res = await s.request("network", {
        what: `create port ${r.name}`,
        method: "POST",
        path: "/v2.0/ports",
        body,
        schema: z.object({ port: Port }),
    });
    return res.data.port;
}

/**
 * Update a port by REST PUT. This is how a port is released from a server: the CLI's
 * `port set --device ""` does not send the empty device_id (python-openstackclient 6.0 bug).
 */
export async function updatePort(s: Session, id: string, fields: Record<string, unknown>): Promise<Port> {
    const res = await s.request("network", {
        what: `update port ${id}`,
        method: "PUT",
        path: `/v2.0/ports/${id}`,
        body: { port: fields },
        schema: z.object({ port: Port }),
    });
    return res.data.port;
}

export async function deletePort(s: Session, id: string): Promise<void> {
    await unlessGone(s.request("network", { what: `delete port ${id}`, method: "DELETE", path: `/v2.0/ports/${id}` }));
}

/** Neutron tags are plain strings; the whole set is replaced at once. */
export async function replacePortTags(s: Session, id: string, tags: string[]): Promise<void> {
    await s.request("network", { what: `set tags of port ${id}`, method: "PUT", path: `/v2.0/ports/${id}/tags`, body: { tags } });
}

export const Subnet = z.object({ id: z.string(), network_id: z.string(), cidr: z.string(), ip_version: z.number() });
export type Subnet = z.infer<typeof Subnet>;

export async function listSubnets(s: Session, query: Record<string, string> = {}): Promise<Subnet[]> {
    return s.list("network", { what: "list subnets", path: "/v2.0/subnets", key: "subnets", item: Subnet, query });
}

/** Whether an IPv4 address lies in a CIDR (IPv6 subnets are matched by the caller by prefix). */
export function ipv4InCidr(ip: string, cidr: string): boolean {
    const [net, bits] = cidr.split("/");
    const n = (a: string) => a.split(".").reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip) || !/^\d+\.\d+\.\d+\.\d+$/.test(net)) return false;
    const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
    return (n(ip) & mask) === (n(net) & mask);
}
