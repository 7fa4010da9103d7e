// Strategy "ephemeral": runbook 000 sections A and C, for a server whose root is a qcow2 overlay on its
// compute host's local disk (the default for a server booted from an image).
//   lock the server -> copy its disk and backing file from the compute host (reads only there)
//   -> merge them on this machine -> upload the merged image to Glance (DELETE ME) -> a volume from it
//   (never another ephemeral server: runbook C) -> then as volume-backed: attach to the helper, repair,
//   take over the ports, boot the replacement from the volume, move the data volumes.
// The copy is the runbook's way, for cloud admins who can SSH to the compute host (directly or through
// a jump host, as the runbook goes through the director); it works while nova-compute is dead, as long
// as the host's disk is readable.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { compute, type Session } from "../clients/openstack";
import { fromProjectRoot } from "../clients/projectRoot";
import type { RepairReport } from "../toolkit";
import { DiskFlatten } from "../providers/diskFlatten";
import { EphemeralDiskCopy } from "../providers/ephemeralDiskCopy";
import { ImageUpload } from "../providers/imageUpload";
import { IncidentLock } from "../providers/incidentLock";
import { ServerSnapshot } from "../providers/serverSnapshot";
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
import { ConfigError, defineRecipe } from "./recipe";
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

const keyFile = z
    .string()
    .min(1)
    .transform((f) => fromProjectRoot(f))
    .optional();

const SshHost = {
    address: z.string().min(1, "required: the address its sshd listens on"),
    sshPort: z.number().int().min(1).max(65535).default(22),
    sshUser: z.string().min(1).default("root"),
    /** a private key file on this machine, relative to the directory of Pulumi.yaml; default: the SSH agent, then ~/.ssh/id_* */
    sshKeyFile: keyFile,
    /** pin its host key: "ssh-ed25519 AAAA..." or "SHA256:..." */
    hostKey: z.string().min(1).optional(),
};

/** how the ephemeral disk is read, and where it is merged */
export const EphemeralSection = z
    .strictObject({
        /** compute-host: copy it over SSH (admins; works while nova-compute is down); nova: Nova makes an image of the
         *  stopped server (project members; needs nova-compute up); auto: compute-host when computeHost is set */
        source: z.enum(["auto", "compute-host", "nova"]).default("auto"),
        /** the broken server's compute host, reached over SSH (only read there: stat, sha256sum, cat) */
        computeHost: z.strictObject({ ...SshHost, jump: z.strictObject(SshHost).optional() }).optional(),
        /** nova.conf [DEFAULT] instances_path on the compute host */
        instancesDir: z.string().startsWith("/", "must be an absolute path").default("/var/lib/nova/instances"),
        /** on this machine: the copies, the merged image; `<workDir>/_base` keeps backing files for later incidents */
        workDir: z
            .string()
            .min(1)
            .transform((d) => path.resolve(fromProjectRoot(d)))
            .default("/var/tmp/openstack-recovery"),
        /** keep the image in Glance on destroy (default: deleted with the other DELETE ME pieces) */
        keepImage: z.boolean().default(false),
    })
    .default({ source: "auto", instancesDir: "/var/lib/nova/instances", workDir: "/var/tmp/openstack-recovery", keepImage: false });

type EphemeralConfig = z.output<typeof EphemeralSection>;

type ComputeHost = NonNullable<EphemeralConfig["computeHost"]>;

/** The way the disk is read, and why (said at preview). */
export type EphemeralWay = { way: "compute-host"; computeHost: ComputeHost; why: string } | { way: "nova"; why: string };

export interface EphemeralArgs extends RepairChainArgs {
    ephemeral: {
        source: EphemeralWay;
        /** the disk on the compute host */
        diskPath: string;
        workDir: string;
        keepImage: boolean;
        /** the compute host Nova names (for messages) */
        hostName?: string;
    };
    cloneName: string;
}

const imageName = (a: EphemeralArgs) => `${a.incident} DELETE ME merged root of ${a.brokenServer.name}`;

