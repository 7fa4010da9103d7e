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
import { compute } from "../clients/openstack";
import { fromProjectRoot } from "../clients/projectRoot";
import type { RepairReport } from "../toolkit";
import { DiskFlatten } from "../providers/diskFlatten";
import { EphemeralDiskCopy } from "../providers/ephemeralDiskCopy";
import { ImageUpload } from "../providers/imageUpload";
import { IncidentLock } from "../providers/incidentLock";
import { VolumeClone } from "../providers/volumeClone";
import { cloneName } from "../providers/tags";
import { bootsReplacement, provesBoot, repairAndReplace, type BootEvidence, type RepairChainArgs } from "./chain";
import { ConfigError, defineRecipe } from "./recipe";
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

/** where the ephemeral disk is read and where it is merged */
export const EphemeralSection = z.strictObject(
    {
        /** the broken server's compute host, reached over SSH (only read there: stat, sha256sum, cat) */
        computeHost: z.strictObject({ ...SshHost, jump: z.strictObject(SshHost).optional() }, { error: "required" }),
        /** nova.conf [DEFAULT] instances_path on the compute host */
        instancesDir: z.string().startsWith("/", "must be an absolute path").default("/var/lib/nova/instances"),
        /** on this machine: the copies, the merged image; `<workDir>/_base` keeps backing files for later incidents */
        workDir: z
            .string()
            .min(1)
            .transform((d) => path.resolve(fromProjectRoot(d)))
            .default("/var/tmp/openstack-recovery"),
        /** keep the merged image in Glance on destroy (default: deleted with the other DELETE ME pieces) */
        keepImage: z.boolean().default(false),
    },
    { error: "required: where the ephemeral disk is, e.g. pulumi config set --path ephemeral.computeHost.address <compute host>" },
);

type EphemeralConfig = z.output<typeof EphemeralSection>;

export interface EphemeralArgs extends RepairChainArgs {
    ephemeral: {
        computeHost: EphemeralConfig["computeHost"];
        /** the disk on the compute host */
        diskPath: string;
        workDir: string;
        keepImage: boolean;
        /** the compute host Nova names (for messages) */
        hostName?: string;
    };
    cloneName: string;
}

