// Strategy "volume-backed": runbook 000 sections B and C, keeping the address as 002 and 003 ask.
//   lock the server for this stack -> clone the root volume -> attach the clone to the helper -> repair it there (and release it)
//   -> stop the broken server and take over its port -> boot the replacement from the repaired
//   clone with that port -> move the data volumes over.
// One `pulumi up` runs the whole chain: the repair releases the attachment itself, so nothing has
// to be deleted mid-run (Pulumi deletes only at the end of an update).
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { compute } from "../clients/openstack";
import type { RepairAction, RepairReport } from "../toolkit";
import { BootProof } from "../providers/bootProof";
import { DiskRepair } from "../providers/diskRepair";
import { HelperAttachment } from "../providers/helperAttachment";
import { IncidentLock } from "../providers/incidentLock";
import { ReplacementServer } from "../providers/replacementServer";
import { ReservedPort } from "../providers/reservedPort";
import { VolumeClone } from "../providers/volumeClone";
import { cloneName } from "../providers/tags";
import { defineRecipe } from "./recipe";
import {
    BootProofSection,
    helperFor,
    HelperSection,
    keepIpFor,
    KeepIpSection,
    ReplacementSection,
    RepairSection,
    refuseUnserved,
    RetainSection,
    SECTION_EXAMPLES,
    TimeoutsSection,
} from "./sections";

export interface VolumeBackedArgs {
    /** the incident id; temporary things are described `<incident> DELETE ME` */
    incident: string;
    /** `<organization>/<project>/<stack>`, the owner tag of everything created */
    stack: string;
    /** the DELETE-ME clone's name (default vol-clone-<incident>) */
    cloneName?: string;
    /** 000 B 2: the server that will not boot (it is stopped, never deleted or changed otherwise) */
    brokenServer: { id: string; name: string; availabilityZone?: string; flavorId: string; keyName?: string };
    /** 000 B 2: its root volume (only ever read: the clone is made from it) */
    rootVolume: { id: string; size: number; volumeType?: string; availabilityZone?: string };
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
export const provesBoot = (a: Pick<VolumeBackedArgs, "repair" | "replacement" | "bootProof">): boolean =>
    bootsReplacement(a) && (a.bootProof?.enabled ?? false);

export class VolumeBackedRecovery extends pulumi.ComponentResource {
    declare readonly cloneVolumeId: pulumi.Output<string>;
    declare readonly repairReport: pulumi.Output<RepairReport>;
    declare readonly repairSummary: pulumi.Output<string>;
    declare readonly serverId: pulumi.Output<string | undefined>;
    declare readonly ipAddresses: pulumi.Output<string[]>;
    /** what the replacement's console showed: a login prompt and the lines before it (absent: not proven) */
    declare readonly bootProof: pulumi.Output<BootEvidence | undefined>;
    /** what `pulumi destroy` keeps, in words */
    declare readonly retained: pulumi.Output<string[]>;

    constructor(name: string, a: VolumeBackedArgs, opts?: pulumi.ComponentResourceOptions) {
        super("openstack-recovery:recipes:VolumeBacked", name, {}, opts);
        const parent = { parent: this };
        const tags = { incident: a.incident, stack: a.stack, source: a.brokenServer.id };
        const boots = bootsReplacement(a);

        // no second stack recovers the same server meanwhile
        const lock = new IncidentLock(
            `${name}-lock`,
            { ...tags, serverId: a.brokenServer.id, sweptBy: a.sweep?.name },
            { ...parent, dependsOn: a.sweep ? [a.sweep.resource] : [] },
        );

        const clone = new VolumeClone(
            `${name}-clone`,
            {
                ...tags,
                sourceVolumeId: a.rootVolume.id,
                name: a.cloneName ?? cloneName(a.incident),
                size: a.rootVolume.size,
                availabilityZone: a.rootVolume.availabilityZone,
                volumeType: a.rootVolume.volumeType,
                // the clone becomes the new root: kept if asked; otherwise it is only a DELETE-ME copy
                retain: boots && a.retain.rootVolume,
                helperServerId: a.helper.serverId,
                timeoutSeconds: a.timeouts.cloneSeconds,
            },
            { ...parent, dependsOn: [lock] },
        );

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
            if (a.retain.rootVolume)
                retained.push(`root volume ${a.replacement.name} boots from (${a.cloneName ?? cloneName(a.incident)})`);
        }

