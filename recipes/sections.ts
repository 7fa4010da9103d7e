// Config sections and read-only lookups that more than one recipe uses: the helper VM, the repair,
// keeping the address, the replacement, what destroy keeps, timeouts. A recipe's section is built
// from these (recipes/volumeBacked.ts), so the keys mean the same in every recipe.
import { z } from "zod";
import { AmbiguousNameError, CELL_DOWN_FIX, compute, network, ResourceNotFoundError, type Session } from "../clients/openstack";
import { fromProjectRoot } from "../clients/projectRoot";
import { REPAIR_ACTIONS } from "../toolkit";
import { isRegExp } from "../toolkit/bootConsole";
import { ConfigError, type ServerFacts } from "./recipe";

/** the helper VM ("snap-mounter") a disk is attached to, and how to reach its OS over SSH */
export const HelperSection = z.strictObject(
    {
        /** the helper, or candidates (e.g. one per zone): the first in the root volume's zone is used */
        server: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], {
            error: "required: a server name or id, or a list of them",
        }),
        /** default: the helper's first fixed IP */
        address: z.string().min(1).optional(),
        sshUser: z.string().min(1).default("root"),
        sshPort: z.number().int().min(1).max(65535).default(22),
        /** a private key file on this machine, relative to the directory of Pulumi.yaml (the CLI
         *  runs the program in stacks/); default: the SSH agent, then ~/.ssh/id_* */
        sshKeyFile: z
            .string()
            .min(1)
            .transform((f) => fromProjectRoot(f))
            .optional(),
        /** pin the helper's host key: "ssh-ed25519 AAAA..." or "SHA256:..." */
        hostKey: z.string().min(1).optional(),
        /** where the helper lists disks by serial (tests only; default /dev/disk/by-id) */
        byIdDir: z.string().min(1).optional(),
    },
    { error: "required" },
);

export const RepairSection = z
    .strictObject({
        actions: z.array(z.enum(REPAIR_ACTIONS)).min(1).default(["fstab"]),
        /** report: look and say, change nothing, boot nothing */
        mode: z.enum(["repair", "report"]).default("repair"),
        fstabPolicy: z.enum(["comment", "nofail"]).optional(),
        customScript: z.string().optional(),
    })
    .default({ actions: ["fstab"], mode: "repair" });

/** keep the broken server's address(es) for the replacement (true), not (false), or this one address */
export const KeepIpSection = z.union([z.boolean(), z.ipv4(), z.ipv6()]).default(true);

export const ReplacementSection = z
    .strictObject({
        /** default: <server>-recovered */
        name: z.string().min(1).optional(),
        /** default: the broken server's flavor */
        flavor: z.string().min(1).optional(),
        /** a Nova keypair of yours; default none: the keys are already on the repaired disk, and
         *  keypairs belong to users, so the broken server's may not be visible to you */
        keyName: z.string().min(1).optional(),
        /** the replacement guest's hostname, e.g. the broken server's (Nova's default comes from the
         *  replacement's name, `web-1-recovered`); needs Nova API 2.90 (Xena), refused at preview on older */
        hostname: z
            .string()
            .regex(/^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/, "must be a hostname: 1-63 letters, digits or '-', not starting or ending with '-'")
            .optional(),
        /** move the broken server's data volumes to the replacement (default true) */
        moveDataVolumes: z.boolean().default(true),
        /** false: clone and repair only */
        boot: z.boolean().default(true),
    })
    .default({ moveDataVolumes: true, boot: true });

/** after the replacement is ACTIVE: read its console log through Nova until a login prompt (proven)
 *  or emergency mode (the up fails with the console lines); off for a cloud whose driver keeps no log */
export const BootProofSection = z
    .strictObject({
        enabled: z.boolean().default(true),
        /** how long a boot may take, from ACTIVE to the prompt */
        timeoutSeconds: z.number().positive().default(600),
        /** the replacement's login prompt, a regular expression matched per line (default: agetty's `<host> login:`) */
        loginPattern: z
            .string()
            .min(1)
            .refine(isRegExp, { message: "must be a regular expression (JavaScript syntax), matched per line, e.g. '^\\S+ login: ?$'" })
            .optional(),
    })
    .default({ enabled: true, timeoutSeconds: 600 });

/** what destroy keeps (promoted: tags and DELETE ME removed); everything else it deletes */
export const RetainSection = z
    .strictObject({ server: z.boolean().default(true), port: z.boolean().default(true), rootVolume: z.boolean().default(true) })
    .default({ server: true, port: true, rootVolume: true });

export const TimeoutsSection = z
    .strictObject({
        cloneSeconds: z.number().positive().default(1800),
        repairSeconds: z.number().positive().default(1800),
        bootSeconds: z.number().positive().default(900),
    })
    .default({ cloneSeconds: 1800, repairSeconds: 1800, bootSeconds: 900 });

export const SECTION_EXAMPLES: Record<string, string> = {
    helper: "pulumi config set --path helper.server <helper server>",
    "helper.server": "pulumi config set --path helper.server <helper server>",
    keepIp: "pulumi config set keepIp true   (or an address such as 10.0.0.5, or false)",
    "repair.actions": `pulumi config set --path 'repair.actions[0]' fstab   (actions: ${REPAIR_ACTIONS.join(", ")})`,
};

/**
 * A server named in the config, by name or id; a ConfigError naming the key when it is not there,
 * or when it is in a cell Nova cannot reach (nothing can be done with a server Nova cannot describe).
 */
