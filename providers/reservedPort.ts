// Runbooks 002 and 003: keep the instance's IP address for its replacement.
// takeover: the broken server's own port is detached from it in Nova and handed to the
//   replacement. Clearing device_id by REST PUT (runbook 002) is not enough: Nova keeps its virtual
//   interface record and refuses the port to any other server. A port created outside Nova survives
//   the detach and is not ours (destroy never deletes it); one Nova created is deleted by the detach,
//   so its address and MAC are reserved again at once in a port of our own.
// create: the IP is free (its server is gone): reserve it in a new port of our own.
// Either way the broken server is stopped first: never two servers on one IP.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { compute, network, waitFor, type Session } from "../clients/openstack";
import { assertOwned, fenceServer, portTags, untagPort } from "./ops";
import {
    checkInputs,
    deleteMeDescription,
    diffBy,
    MODULE,
    parse,
    PartialCreateError,
    progress,
    promotedDescription,
    recoveryTags,
    session,
    Tagging,
    wire,
    withoutRecoveryTags,
} from "./step";
import { StepProvider, type StepImplementation } from "./stub";

const FixedIp = z.object({ subnet_id: z.string(), ip_address: z.string() });
const Inputs = Tagging.extend({
    mode: z.enum(["takeover", "create"]),
    brokenServerId: z.string().min(1),
    /** takeover: the broken server's port */
    portId: z.string().nullish(),
    /** create: where and which addresses */
    networkId: z.string().nullish(),
    fixedIps: z.array(FixedIp).default([]),
    /** stop the broken server before its address moves (default true) */
    fence: z.boolean().default(true),
    /** create mode: keep the port on destroy (default true: the replacement uses it) */
    retain: z.boolean().default(true),
    timeoutSeconds: z.number().positive().default(600),
});
type Inputs = z.infer<typeof Inputs>;
const Outputs = Inputs.extend({
    portId: z.string(),
    ipAddresses: z.array(z.string()),
    macAddress: z.string(),
    /** what the port said before the takeover, so the record shows where it came from */
    previousDeviceId: z.string(),
    previousDeviceOwner: z.string(),
    fenced: z.boolean(),
    /** what the inputs asked for, where the record says otherwise (a takeover re-reserved in a port of
     *  our own is recorded as mode create with the new port): Diff compares these, not the record */
    inputMode: z.enum(["takeover", "create"]).nullish(),
    inputPortId: z.string().nullish(),
});
type Outputs = z.infer<typeof Outputs>;

export interface ReservedPortArgs {
    incident: pulumi.Input<string>;
    stack: pulumi.Input<string>;
    /** the id of the broken server this chain recovers (the recovery-source tag) */
    source?: pulumi.Input<string>;
    mode: pulumi.Input<"takeover" | "create">;
    brokenServerId: pulumi.Input<string>;
    portId?: pulumi.Input<string>;
    networkId?: pulumi.Input<string>;
    fixedIps?: pulumi.Input<pulumi.Input<{ subnet_id: string; ip_address: string }>[]>;
    fence?: pulumi.Input<boolean>;
    retain?: pulumi.Input<boolean>;
    timeoutSeconds?: pulumi.Input<number>;
}

export class ReservedPort extends pulumi.dynamic.Resource {
    declare readonly portId: pulumi.Output<string>;
    declare readonly ipAddresses: pulumi.Output<string[]>;
    declare readonly macAddress: pulumi.Output<string>;
    declare readonly fenced: pulumi.Output<boolean>;

    constructor(name: string, args: ReservedPortArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            new StepProvider("reservedPort"),
            name,
            {
                ipAddresses: undefined,
                previousDeviceId: undefined,
                previousDeviceOwner: undefined,
                fenced: undefined,
                macAddress: undefined,
                ...args,
                portId: args.portId,
                logicalName: name,
            },
            opts,
            MODULE,
            "ReservedPort",
        );
    }
}

