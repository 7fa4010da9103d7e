// The stack program: read the config, look at the broken server (reads only, so this runs at
// preview too and every config problem stops the run before anything changes), pick the recipe,
// and export what the operator checks afterwards.
import * as pulumi from "@pulumi/pulumi";
import { connect } from "../providers/openstack";
import { bootsReplacement, VolumeBackedRecovery } from "../recipes/volumeBacked";
import { ConfigError, parseConfig, type RecoveryConfig } from "./config";
import { discover, type Incident } from "./discover";
import { postRecoveryCheck } from "./verify";

/** Config problems are the operator's to fix: print the message, not a stack trace. */
async function operatorErrors<T>(f: () => Promise<T>): Promise<T> {
    try {
        return await f();
    } catch (e) {
        if (e instanceof ConfigError) throw new pulumi.RunError(e.message);
        if (e instanceof Error && /^(AuthConfigError|ResourceNotFoundError|AmbiguousNameError)$/.test(e.name)) throw new pulumi.RunError(e.message);
        throw e;
    }
}

export async function main(): Promise<Record<string, unknown>> {
    const raw = (key: string) => pulumi.runtime.getConfig(key);
    const config = await operatorErrors(async () => parseConfig(raw));
    const stack = `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
    const incident = await operatorErrors(async () => discover(await connect(raw, (m) => pulumi.log.debug(m)), config, stack));
    pulumi.log.info(describe(incident));
    if (!incident.volumeBacked) {
        throw new pulumi.RunError(`${incident.broken.name} boots from local (ephemeral) disk: the ephemeral strategy (runbook 000 A) is not built yet; use the runbook by hand`);
    }
    const args = volumeBackedArgs(config, incident, stack);
    const recovery = new VolumeBackedRecovery(config.incident, args);
    const check = config.verify
        ? postRecoveryCheck({
              incident: config.incident,
              command: config.verify.command,
              serverId: recovery.serverId,
              serverName: args.replacement.name,
              ipAddresses: recovery.ipAddresses,
              repairedVolumeId: recovery.cloneVolumeId,
          }, { dependsOn: [recovery] })
        : undefined;
    return {
        strategy: "volume-backed",
        brokenServer: { id: incident.broken.id, name: incident.broken.name },
        repairedVolumeId: recovery.cloneVolumeId,
        repairSummary: recovery.repairSummary,
        repairReport: recovery.repairReport,
        // nothing boots in report mode or with replacement.boot false: no server outputs then
        ...(bootsReplacement(args) ? { newServerId: recovery.serverId, newServerIps: recovery.ipAddresses } : {}),
        retained: recovery.retained,
        ...(check ? { verifyOutput: check.stdout } : {}),
    };
}

export function volumeBackedArgs(c: RecoveryConfig, i: Incident, stack: string): ConstructorParameters<typeof VolumeBackedRecovery>[1] {
    const root = i.rootVolume!;
    return {
        incident: c.incident,
        stack,
        brokenServer: { id: i.broken.id, name: i.broken.name, availabilityZone: i.broken["OS-EXT-AZ:availability_zone"] ?? undefined, flavorId: i.flavorId, keyName: c.replacement.keyName },
        rootVolume: { id: root.id, size: root.size, volumeType: root.volume_type ?? undefined, availabilityZone: root.availability_zone ?? undefined },
        helper: { serverId: i.helper.id, address: i.helperAddress, port: c.helper.sshPort, user: c.helper.sshUser, privateKeyFile: c.helper.sshKeyFile, hostKey: c.helper.hostKey, byIdDir: c.helper.byIdDir },
        repair: c.repair,
        keepIp: i.keepIp.mode === "takeover" ? { mode: "takeover", portIds: i.keepIp.ports.map((p) => p.id) } : i.keepIp,
        replacement: { name: c.replacement.name ?? `${i.broken.name}-recovered`, boot: c.replacement.boot, dataVolumeIds: c.replacement.moveDataVolumes ? i.dataVolumes.map((v) => v.id) : [] },
        retain: c.retain,
        timeouts: c.timeouts,
    };
}

function describe(i: Incident): string {
    const addrs = i.ports.map((p) => `${p.id} (${p.fixed_ips.map((f) => f.ip_address).join(", ")})`).join(", ") || "none";
    return `${i.broken.name} (${i.broken.id}, ${i.broken.status}) is ${i.volumeBacked ? `volume-backed: root volume ${i.rootVolume?.id} (${i.rootVolume?.size} GiB)` : "ephemeral"}; ` +
        `${i.dataVolumes.length} data volume(s); ports ${addrs}; helper ${i.helper.name} at ${i.helperAddress}`;
}
