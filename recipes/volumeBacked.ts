// Strategy "volume-backed": runbook 000 sections B and C, keeping the address as 002 and 003 ask.
//   lock the server for this stack -> clone the root volume -> attach the clone to the helper -> repair it there (and release it)
//   -> stop the broken server and take over its port -> boot the replacement from the repaired
//   clone with that port -> move the data volumes over.
// One `pulumi up` runs the whole chain: the repair releases the attachment itself, so nothing has
// to be deleted mid-run (Pulumi deletes only at the end of an update).
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import type { RepairReport } from "../toolkit";
import { IncidentLock } from "../providers/incidentLock";
import { VolumeClone } from "../providers/volumeClone";
import { cloneName } from "../providers/tags";
import {
    bootsReplacement,
    describeChain,
    imageOf,
    planChain,
    provesBoot,
    refineVerify,
    repairAndReplace,
    type BootEvidence,
    type RepairChainArgs,
} from "./chain";
import { defineRecipe } from "./recipe";
import {
    BootProofSection,
    HelperSection,
    KeepIpSection,
    ReplacementSection,
    RepairSection,
    RetainSection,
    SECTION_EXAMPLES,
    TimeoutsSection,
} from "./sections";

export { bootsReplacement, provesBoot, type BootEvidence } from "./chain";

/** The chain of runbook 000 B: the clone of the root volume, then the shared repair chain. */
export interface VolumeBackedArgs extends RepairChainArgs {
    /** the DELETE-ME clone's name (default vol-clone-<incident>) */
    cloneName?: string;
    /** 000 B 2: its root volume (only ever read: the clone is made from it) */
    rootVolume: { id: string; size: number; volumeType?: string; availabilityZone?: string };
}

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

        const { repair, serverId, ipAddresses, bootProof, retained } = repairAndReplace(
            name,
            a,
            clone,
            parent,
            a.cloneName ?? cloneName(a.incident),
        );

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
    refine: refineVerify,
    applies: (f) =>
        f.volumeBacked
            ? { fits: true, why: `${f.broken.name} boots from volume ${f.rootVolume?.id}` }
            : { fits: false, why: `${f.broken.name} is not volume-backed (it boots from image ${imageOf(f.broken)} on local disk)` },
    async plan(ctx, c) {
        const { args: chain, helperName, warnings } = await planChain(ctx, c);
        const root = ctx.facts.rootVolume!;
        const args: VolumeBackedArgs = {
            ...chain,
            cloneName: cloneName(c.incident, ctx.facts.broken.name),
            rootVolume: {
                id: root.id,
                size: root.size,
                volumeType: root.volume_type ?? undefined,
                availabilityZone: root.availability_zone ?? undefined,
            },
        };
        return { args, helperName, warnings };
    },
    warnings: (p) => p.warnings,
    describe: ({ args, helperName }) =>
        `clone root volume ${args.rootVolume.id} (${args.rootVolume.size} GiB), ${describeChain(args, helperName).replace(" from it with", " with")}`,
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