        this.cloneVolumeId = clone.volumeId;
        this.repairReport = repair.report;
        this.repairSummary = repair.summary;
        this.serverId = serverId;
        this.ipAddresses = ipAddresses;
        this.bootProof = bootProof;
        this.retained = pulumi.output(retained);
        this.registerOutputs({ cloneVolumeId: clone.volumeId, repairSummary: repair.summary, serverId, ipAddresses, bootProof, retained });
    }
}

/** Strategy "volume-backed" (runbook 000 B + C): a server whose root disk is a Cinder volume. */
export const volumeBackedRecipe = defineRecipe({
    strategy: "volume-backed",
    summary:
        "a server booted from a Cinder volume: clone the root volume, repair the clone on the helper, boot a replacement from it with the old ports (runbook 000 B + C, 002, 003)",
    section: z.object({
        helper: HelperSection,
        repair: RepairSection,
        keepIp: KeepIpSection,
        replacement: ReplacementSection,
        retain: RetainSection,
        timeouts: TimeoutsSection,
        bootProof: BootProofSection,
    }),
    examples: SECTION_EXAMPLES,
    refine(c, issue) {
        if (c.verify && !bootsReplacement(c))
            issue(
                ["verify"],
                `there is no replacement to check: ${c.repair.mode === "report" ? "repair.mode is report" : "replacement.boot is false"}`,
            );
    },
    applies: (f) =>
        f.volumeBacked
            ? { fits: true, why: `${f.broken.name} boots from volume ${f.rootVolume?.id}` }
            : { fits: false, why: `${f.broken.name} is not volume-backed (it boots from image ${imageOf(f.broken)} on local disk)` },
    async plan({ session: s, stack, facts }, c) {
        const helper = await helperFor(s, facts, c.helper);
        const keepIp = await keepIpFor(s, facts, c.keepIp);
        const flavorId = c.replacement.flavor ?? (await compute.resolveFlavorId(s, facts.broken));
        await refuseUnserved(s, c.replacement.hostname !== undefined, "replacement.hostname", compute.HOSTNAME_MICROVERSION);
        const root = facts.rootVolume!;
        const { broken } = facts;
        const args: VolumeBackedArgs = {
            incident: c.incident,
            stack,
            cloneName: cloneName(c.incident, broken.name),
            brokenServer: {
                id: broken.id,
                name: broken.name,
                availabilityZone: broken["OS-EXT-AZ:availability_zone"] ?? undefined,
                flavorId,
                keyName: c.replacement.keyName,
            },
            rootVolume: {
                id: root.id,
                size: root.size,
                volumeType: root.volume_type ?? undefined,
                availabilityZone: root.availability_zone ?? undefined,
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
    },
    warnings: (p) => p.warnings,
    describe: ({ args, helperName }) =>
        `clone root volume ${args.rootVolume.id} (${args.rootVolume.size} GiB), repair it on ${helperName} at ${args.helper.address}` +
        (bootsReplacement(args)
            ? `, boot ${args.replacement.name} with ${args.keepIp.mode === "takeover" ? `port(s) ${args.keepIp.portIds.join(", ")}` : args.keepIp.mode === "create" ? "a new port for the kept address" : "new addresses"}` +
              (provesBoot(args) ? ", read its console until a login prompt" : "")
            : ", boot nothing"),
    build(name, { args }, { sweep }) {
        const recovery = new VolumeBackedRecovery(name, { ...args, sweep });
        return {
            component: recovery,
            outputs: {
                repairedVolumeId: recovery.cloneVolumeId,
                repairSummary: recovery.repairSummary,
                repairReport: recovery.repairReport,
                // nothing boots in report mode or with replacement.boot false: no server outputs then
                ...(bootsReplacement(args) ? { newServerId: recovery.serverId, newServerIps: recovery.ipAddresses } : {}),
                // the console lines that prove the boot (bootProof.enabled, the default)
                ...(provesBoot(args) ? { bootProof: recovery.bootProof } : {}),
            },
            retained: recovery.retained,
            verifyTarget: bootsReplacement(args)
                ? {
                      serverId: recovery.serverId,
                      serverName: args.replacement.name,
                      ipAddresses: recovery.ipAddresses,
                      repairedVolumeId: recovery.cloneVolumeId,
                  }
                : undefined,
        };
    },
});

const imageOf = (s: compute.Server) => (typeof s.image === "object" && s.image ? s.image.id : "?");