const sshTarget = (h: EphemeralConfig["computeHost"] | NonNullable<EphemeralConfig["computeHost"]["jump"]>) => ({
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
        const copy = new EphemeralDiskCopy(
            `${name}-copy`,
            {
                ...tags,
                computeHost: { ...sshTarget(e.computeHost), ...(e.computeHost.jump ? { jump: sshTarget(e.computeHost.jump) } : {}) },
                diskPath: e.diskPath,
                workDir: e.workDir,
                timeoutSeconds: a.timeouts.cloneSeconds,
            },
            { ...parent, dependsOn: [lock] },
        );
        const merged = new DiskFlatten(
            `${name}-merge`,
            { ...tags, overlayFile: copy.overlayFile, baseFile: copy.baseFile, timeoutSeconds: a.timeouts.cloneSeconds },
            parent,
        );
        const image = new ImageUpload(
            `${name}-image`,
            {
                ...tags,
                file: merged.mergedFile,
                expectedSha512: merged.sha512,
                name: `${a.incident} DELETE ME merged root of ${a.brokenServer.name}`,
                diskFormat: "qcow2",
                retain: e.keepImage,
                timeoutSeconds: a.timeouts.cloneSeconds,
            },
            parent,
        );
        // runbook C: a volume from the image, never another ephemeral server
        const volume = new VolumeClone(
            `${name}-clone`,
            {
                ...tags,
                sourceImageId: image.imageId,
                name: a.cloneName,
                size: merged.virtualSize.apply((b) => Math.max(1, Math.ceil(b / 1024 ** 3))),
                availabilityZone: a.brokenServer.availabilityZone,
                retain: boots && a.retain.rootVolume,
                helperServerId: a.helper.serverId,
                timeoutSeconds: a.timeouts.cloneSeconds,
            },
            parent,
        );
        const chain = repairAndReplace(name, a, volume, parent, a.cloneName);
        if (e.keepImage) chain.retained.push(`image ${a.incident} DELETE ME merged root of ${a.brokenServer.name} (renamed as kept)`);

        this.volumeId = volume.volumeId;
        this.imageId = image.imageId;
        this.repairReport = chain.repair.report;
        this.repairSummary = chain.repair.summary;
        this.serverId = chain.serverId;
        this.ipAddresses = chain.ipAddresses;
        this.bootProof = chain.bootProof;
        this.retained = pulumi.output(chain.retained);
        this.registerOutputs({
            volumeId: volume.volumeId,
            imageId: image.imageId,
            repairSummary: chain.repair.summary,
            serverId: chain.serverId,
            ipAddresses: chain.ipAddresses,
            bootProof: chain.bootProof,
            retained: chain.retained,
        });
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
    refine(c, issue) {
        if (c.verify && !bootsReplacement(c))
            issue(
                ["verify"],
                `there is no replacement to check: ${c.repair.mode === "report" ? "repair.mode is report" : "replacement.boot is false"}`,
            );
    },
    applies: (f) =>
        f.volumeBacked
            ? { fits: false, why: `${f.broken.name} boots from volume ${f.rootVolume?.id}, not from a local disk` }
            : { fits: true, why: `${f.broken.name} boots from image ${imageOf(f.broken)} onto its compute host's local disk` },
    async plan({ session: s, stack, facts }, c) {
        const { broken } = facts;
        const helper = await helperFor(s, facts, c.helper);
        const keepIp = await keepIpFor(s, facts, c.keepIp);
        const flavorId = c.replacement.flavor ?? (await compute.resolveFlavorId(s, broken));
        await refuseUnserved(s, c.replacement.hostname !== undefined, "replacement.hostname", compute.HOSTNAME_MICROVERSION);
        if (!path.isAbsolute(c.ephemeral.workDir))
            throw new ConfigError(
                "ephemeral.workDir",
                `${c.ephemeral.workDir} is not an absolute path`,
                "pulumi config set --path ephemeral.workDir /var/tmp/openstack-recovery",
            );
        const args: EphemeralArgs = {
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
            ephemeral: {
                computeHost: c.ephemeral.computeHost,
                diskPath: path.posix.join(c.ephemeral.instancesDir, broken.id, "disk"),
                workDir: c.ephemeral.workDir,
                keepImage: c.ephemeral.keepImage,
                hostName: broken["OS-EXT-SRV-ATTR:host"] ?? undefined,
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
        const warnings = [
            ...(helper.warning ? [helper.warning] : []),
            ...(c.ephemeral.computeHost.hostKey
                ? []
                : [
                      `ephemeral.computeHost.hostKey is not set: the compute host's key is accepted as it is presented and reported (output hostKeyFingerprint); pin it with pulumi config set --path ephemeral.computeHost.hostKey "$(ssh-keyscan -t ed25519 ${c.ephemeral.computeHost.address} | cut -d' ' -f2-)"`,
                  ]),
        ];
        return { args, helperName: helper.server.name, warnings };
    },
    warnings: (p) => p.warnings,
    describe: ({ args, helperName }) => {
        const e = args.ephemeral;
        const via = e.computeHost.jump ? ` through ${e.computeHost.jump.sshUser}@${e.computeHost.jump.address}` : "";
        return (
            `copy ${e.diskPath} and its backing file from the compute host${e.hostName ? ` ${e.hostName}` : ""} (${e.computeHost.sshUser}@${e.computeHost.address}${via}: ` +
            `the runbook's way, reads only there) to ${e.workDir}, merge them, upload the merged image to Glance, make volume ${args.cloneName} of it, repair it on ${helperName} at ${args.helper.address}` +
            (bootsReplacement(args)
                ? `, boot ${args.replacement.name} from it with ${args.keepIp.mode === "takeover" ? `port(s) ${args.keepIp.portIds.join(", ")}` : args.keepIp.mode === "create" ? "a new port for the kept address" : "new addresses"}` +
                  (provesBoot(args) ? ", read its console until a login prompt" : "")
                : ", boot nothing")
        );
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

const imageOf = (s: compute.Server) => (typeof s.image === "object" && s.image ? s.image.id : "?");
