// What the broken server is, read before anything changes (so it runs at preview too): its root
// volume and data volumes (runbook 000 B 2: "the volume attached to /dev/vda is the root volume"),
// its ports and addresses, and whether another stack holds it. Then which recipe fits. What a recipe
// needs beyond that (the helper, the address to keep) it looks up itself (recipes/sections.ts).
// Every problem is a ConfigError naming the key to fix.
import { blockStorage, CELL_DOWN_FIX, compute, network, type Session } from "../clients/openstack";
import { heldBy, LOCK_KEY } from "../providers/incidentLock";
import { ofChain, tagMap, TAG_SOURCE, TAG_STACK } from "../providers/tags";
import { ConfigError, type Recipe, type ServerFacts } from "../recipes/recipe";
import { RECIPES } from "../recipes/registry";
import { serverOf } from "../recipes/sections";

export type { ServerFacts };

const ROOT_DEVICES = /^\/dev\/(x?v|s|h)da$/;

/**
 * What the broken server had before this stack moved anything: its own ports and data volumes,
 * plus those this stack's chain for it already moved to its replacement (found by the stack's and
 * the source's tags, never by name). Without this a second `up` would see a server without ports or
 * data volumes and replace the recovered server; and with many chains in one stack, one chain would
 * count another's.
 */
async function movedByThisChain(
    s: Session,
    stack: string,
    source: string,
    log: (m: string) => void,
): Promise<{ ports: network.Port[]; volumeIds: string[] }> {
    const tagged = await network.listPorts(s, { tags: `${TAG_STACK}=${stack}` });
    const { complete, partial } = compute.splitPartial(await compute.listServers(s));
    const servers = complete.filter((x) => x.metadata[TAG_STACK] === stack);
    const volumes = await blockStorage.listVolumesByMetadata(s, { [TAG_STACK]: stack });
    refuseBefore02(stack, [
        ...tagged.map((p) => ({ what: `port ${p.id}`, tags: tagMap(p.tags) })),
        ...servers.map((x) => ({ what: `server ${x.name} (${x.id})`, tags: x.metadata })),
        ...volumes.map((v) => ({ what: `volume ${v.id}`, tags: v.metadata })),
    ]);
    skipUnreachable(partial, volumes, stack, source, log);
    const ports = tagged.filter((p) => ofChain(tagMap(p.tags), stack, source));
    const replacements = servers.filter((x) => x.id !== source && ofChain(x.metadata, stack, source));
    const volumeIds: string[] = [];
    for (const r of replacements) {
        for (const a of await compute.listVolumeAttachments(s, r.id)) if (!ROOT_DEVICES.test(a.device ?? "")) volumeIds.push(a.volumeId);
    }
    return { ports, volumeIds };
}

/**
 * A server in a cell Nova cannot reach comes without metadata, so whose it is cannot be told; it is
 * skipped, and said. Unless Cinder (which still answers) shows it holding a volume this chain made:
 * then it is this chain's replacement, and what the chain moved to it cannot be counted.
 */
function skipUnreachable(
    partial: compute.PartialServer[],
    volumes: blockStorage.Volume[],
    stack: string,
    source: string,
    log: (m: string) => void,
): void {
    for (const x of partial) {
        const held = volumes.filter((v) => ofChain(v.metadata, stack, source) && v.attachments.some((a) => a.server_id === x.id));
        if (held.length)
            throw new ConfigError(
                "server",
                `server ${x.id}, in a cell Nova cannot reach, has volume ${held.map((v) => v.id).join(", ")} of this stack (${stack}) attached: it is this recovery's replacement, and what was moved to it cannot be counted`,
                CELL_DOWN_FIX,
            );
        log(
            `skipped server ${x.id}: its cell is unreachable (Nova reports it UNKNOWN, without name or metadata) and no volume of this recovery is attached to it`,
        );
    }
}

/**
 * Before 0.2 a stack had one chain, named after the incident alone and tagged without the source.
 * Today's program names its chain after the server too, so an `up` would build a second recovery
 * beside the old one, and the old lock's delete would sweep the new one's things: refused.
 */