/** A port of our own holding the address(es): created, then tagged; an untagged one is reported with its id. */
async function reserveInNewPort(
    s: Session,
    i: Inputs,
    previous: Pick<Outputs, "previousDeviceId" | "previousDeviceOwner" | "fenced">,
    log: (m: string) => void,
    request: Omit<network.CreatePortRequest, "description">,
): Promise<{ id: string; outs: Record<string, unknown> }> {
    const port = await network.createPort(s, {
        ...request,
        description: deleteMeDescription(i.incident, `address kept for the replacement of server ${i.brokenServerId}`),
    });
    const outs: Outputs = {
        ...i,
        mode: "create",
        portId: port.id,
        ipAddresses: port.fixed_ips.map((f) => f.ip_address),
        macAddress: port.mac_address,
        ...previous,
        inputMode: i.mode,
        inputPortId: i.portId,
    };
    try {
        await network.replacePortTags(s, port.id, recoveryTags(i));
    } catch (e) {
        throw new PartialCreateError(`port ${port.id} created but not tagged: ${(e as Error).message}`, port.id, wire(outs));
    }
    log(`reserved ${outs.ipAddresses.join(", ")} in new port ${port.id}`);
    return { id: port.id, outs: wire(outs) };
}

/**
 * The replacement is gone (not retained) and the port is free: it goes back to the server it was taken
 * from, so the broken server has its address again should the operator start it. Never to another server.
 */