export async function serverOf(s: Session, key: string, nameOrId: string): Promise<compute.CompleteServer> {
    const set = `pulumi config set ${key.includes(".") ? "--path " : ""}${key}`;
    let found: compute.Server;
    try {
        found = await compute.resolveServer(s, nameOrId);
    } catch (e) {
        if (e instanceof ResourceNotFoundError) {
            // Nova leaves out the servers of cells it cannot reach when it filters by name: say which
            const { partial } = compute.splitPartial(await compute.listServers(s));
            const unsearched = partial.length
                ? `; Nova cannot reach the cell of server${partial.length > 1 ? "s" : ""} ${partial.map((x) => x.id).join(", ")}, so it could not look there by name`
                : "";
            throw new ConfigError(
                key,
                `no server named or with id "${nameOrId}" in this project${unsearched}`,
                `check it with \`openstack server list\`, then \`${set} <name or id>\`${unsearched ? `; or ${CELL_DOWN_FIX}` : ""}`,
            );
        }
        if (e instanceof AmbiguousNameError) throw new ConfigError(key, e.message, `${set} <one of: ${e.ids.join(", ")}>`);
        throw e;
    }
    if (compute.isPartial(found))
        throw new ConfigError(
            key,
            `server ${found.id} is in a cell Nova cannot reach: Nova answers for it with status UNKNOWN, without its name, metadata, addresses or volumes`,
            CELL_DOWN_FIX,
        );
    return found;
}

/** The helper: not the broken server, in the zone of the disk it gets, with an address to SSH to. */
export async function helperFor(
    s: Session,
    facts: ServerFacts,
    c: z.output<typeof HelperSection>,
): Promise<{ server: compute.CompleteServer; address: string; warning?: string }> {
    const names = typeof c.server === "string" ? [c.server] : c.server;
    const candidates: compute.CompleteServer[] = [];
    for (const [i, name] of names.entries())
        candidates.push(await serverOf(s, typeof c.server === "string" ? "helper.server" : `helper.server.${i}`, name));
    const { broken, rootVolume } = facts;
    if (candidates.some((h) => h.id === broken.id))
        throw new ConfigError(
            "helper.server",
            `the helper cannot be the broken server itself (${broken.name})`,
            "pulumi config set --path helper.server <another server in the same zone>",
        );
    // Cinder's zones and Nova's often differ (Cinder's "nova" beside Nova's aggregates), and Nova
    // attaches across them unless [cinder] cross_az_attach = False: prefer the volume's zone, say
    // when the attach crosses, and let Nova decide (its refusal is explained by the attach step).
    const zone = rootVolume?.availability_zone ?? compute.availabilityZone(broken);
    const helper = candidates.find((h) => compute.availabilityZone(h) === zone) ?? candidates[0]!;
    const helperZone = compute.availabilityZone(helper);
    const warning =
        zone && helperZone && zone !== helperZone
            ? `the helper ${helper.name} is in availability zone ${helperZone}, the root volume of ${broken.name} in ${zone}: the attach crosses zones and works only where Nova allows it ([cinder] cross_az_attach = True, its default); if Nova refuses, set helper.server to a server in ${zone} (or a list with one)`
            : undefined;
    const address = c.address ?? Object.values(helper.addresses).flat()[0]?.addr;
    if (!address)
        throw new ConfigError(
            "helper.address",
            `${helper.name} has no address`,
            "pulumi config set --path helper.address <address the helper's sshd listens on>",
        );
    return { server: helper, address, ...(warning ? { warning } : {}) };
}

export type KeepIp =
    | { mode: "takeover"; ports: network.Port[] }
    | { mode: "create"; networkId: string; fixedIps: { subnet_id: string; ip_address: string }[] }
    | { mode: "none"; networkIds: string[] };

/** What keeping the address means for this server: its ports, a new port for a free address, or none. */
export async function keepIpFor(s: Session, facts: ServerFacts, keepIp: z.output<typeof KeepIpSection>): Promise<KeepIp> {
    const { ports, broken } = facts;
    if (keepIp === false) return { mode: "none", networkIds: [...new Set(ports.map((p) => p.network_id))] };
    if (keepIp === true) return { mode: "takeover", ports };
    const own = ports.find((p) => p.fixed_ips.some((f) => f.ip_address === keepIp));
    if (own) return { mode: "takeover", ports: [own] };
    const holders = await network.listPortsByIp(s, keepIp);
    if (holders.length) {
        const h = holders[0];
        throw new ConfigError(
            "keepIp",
            `${keepIp} belongs to port ${h.id} of ${h.device_owner || "no device"} ${h.device_id || ""}, not to ${broken.name}`.trim(),
            "pulumi config set keepIp true   (to keep the broken server's own addresses)",
        );
    }
    const subnet = (await network.listSubnets(s)).find((sn) => network.ipv4InCidr(keepIp, sn.cidr));
    if (!subnet)
        throw new ConfigError(
            "keepIp",
            `no subnet visible to this project contains ${keepIp}`,
            "pulumi config set keepIp <an address of the broken server's network>",
        );
    return { mode: "create", networkId: subnet.network_id, fixedIps: [{ subnet_id: subnet.id, ip_address: keepIp }] };
}

/** A key whose feature needs a newer microversion than the cloud serves: refused at preview, both versions named. */
export async function refuseUnserved(s: Session, used: boolean, key: string, microversion: string): Promise<void> {
    if (!used || (await s.supports("compute", microversion))) return;
    const { min, max } = await s.api("compute");
    throw new ConfigError(
        key,
        `needs the compute API at microversion ${microversion}; this cloud serves ${min ?? "?"} to ${max ?? "?"}`,
        `pulumi config rm --path ${key}`,
    );
}