function refuseBefore02(stack: string, things: { what: string; tags: Record<string, string> }[]): void {
    const old = things.filter((t) => t.tags[TAG_STACK] === stack && !(TAG_SOURCE in t.tags)).map((t) => t.what);
    if (old.length)
        throw new ConfigError(
            "server",
            `this stack (${stack}) holds ${old.join(", ")}, made by a version before 0.2 (no ${TAG_SOURCE} tag); today's version would recover the server a second time beside them`,
            "pulumi destroy (with this version or the one that made the stack), then pulumi up",
        );
}

const byId = <T extends { id: string }>(a: T, b: T) => a.id.localeCompare(b.id);

/** Look at one broken server (by name or id, the config key `key` names it); `log` hears what was skipped. */
export async function discover(
    s: Session,
    c: { server: string },
    stack: string,
    key = "server",
    log: (m: string) => void = () => undefined,
): Promise<ServerFacts> {
    const broken = await serverOf(s, key, c.server);
    const holder = broken.metadata[LOCK_KEY];
    if (holder && holder !== stack) throw new ConfigError(key, heldBy(broken.name, holder), "");

    const moved = await movedByThisChain(s, stack, broken.id, log);
    const volumeIds = [...new Set([...broken["os-extended-volumes:volumes_attached"].map((v) => v.id), ...moved.volumeIds])];
    const volumes = (await Promise.all(volumeIds.map((id) => blockStorage.getVolume(s, id)))).sort(byId);
    const deviceOf = (v: blockStorage.Volume) => v.attachments.find((a) => a.server_id === broken.id)?.device ?? "";
    const volumeBacked = compute.isVolumeBacked(broken);
    let rootVolume: blockStorage.Volume | undefined;
    if (volumeBacked) {
        const attachedHere = volumes.filter((v) => v.attachments.some((a) => a.server_id === broken.id));
        rootVolume =
            attachedHere.find((v) => ROOT_DEVICES.test(deviceOf(v))) ??
            (attachedHere.filter((v) => v.bootable).length === 1 ? attachedHere.find((v) => v.bootable) : undefined);
        if (!rootVolume) {
            throw new ConfigError(
                key,
                `${broken.name} boots from a volume but none of its volumes (${volumes.map((v) => `${v.id} at ${deviceOf(v) || "?"}`).join(", ") || "none"}) is attached as /dev/vda`,
                "check `openstack server show --fit -c attached_volumes` and the volumes' attachments",
            );
        }
    }
    const dataVolumes = volumes.filter((v) => v.id !== rootVolume?.id);
    const interfaces = await compute.listInterfaces(s, broken.id);
    const own = await Promise.all(interfaces.map((i) => network.getPort(s, i.port_id)));
    const ports = [...own, ...moved.ports.filter((p) => !own.some((o) => o.id === p.id))].sort(byId);
    return { broken, volumeBacked, rootVolume, dataVolumes, ports };
}

/** The recipe the config forces, refused when it does not fit; else (auto) the first that fits. */
export function chooseRecipe(strategy: string, facts: ServerFacts): { recipe: Recipe; why: string } {
    if (strategy !== "auto") {
        const recipe = RECIPES.find((r) => r.strategy === strategy)!;
        const fit = recipe.applies(facts);
        if (!fit.fits) throw new ConfigError("strategy", fit.why, "pulumi config set strategy auto");
        return { recipe, why: `strategy ${strategy} (set in the config): ${fit.why}` };
    }
    const tried: string[] = [];
    for (const recipe of RECIPES) {
        const fit = recipe.applies(facts);
        if (fit.fits) return { recipe, why: `strategy auto chose ${recipe.strategy}: ${fit.why}` };
        tried.push(`${recipe.strategy}: ${fit.why}`);
    }
    throw new ConfigError(
        "strategy",
        `no recipe of this version recovers ${facts.broken.name} (${tried.join("; ")})`,
        "use the runbook by hand for this server (runbook 000 A covers a server on local disk)",
    );
}