async function giveBack(s: Session, deviceId: string, o: Outputs, log: (m: string) => void): Promise<void> {
    if (deviceId || !o.previousDeviceId || !o.previousDeviceOwner.startsWith("compute:")) return;
    const found = await compute.findServerById(s, o.previousDeviceId);
    if (!found) return;
    const server = compute.complete(found);
    await compute.attachInterface(s, server.id, o.portId);
    await waitFor({
        what: `port ${o.portId} to be back on server ${server.name}`,
        poll: () => network.getPort(s, o.portId),
        state: (x) => `device_id=${x.device_id || "(none)"}`,
        done: (x) => x.device_id === server.id,
        timeoutSeconds: o.timeoutSeconds,
        progress: log,
    });
    log(
        `port ${o.portId} (${o.ipAddresses.join(", ")}) given back to ${server.name} (${server.status}${server.status === "SHUTOFF" ? `: start it with \`openstack server start ${server.id}\`` : ""})`,
    );
}

export const impl: StepImplementation = {
    async check(_olds, news) {
        const r = checkInputs(Inputs, news);
        if (r.failures?.length) return r;
        if (news.mode === "takeover" && !news.portId)
            return { inputs: news, failures: [{ property: "portId", reason: "takeover needs the broken server's port id" }] };
        if (news.mode === "create" && !news.networkId)
            return { inputs: news, failures: [{ property: "networkId", reason: "create needs the network of the address to keep" }] };
        return r;
    },

    async diff(_id, olds, news) {
        // olds are the recorded outputs: compare what the inputs asked for, or a takeover whose port
        // Nova deleted (re-reserved in a new port, recorded as mode create) would be replaced on every up
        // (states from before inputMode: a port reserved in create mode had no input portId either)
        const legacyCreate = !olds.inputMode && olds.mode === "create" && !olds.previousDeviceId;
        const asked = {
            ...olds,
            mode: olds.inputMode ?? olds.mode,
            portId: olds.inputMode || legacyCreate ? olds.inputPortId : olds.portId,
        };
        return diffBy(asked, news, {
            replaceOn: ["mode", "portId", "networkId", "fixedIps", "brokenServerId"],
            updateOn: ["retain", "fence", "timeoutSeconds"],
            deleteBeforeReplace: true,
        });
    },

    async create(raw, env) {
        const i = parse(Inputs, raw, "ReservedPort inputs");
        const log = progress("ReservedPort", i);
        const s = await session(env, log);
        const fenced = i.fence ? await fenceServer(s, i.brokenServerId, i.timeoutSeconds, log) : false;
        if (i.mode === "takeover") {
            const before = await network.getPort(s, i.portId!);
            if (before.device_id && before.device_id !== i.brokenServerId) {
                throw new Error(
                    `port ${before.id} belongs to server ${before.device_id}, not to the broken server ${i.brokenServerId}: refusing to take it`,
                );
            }
            // Nova must let go of the port (its virtual interface record blocks any other server
            // from using it); it keeps a port created outside Nova and deletes one it created.
            if (before.device_id) await compute.detachInterface(s, before.device_id, before.id);
            const after = await waitFor({
                what: `port ${before.id} to be released by server ${i.brokenServerId}`,
                poll: () => network.findPort(s, before.id),
                state: (p) => (p ? `device_id=${p.device_id || "(none)"}` : "deleted by Nova"),
                done: (p) => !p || !p.device_id,
                timeoutSeconds: i.timeoutSeconds,
                progress: log,
            });
            const previous = { previousDeviceId: before.device_id, previousDeviceOwner: before.device_owner, fenced };
            if (after) {
                await network.replacePortTags(s, after.id, [...withoutRecoveryTags(after.tags), ...recoveryTags(i)]);
                log(`released port ${after.id} (${after.fixed_ips.map((f) => f.ip_address).join(", ")}) from the broken server`);
                const outs: Outputs = {
                    ...i,
                    portId: after.id,
                    ipAddresses: after.fixed_ips.map((f) => f.ip_address),
                    macAddress: after.mac_address,
                    ...previous,
                };
                return { id: after.id, outs: wire(outs) };
            }
            // Nova had created that port and deleted it on detach: the address is free for a
            // moment; take it back at once with the same address and MAC, in a port of our own.
            log(
                `Nova deleted port ${before.id} on detach (it had created it); reserving ${before.fixed_ips.map((f) => f.ip_address).join(", ")} again`,
            );
            return reserveInNewPort(s, i, previous, log, {
                name: before.name || i.logicalName,
                networkId: before.network_id,
                fixedIps: before.fixed_ips,
                macAddress: before.mac_address,
                securityGroups: before.security_groups,
            });
        }
        return reserveInNewPort(s, i, { previousDeviceId: "", previousDeviceOwner: "", fenced }, log, {
            name: i.logicalName,
            networkId: i.networkId!,
            fixedIps: i.fixedIps,
        });
    },

    async read(id, props, env) {
        const o = parse(Outputs, props, "ReservedPort state");
        const s = await session(env, progress("ReservedPort", o));
        const p = await network.findPort(s, id);
        if (!p) return { id: "", props: {} };
        return { id, props: wire({ ...o, ipAddresses: p.fixed_ips.map((f) => f.ip_address), macAddress: p.mac_address }) };
    },

    async update(_id, olds, news) {
        const o = parse(Outputs, olds, "ReservedPort state");
        const i = parse(Inputs, news, "ReservedPort inputs");
        return { outs: wire({ ...o, retain: i.retain, fence: i.fence, timeoutSeconds: i.timeoutSeconds }) };
    },

    async delete(id, props, env) {
        const o = parse(Outputs, props, "ReservedPort state");
        const log = progress("ReservedPort", o);
        const s = await session(env, log);
        const p = await network.findPort(s, id);
        if (!p) return;
        const untag = () => untagPort(s, p);
        if (o.mode === "takeover" || o.retain) {
            // a taken-over port was never ours to delete; a retained one is promoted
            await untag();
            if (o.mode === "create")
                await network.updatePort(s, id, {
                    description: promotedDescription(o.incident, `address kept for the replacement of server ${o.brokenServerId}`),
                });
            log(`kept port ${id} (${o.ipAddresses.join(", ")}); recovery tags removed`);
            await giveBack(s, p.device_id, o, log);
            return;
        }
        assertOwned(`port ${id}`, portTags(p), o.stack);
        if (p.device_id)
            throw new Error(
                `port ${id} is in use by ${p.device_owner} ${p.device_id}; refusing to delete it (set retain, or delete that server first)`,
            );
        await network.deletePort(s, id);
        log(`deleted port ${id}`);
    },
};