const sshTarget = (h: ComputeHost | NonNullable<ComputeHost["jump"]>) => ({
    host: h.address,
    port: h.sshPort,
    user: h.sshUser,
    privateKeyFile: h.sshKeyFile,
    hostKey: h.hostKey,
});

export class EphemeralRecovery extends pulumi.ComponentResource {
    declare readonly volumeId: pulumi.Output<string>;
    declare readonly imageId: pulumi.Output<string>;
    declare readonly repairReport: pulumi.Output<RepairReport>;
    declare readonly repairSummary: pulumi.Output<string>;
    declare readonly serverId: pulumi.Output<string | undefined>;
    declare readonly ipAddresses: pulumi.Output<string[]>;
    declare readonly bootProof: pulumi.Output<BootEvidence | undefined>;
    declare readonly retained: pulumi.Output<string[]>;

    constructor(name: string, a: EphemeralArgs, opts?: pulumi.ComponentResourceOptions) {
        super("openstack-recovery:recipes:Ephemeral", name, {}, opts);
        const parent = { parent: this };
        const tags = { incident: a.incident, stack: a.stack, source: a.brokenServer.id };
        const boots = bootsReplacement(a);
        const e = a.ephemeral;

        const lock = new IncidentLock(
            `${name}-lock`,
            { ...tags, serverId: a.brokenServer.id, sweptBy: a.sweep?.name },
            { ...parent, dependsOn: a.sweep ? [a.sweep.resource] : [] },
        );
        const source =
            e.source.way === "compute-host"
                ? this.copyAndUpload(name, a, e.source.computeHost, tags, lock)
                : this.novaImage(name, a, tags, lock);
        // runbook C: a volume from the image, never another ephemeral server
        const volume = new VolumeClone(
            `${name}-clone`,
            {
                ...tags,
                sourceImageId: source.imageId,
                name: a.cloneName,
                size: source.sizeGiB,
                // Cinder's default zone: Nova's zone of the server need not exist in Cinder (a volume-backed
                // clone takes its source's; here there is no source volume)
                retain: boots && a.retain.rootVolume,
                helperServerId: a.helper.serverId,
                timeoutSeconds: a.timeouts.cloneSeconds,
            },
            parent,
        );
        const chain = repairAndReplace(name, a, volume, parent, a.cloneName);
        if (e.keepImage) chain.retained.push(`image ${imageName(a)} (DELETE ME and the recovery tags removed)`);

        this.volumeId = volume.volumeId;
        this.imageId = source.imageId;
        this.repairReport = chain.repair.report;
        this.repairSummary = chain.repair.summary;
        this.serverId = chain.serverId;
        this.ipAddresses = chain.ipAddresses;
        this.bootProof = chain.bootProof;
        this.retained = pulumi.output(chain.retained);
        this.registerOutputs({
            volumeId: volume.volumeId,
            imageId: source.imageId,
            repairSummary: chain.repair.summary,
            serverId: chain.serverId,
            ipAddresses: chain.ipAddresses,
            bootProof: chain.bootProof,
            retained: chain.retained,
        });
    }

