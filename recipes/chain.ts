// What the volume-backed and the ephemeral recipes share once a DELETE-ME volume holds the broken
// root (a clone of the root volume, or a volume made from the merged ephemeral image): attach it to
// the helper, repair it there, take over the ports, boot the replacement from it with the data
// volumes moved, read its console (runbook 000 B 4-9 and C, 002, 003).
import * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import { compute } from "../clients/openstack";
import type { RepairAction } from "../toolkit";
import { BootProof } from "../providers/bootProof";
import { DiskRepair } from "../providers/diskRepair";
import { HelperAttachment } from "../providers/helperAttachment";
import { ReplacementServer } from "../providers/replacementServer";
import { ReservedPort } from "../providers/reservedPort";
import type { CommonConfig, RecipeContext } from "./recipe";
import {
    helperFor,
    keepIpFor,
    refuseUnserved,
    type BootProofSection,
    type HelperSection,
    type KeepIpSection,
    type ReplacementSection,
    type RepairSection,
    type RetainSection,
    type TimeoutsSection,
} from "./sections";

/** The chain's arguments from the repair on (the recipes add how the volume is made). */
export interface RepairChainArgs {
    /** the incident id; temporary things are described `<incident> DELETE ME` */
    incident: string;
    /** `<organization>/<project>/<stack>`, the owner tag of everything created */
    stack: string;
    /** 000 B 2: the server that will not boot (it is stopped, never deleted or changed otherwise) */
    brokenServer: { id: string; name: string; availabilityZone?: string; flavorId: string; keyName?: string };
    /** 000 B 4-5: the helper ("snap-mounter") and how to reach its operating system */
    helper: { serverId: string; address: string; port: number; user: string; privateKeyFile?: string; hostKey?: string; byIdDir?: string };
    /** 000 B 9: what to repair; mode "report" changes nothing and boots nothing */
    repair: { actions: RepairAction[]; mode: "repair" | "report"; fstabPolicy?: "comment" | "nofail"; customScript?: string };
    /** 002/003: take over the broken server's ports, reserve one address in a new port, or not keep the address */
    keepIp:
        | { mode: "takeover"; portIds: string[] }
        | { mode: "create"; networkId: string; fixedIps: { subnet_id: string; ip_address: string }[] }
        | { mode: "none"; networkIds: string[] };
    /** 000 C: the replacement (default name <server>-recovered); boot false stops after the repair */
    replacement: { name: string; boot: boolean; dataVolumeIds: string[]; hostname?: string };
    /** what destroy keeps (default: all three), promoted: DELETE ME and recovery tags removed */
    retain: { server: boolean; port: boolean; rootVolume: boolean };
    timeouts: { cloneSeconds: number; repairSeconds: number; bootSeconds: number };
    /** 000 C "check the new instance": its console read until a login prompt; absent or not enabled: not proven
     *  (the stack's config enables it by default) */
    bootProof?: { enabled: boolean; timeoutSeconds: number; loginPattern?: string };
    /** the stack's LeftoverSweep: the lock waits for it, so destroy deletes it after every chain */
    sweep?: { resource: pulumi.Resource; name: string };
}

/** A replacement boots only from a repaired disk, and only when asked to. */
export const bootsReplacement = (a: { repair: { mode: string }; replacement: { boot: boolean } }): boolean =>
    a.repair.mode === "repair" && a.replacement.boot;

export interface BootEvidence {
    outcome: "login";
    /** the console lines: the prompt and the lines just before it */
    evidence: string[];
    /** from the first console read to the prompt */
    seconds: number;
}

/** The replacement's boot is proven when it boots and the proof is enabled. */
export const provesBoot = (a: Pick<RepairChainArgs, "repair" | "replacement" | "bootProof">): boolean =>
    bootsReplacement(a) && (a.bootProof?.enabled ?? false);

export interface RepairChain {
    repair: DiskRepair;
    serverId: pulumi.Output<string | undefined>;
    ipAddresses: pulumi.Output<string[]>;
    bootProof: pulumi.Output<BootEvidence | undefined>;
    retained: string[];
}

/** The steps after the volume, children of `parent`, named `<name>-attachment`, `-repair`, `-port-N`, `-server`, `-boot`
 *  (the names the volume-backed recipe has always had: its stacks' URNs stay). */
export function repairAndReplace(
    name: string,
    a: RepairChainArgs,
    clone: { volumeId: pulumi.Output<string> },
    parent: { parent: pulumi.Resource },
    cloneLabel: string,
): RepairChain {
    const tags = { incident: a.incident, stack: a.stack, source: a.brokenServer.id };
    const boots = bootsReplacement(a);
    const attachment = new HelperAttachment(
        `${name}-attachment`,
        { ...tags, helperServerId: a.helper.serverId, volumeId: clone.volumeId },
        parent,
    );

    const repair = new DiskRepair(
        `${name}-repair`,
        {
            ...tags,
            volumeId: attachment.volumeId, // after the attachment: the disk must be there
            helperServerId: a.helper.serverId,
            host: a.helper.address,
            port: a.helper.port,
            user: a.helper.user,
            privateKeyFile: a.helper.privateKeyFile,
            hostKey: a.helper.hostKey,
            byIdDir: a.helper.byIdDir,
            actions: a.repair.actions,
            mode: a.repair.mode,
            fstabPolicy: a.repair.fstabPolicy,
            customScript: a.repair.customScript,
            timeoutSeconds: a.timeouts.repairSeconds,
        },
        parent,
    );

    // explicit type arguments: without strict (the runner's default options) output(undefined) is Output<any>
    let serverId: pulumi.Output<string | undefined> = pulumi.output<string | undefined>(undefined);
    let ipAddresses: pulumi.Output<string[]> = pulumi.output<string[]>([]);
    let bootProof: pulumi.Output<BootEvidence | undefined> = pulumi.output<BootEvidence | undefined>(undefined);
    const retained: string[] = [];
    if (boots) {
        // the broken server is stopped (fenced) only once the repair has succeeded
        const ports =
            a.keepIp.mode === "takeover"
                ? a.keepIp.portIds.map(
                      (portId, n) =>
                          new ReservedPort(
                              `${name}-port-${n}`,
                              {
                                  ...tags,
                                  mode: "takeover",
                                  brokenServerId: a.brokenServer.id,
                                  portId,
                                  timeoutSeconds: a.timeouts.bootSeconds,
                              },
                              { ...parent, dependsOn: [repair] },
                          ),
                  )
                : a.keepIp.mode === "create"
                  ? [
                        new ReservedPort(
                            `${name}-port-0`,
                            {
                                ...tags,
                                mode: "create",
                                brokenServerId: a.brokenServer.id,
                                networkId: a.keepIp.networkId,
                                fixedIps: a.keepIp.fixedIps,
                                retain: a.retain.port,
                                timeoutSeconds: a.timeouts.bootSeconds,
                            },
                            { ...parent, dependsOn: [repair] },
                        ),
                    ]
                  : [];
        const server = new ReplacementServer(
            `${name}-server`,
            {
                ...tags,
                name: a.replacement.name,
                flavorId: a.brokenServer.flavorId,
                bootVolumeId: clone.volumeId,
                portIds: ports.map((p) => p.portId),
                networkIds: a.keepIp.mode === "none" ? a.keepIp.networkIds : [],
                availabilityZone: a.brokenServer.availabilityZone,
                keyName: a.brokenServer.keyName,
                hostname: a.replacement.hostname,
                brokenServerId: a.brokenServer.id,
                dataVolumeIds: a.replacement.dataVolumeIds,
                retain: a.retain.server,
                timeoutSeconds: a.timeouts.bootSeconds,
            },
            { ...parent, dependsOn: [repair, ...ports] },
        );
        serverId = server.serverId;
        ipAddresses = server.ipAddresses;
        if (a.bootProof?.enabled) {
            // ACTIVE says the hypervisor started it; the console says whether the repaired disk boots
            const proof = new BootProof(
                `${name}-boot`,
                {
                    ...tags,
                    serverId: server.serverId,
                    serverName: a.replacement.name,
                    loginPattern: a.bootProof.loginPattern,
                    timeoutSeconds: a.bootProof.timeoutSeconds,
                },
                { ...parent, dependsOn: [server] },
            );
            bootProof = pulumi
                .all([proof.outcome, proof.evidence, proof.seconds])
                .apply(([outcome, evidence, seconds]): BootEvidence => ({ outcome, evidence, seconds }));
        }
        if (a.retain.server) retained.push(`server ${a.replacement.name}`);
        if (a.keepIp.mode === "takeover") {
            retained.push(
                `port(s) ${a.keepIp.portIds.join(", ")} (the broken server's own, ${a.retain.server ? "now the replacement's" : `given back to ${a.brokenServer.name} on destroy`})`,
            );
        }
        if (a.keepIp.mode === "create" && a.retain.port)
            retained.push(`port with ${a.keepIp.fixedIps.map((f) => f.ip_address).join(", ")}`);
        if (a.retain.rootVolume) retained.push(`root volume ${a.replacement.name} boots from (${cloneLabel})`);
    }

    return { repair, serverId, ipAddresses, bootProof, retained };
}