    /** the runbook's way: copy the overlay and its base from the compute host, merge here, upload */
    private copyAndUpload(
        name: string,
        a: EphemeralArgs,
        host: ComputeHost,
        tags: { incident: string; stack: string; source: string },
        lock: pulumi.Resource,
    ): { imageId: pulumi.Output<string>; sizeGiB: pulumi.Output<number> } {
        const parent = { parent: this };
        const e = a.ephemeral;
        const copy = new EphemeralDiskCopy(
            `${name}-copy`,
            {
                ...tags,
                computeHost: { ...sshTarget(host), ...(host.jump ? { jump: sshTarget(host.jump) } : {}) },
                diskPath: e.diskPath,
                workDir: e.workDir,
                timeoutSeconds: a.timeouts.cloneSeconds,
            },
            { ...parent, dependsOn: [lock] },
        );
        const merged = new DiskFlatten(
            `${name}-merge`,
            {
                ...tags,
                overlayFile: copy.overlayFile,
                baseFile: copy.baseFile,
                // a new copy is a new merge
                overlaySha256: copy.overlaySha256,
                timeoutSeconds: a.timeouts.cloneSeconds,
            },
            parent,
        );
        const image = new ImageUpload(
            `${name}-image`,
            {
                ...tags,
                file: merged.mergedFile,
                expectedSha512: merged.sha512,
                name: imageName(a),
                diskFormat: "qcow2",
                retain: e.keepImage,
                timeoutSeconds: a.timeouts.cloneSeconds,
            },
            parent,
        );
        return { imageId: image.imageId, sizeGiB: merged.virtualSize.apply((b) => Math.max(1, Math.ceil(b / 1024 ** 3))) };
    }

    /** through Nova: the server stopped, Nova's compute host makes the image (merged, as libvirt's snapshot is) */
    private novaImage(
        name: string,
        a: EphemeralArgs,
        tags: { incident: string; stack: string; source: string },
        lock: pulumi.Resource,
    ): { imageId: pulumi.Output<string>; sizeGiB: pulumi.Output<number> } {
        const snapshot = new ServerSnapshot(
            `${name}-snapshot`,
            {
                ...tags,
                serverId: a.brokenServer.id,
                name: imageName(a),
                retain: a.ephemeral.keepImage,
                timeoutSeconds: a.timeouts.cloneSeconds,
            },
            { parent: this, dependsOn: [lock] },
        );
        return { imageId: snapshot.imageId, sizeGiB: snapshot.minVolumeGiB };
    }
}

/** Strategy "ephemeral" (runbook 000 A + C): a server whose root is a local qcow2 overlay on its compute host. */
export const ephemeralRecipe = defineRecipe({
    strategy: "ephemeral",
    summary:
        "a server booted from an image onto its compute host's local disk: copy the overlay and its base from the compute host, merge them, upload to Glance, make a volume of it, repair it on the helper, boot a replacement from it with the old ports (runbook 000 A + C, 002, 003)",
    section: z.object({
        ephemeral: EphemeralSection,
        helper: HelperSection,
        repair: RepairSection,
        keepIp: KeepIpSection,
        replacement: ReplacementSection,
        retain: RetainSection,
        timeouts: TimeoutsSection,
        bootProof: BootProofSection,
    }),
    examples: {
        ...SECTION_EXAMPLES,
        ephemeral: "pulumi config set --path ephemeral.computeHost.address <compute host address>",
        "ephemeral.computeHost": "pulumi config set --path ephemeral.computeHost.address <compute host address>",
        "ephemeral.computeHost.address": "pulumi config set --path ephemeral.computeHost.address <compute host address>",
    },
    refine: refineVerify,
    applies: (f) =>
        f.volumeBacked
            ? { fits: false, why: `${f.broken.name} boots from volume ${f.rootVolume?.id}, not from a local disk` }
            : { fits: true, why: `${f.broken.name} boots from image ${imageOf(f.broken)} onto its compute host's local disk` },
    async plan(ctx, c) {
        const { broken } = ctx.facts;
        const planned = await planChain(ctx, c);
        const way = await wayFor(ctx.session, broken, c.ephemeral);
        const args: EphemeralArgs = {
            ...planned.args,
            cloneName: cloneName(c.incident, broken.name),
            ephemeral: {
                source: way,
                diskPath: path.posix.join(c.ephemeral.instancesDir, broken.id, "disk"),
                workDir: c.ephemeral.workDir,
                keepImage: c.ephemeral.keepImage,
                hostName: broken["OS-EXT-SRV-ATTR:host"] ?? undefined,
            },
        };
        const warnings = [
            ...planned.warnings,
            ...(way.way === "compute-host" && !way.computeHost.hostKey
                ? [
                      `ephemeral.computeHost.hostKey is not set: the compute host's key is accepted as it is presented and reported (output hostKeyFingerprint); pin it with pulumi config set --path ephemeral.computeHost.hostKey "$(ssh-keyscan -t ed25519 ${way.computeHost.address} | cut -d' ' -f2-)"`,
                  ]
                : []),
        ];
        return { args, helperName: planned.helperName, warnings };
    },
    warnings: (p) => p.warnings,
    describe: ({ args, helperName }) => {
        const e = args.ephemeral;
        const read =
            e.source.way === "compute-host"
                ? `copy ${e.diskPath} and its backing file from the compute host${e.hostName ? ` ${e.hostName}` : ""} (${e.source.computeHost.sshUser}@${e.source.computeHost.address}` +
                  `${e.source.computeHost.jump ? ` through ${e.source.computeHost.jump.sshUser}@${e.source.computeHost.jump.address}` : ""}: reads only there) to ${e.workDir}, merge them, upload the merged image to Glance`
                : `stop ${args.brokenServer.name} and let Nova make an image of its disk`;
        return `way ${e.source.way} (${e.source.why}): ${read}, make volume ${args.cloneName} of it, ${describeChain(args, helperName)}`;
    },
    build(name, { args }, { sweep }) {
        const recovery = new EphemeralRecovery(name, { ...args, sweep });
        return {
            component: recovery,
            outputs: {
                repairedVolumeId: recovery.volumeId,
                mergedImageId: recovery.imageId,
                repairSummary: recovery.repairSummary,
                repairReport: recovery.repairReport,
                ...(bootsReplacement(args) ? { newServerId: recovery.serverId, newServerIps: recovery.ipAddresses } : {}),
                ...(provesBoot(args) ? { bootProof: recovery.bootProof } : {}),
            },
            retained: recovery.retained,
            verifyTarget: bootsReplacement(args)
                ? {
                      serverId: recovery.serverId,
                      serverName: args.replacement.name,
                      ipAddresses: recovery.ipAddresses,
                      repairedVolumeId: recovery.volumeId,
                  }
                : undefined,
        };
    },
});

/**
 * Which way the disk is read: the config's, or (auto) the compute host's when one is named, else Nova's.
 * Nova's needs nova-compute up on the server's host: where this user may see the compute services (an
 * admin), a service that is down is refused here, with the other way as the fix.
 */
async function wayFor(s: Session, broken: compute.CompleteServer, e: EphemeralConfig): Promise<EphemeralWay> {
    const host = broken["OS-EXT-SRV-ATTR:host"] ?? undefined;
    const want = e.source === "auto" ? (e.computeHost ? "compute-host" : "nova") : e.source;
    if (want === "compute-host") {
        if (!e.computeHost)
            throw new ConfigError(
                "ephemeral.computeHost.address",
                "ephemeral.source is compute-host but no compute host is named",
                `pulumi config set --path ephemeral.computeHost.address <address of ${host ?? "the server's compute host"}>   (or ephemeral.source nova)`,
            );
        return {
            way: "compute-host",
            computeHost: e.computeHost,
            why:
                e.source === "auto"
                    ? "ephemeral.computeHost is set: the runbook's way, which works while nova-compute is down"
                    : "ephemeral.source",
        };
    }
    const service = host ? await compute.computeServiceOf(s, host) : undefined;
    if (service && (service.state !== "up" || service.status !== "enabled"))
        throw new ConfigError(
            "ephemeral.source",
            `Nova cannot make the image: nova-compute on ${host} is ${service.state}/${service.status}`,
            `pulumi config set --path ephemeral.computeHost.address <address of ${host}>   (the compute host's way reads the disk without nova-compute)`,
        );
    return {
        way: "nova",
        why:
            e.source === "auto"
                ? `no ephemeral.computeHost: Nova makes the image${service ? `, nova-compute on ${host} is up` : ", which needs nova-compute up on the server's host"}`
                : "ephemeral.source",
    };
}