/** The config keys of the chain, as every recipe that ends in it has them (recipes/sections.ts). */
export interface ChainConfig extends CommonConfig {
    helper: z.output<typeof HelperSection>;
    repair: z.output<typeof RepairSection>;
    keepIp: z.output<typeof KeepIpSection>;
    replacement: z.output<typeof ReplacementSection>;
    retain: z.output<typeof RetainSection>;
    timeouts: z.output<typeof TimeoutsSection>;
    bootProof: z.output<typeof BootProofSection>;
}

/** Read-only: the helper, the addresses to keep, the flavor; the chain's arguments from the config. */
export async function planChain(
    { session: s, stack, facts }: RecipeContext,
    c: ChainConfig,
): Promise<{ args: RepairChainArgs; helperName: string; warnings: string[] }> {
    const helper = await helperFor(s, facts, c.helper);
    const keepIp = await keepIpFor(s, facts, c.keepIp);
    const flavorId = c.replacement.flavor ?? (await compute.resolveFlavorId(s, facts.broken));
    await refuseUnserved(s, c.replacement.hostname !== undefined, "replacement.hostname", compute.HOSTNAME_MICROVERSION);
    const { broken } = facts;
    const args: RepairChainArgs = {
        incident: c.incident,
        stack,
        brokenServer: {
            id: broken.id,
            name: broken.name,
            availabilityZone: broken["OS-EXT-AZ:availability_zone"] ?? undefined,
            flavorId,
            keyName: c.replacement.keyName,
        },
        helper: {
            serverId: helper.server.id,
            address: helper.address,
            port: c.helper.sshPort,
            user: c.helper.sshUser,
            privateKeyFile: c.helper.sshKeyFile,
            hostKey: c.helper.hostKey,
            byIdDir: c.helper.byIdDir,
        },
        repair: c.repair,
        keepIp: keepIp.mode === "takeover" ? { mode: "takeover", portIds: keepIp.ports.map((p) => p.id) } : keepIp,
        replacement: {
            name: c.replacement.name ?? `${broken.name}-recovered`,
            boot: c.replacement.boot,
            dataVolumeIds: c.replacement.moveDataVolumes ? facts.dataVolumes.map((v) => v.id) : [],
            hostname: c.replacement.hostname,
        },
        retain: c.retain,
        timeouts: c.timeouts,
        bootProof: c.bootProof,
    };
    return { args, helperName: helper.server.name, warnings: helper.warning ? [helper.warning] : [] };
}

/** The preview's words for the chain after the volume: the repair and what boots. */
export function describeChain(args: RepairChainArgs, helperName: string): string {
    return (
        `repair it on ${helperName} at ${args.helper.address}` +
        (bootsReplacement(args)
            ? `, boot ${args.replacement.name} from it with ${args.keepIp.mode === "takeover" ? `port(s) ${args.keepIp.portIds.join(", ")}` : args.keepIp.mode === "create" ? "a new port for the kept address" : "new addresses"}` +
              (provesBoot(args) ? ", read its console until a login prompt" : "")
            : ", boot nothing")
    );
}

/** `verify` needs a replacement to check. */
export function refineVerify(c: ChainConfig, issue: (path: string[], message: string) => void): void {
    if (c.verify && !bootsReplacement(c))
        issue(
            ["verify"],
            `there is no replacement to check: ${c.repair.mode === "report" ? "repair.mode is report" : "replacement.boot is false"}`,
        );
}

/** The image a server booted from, for messages. */
export const imageOf = (s: compute.Server): string => (typeof s.image === "object" && s.image ? s.image.id : "?");
