// Cloud operations the steps share, written once: fence the broken server, attach and wait, detach,
// move a volume between servers, delete a volume and wait, let go of what the stack tagged, and
// the ownership guard before any delete. Steps call these and never each other (ARCHITECTURE.md).
import {
    ApiError,
    blockStorage,
    compute,
    ConflictError,
    image,
    network,
    waitFor,
    WaitTimeoutError,
    type Session,
} from "../clients/openstack";
import { RECOVERY_KEYS, TAG_STACK, tagMap, withoutRecoveryTags } from "./tags";

type Log = (m: string) => void;

/**
 * Never delete what this stack did not create and tag: throws unless `metadata` (Nova/Cinder
 * metadata, or Neutron tags as a map) carries `recovery-stack=<stack>`.
 */
export function assertOwned(what: string, metadata: Record<string, string>, stack: string): void {
    if (metadata[TAG_STACK] !== stack) {
        throw new Error(
            `${what} is not tagged ${TAG_STACK}=${stack} (it has ${JSON.stringify(metadata)}); refusing to delete or change it`,
        );
    }
}

/** The servers whose metadata carries every one of `tags`: Nova filters by tags, not metadata, so
 *  this lists and filters here (the project's servers only: the client never asks all_tenants).
 *  `unreachable`: the ids of servers in cells Nova cannot reach, whose metadata nobody can read. */
export async function serversTagged(
    s: Session,
    tags: Record<string, string>,
): Promise<{ tagged: compute.CompleteServer[]; unreachable: string[] }> {
    const { complete, partial } = compute.splitPartial(await compute.listServers(s));
    return {
        tagged: complete.filter((x) => Object.entries(tags).every(([k, v]) => x.metadata[k] === v)),
        unreachable: partial.map((x) => x.id),
    };
}

/** Let go of a port: the recovery tags removed, every other tag kept. */
export async function untagPort(s: Session, port: network.Port): Promise<void> {
    await network.replacePortTags(s, port.id, withoutRecoveryTags(port.tags));
}

export async function untagServer(s: Session, server: compute.CompleteServer): Promise<void> {
    for (const key of RECOVERY_KEYS) if (key in server.metadata) await compute.deleteServerMetadataItem(s, server.id, key);
}

export async function untagVolume(s: Session, volume: blockStorage.Volume): Promise<void> {
    for (const key of RECOVERY_KEYS) if (key in volume.metadata) await blockStorage.deleteVolumeMetadataKey(s, volume.id, key);
}

export const portTags = (p: network.Port): Record<string, string> => tagMap(p.tags);

const attachedTo = (v: blockStorage.Volume, serverId: string) => v.attachments.some((a) => a.server_id === serverId);

/** Wait until Cinder shows the volume in-use on the server. */
export async function waitAttached(s: Session, volumeId: string, serverId: string, what: string, timeoutSeconds: number, log: Log) {
    return waitFor({
        what: `volume ${volumeId} to be attached to ${what}`,
        poll: () => blockStorage.getVolume(s, volumeId),
        state: (v) => v.status,
        done: (v) => v.status === "in-use" && attachedTo(v, serverId),
        failed: (v) => (v.status.startsWith("error") ? "Cinder reports an error on attach" : undefined),
        timeoutSeconds,
        progress: log,
    });
}

/** Attach (unless it already is) and wait until Cinder shows it there; the device Nova reports. */
export async function attachAndWait(
    s: Session,
    volumeId: string,
    serverId: string,
    what: string,
    timeoutSeconds: number,
    log: Log,
): Promise<string | null> {
    const v = await blockStorage.getVolume(s, volumeId);
    const device = attachedTo(v, serverId) ? null : ((await compute.attachVolume(s, serverId, volumeId).catch(acrossZones)).device ?? null);
    await waitAttached(s, volumeId, serverId, what, timeoutSeconds, log);
    return device;
}

/** Nova's refusal of a cross-zone attach ([cinder] cross_az_attach = False), said as what to do. */
function acrossZones(e: unknown): never {
    if (e instanceof ApiError && e.status === 400 && /availability[ _]zone/i.test(e.message))
        throw new Error(
            `${e.message}\n  this cloud does not attach volumes across availability zones ([cinder] cross_az_attach = False): use a server in the volume's zone (helper.server)`,
        );
    throw e;
}

/** Detach the volume from this server if it is attached there, and wait until it is not. */
export async function releaseFromServer(
    s: Session,
    volumeId: string,
    serverId: string,
    timeoutSeconds: number,
    log: Log,
): Promise<boolean> {
    const v = await blockStorage.findVolume(s, volumeId);
    if (!v || !attachedTo(v, serverId)) return false;
    await compute.detachVolume(s, serverId, volumeId);
    await waitFor({
        what: `volume ${volumeId} to detach from server ${serverId}`,
        poll: () => blockStorage.findVolume(s, volumeId),
        state: (x) => x?.status ?? "gone",
        done: (x) => !x || (!attachedTo(x, serverId) && x.status !== "detaching"),
        failed: (x) => (x?.status.startsWith("error") ? "Cinder reports an error on detach" : undefined),
        timeoutSeconds,
        progress: log,
    });
    log(`detached volume ${volumeId} from server ${serverId}`);
    return true;
}

/** Detach from one server, attach to another, wait until Cinder shows it there. */
export async function moveVolume(s: Session, volumeId: string, from: string, to: string, timeoutSeconds: number, log: Log): Promise<void> {
    await releaseFromServer(s, volumeId, from, timeoutSeconds, log);
    await attachAndWait(s, volumeId, to, `server ${to}`, timeoutSeconds, log);
    log(`moved volume ${volumeId} from server ${from} to ${to}`);
}

/** Delete a volume and wait until Cinder has (Cinder deletes asynchronously; a quota or a re-run must see it gone). */
/** Delete an image and wait until Glance no longer lists it (a delete during `saving` is asynchronous). */
export async function deleteImageAndWait(s: Session, id: string, timeoutSeconds: number, log: Log): Promise<void> {
    await image.deleteImage(s, id);
    await waitFor({
        what: `image ${id} to be deleted`,
        poll: async () => (await image.findImage(s, id)) ?? null,
        state: (img) => img?.status ?? "gone",
        done: (img) => img === null || img.status === "deleted",
        timeoutSeconds,
        progress: log,
    });
}

/** An image kept by the recovery: DELETE ME out of its name and description, its recovery tags removed. */
export async function promoteImage(s: Session, img: image.Image, description: string): Promise<void> {
    const tagged = RECOVERY_KEYS.filter((k) => image.propertiesOf(img)[k] !== undefined);
    await image.patchImage(s, img.id, [
        { op: "replace", path: "/name", value: (img.name ?? img.id).replace(/\s*\bDELETE ME\b\s*/, " ").trim() },
        { op: "add", path: "/description", value: description },
        ...tagged.map((k) => ({ op: "remove" as const, path: `/${k}` })),
    ]);
}

/**
 * Delete a temporary image of this stack at destroy, or keep it (`retain`): never one this stack does not
 * own. Kept already (an earlier destroy promoted it): nothing to do. Glance refuses to delete an image a
 * volume still uses (Ceph: a copy-on-write clone, HTTP 409): then it is kept, promoted, and said.
 */
export async function deleteOrKeepImage(
    s: Session,
    id: string,
    o: { stack: string; retain: boolean; timeoutSeconds: number; kept: string },
    log: Log,
): Promise<void> {
    const img = await image.findImage(s, id);
    if (!img || img.status === "deleted") return;
    if (o.retain && image.propertiesOf(img)[TAG_STACK] === undefined) return; // promoted by an earlier run
    if (image.propertiesOf(img)[TAG_STACK] !== o.stack)
        throw new Error(`image ${id} is not tagged ${TAG_STACK}=${o.stack}; refusing to delete or change it`);
    if (o.retain) {
        await promoteImage(s, img, o.kept);
        log(`kept image ${id}: DELETE ME and the recovery tags removed`);
        return;
    }
    try {
        await deleteImageAndWait(s, id, o.timeoutSeconds, log);
        log(`deleted image ${id}`);
    } catch (e) {
        if (!(e instanceof ConflictError)) throw e;
        await promoteImage(s, img, `${o.kept}; kept because a volume still uses it (${e.message})`);
        log(`kept image ${id}: Glance refuses to delete it while a volume uses it (a copy-on-write clone); DELETE ME and the tags removed`);
    }
}

export async function deleteVolumeAndWait(s: Session, id: string, timeoutSeconds: number, log: Log): Promise<void> {
    await blockStorage.deleteVolume(s, id);
    await waitFor({
        what: `volume ${id} to be deleted`,
        poll: () => blockStorage.findVolume(s, id),
        state: (x) => x?.status ?? "gone",
        done: (x) => x === undefined,
        failed: (x) => (x?.status === "error_deleting" ? "Cinder could not delete it" : undefined),
        timeoutSeconds,
        progress: log,
    });
    log(`deleted volume ${id}`);
}

/**
 * One fence of a server at a time in this process. The engine runs steps in parallel and sends every
 * dynamic resource to one provider host, so two ports of one server fence it at once. Nova's own
 * check cannot keep their stops apart: a stop that read the server ACTIVE before the other stop
 * ended is accepted again (compute/api.py saves with expected_task_state=[None], which a finished
 * stop satisfies), and the server gets two stop actions. Queued here, the second fence sees SHUTOFF.
 */
const fencing = new Map<string, Promise<unknown>>();

/**
 * Stop a server and wait for SHUTOFF; a server already stopped or gone is fine (false when gone).
 * Nova refuses a stop while any task is under way: that task is waited for, then the server looked at again.
 * A fence queued behind another may so take up to twice `timeoutSeconds` in all (its own wait starts
 * when the one before it ends).
 */
export function fenceServer(s: Session, serverId: string, timeoutSeconds: number, log: Log): Promise<boolean> {
    const before = fencing.get(serverId) ?? Promise.resolve();
    const mine = before.catch(() => undefined).then(() => stopAndWait(s, serverId, timeoutSeconds, log));
    fencing.set(serverId, mine);
    void mine
        .finally(() => {
            if (fencing.get(serverId) === mine) fencing.delete(serverId);
        })
        .catch(() => undefined);
    return mine;
}

/** The fence without the queue: what a fence in another process (another stack, an operator) does. */
export async function stopAndWait(s: Session, serverId: string, timeoutSeconds: number, log: Log): Promise<boolean> {
    const found = await compute.findServerById(s, serverId);
    if (!found) return false;
    // in a cell Nova cannot reach, whether it runs cannot be told, nor can it be stopped: refused
    let server = compute.complete(found);
    const name = server.name;
    const task = (x: compute.CompleteServer) => x["OS-EXT-STS:task_state"];
    // a server in ERROR on a dead host does not run: it cannot answer on the address either
    const stopped = (x: compute.CompleteServer) => x.status === "SHUTOFF" || (x.status === "ERROR" && !task(x));
    const state = (x: compute.CompleteServer) => `${x.status}${task(x) ? `/${task(x)}` : ""}`;
    const deadline = Date.now() + timeoutSeconds * 1000;
    let asked = false;
    while (!stopped(server)) {
        if (Date.now() > deadline) throw new WaitTimeoutError(`server ${name} to stop`, timeoutSeconds, state(server));
        const busy = task(server);
        if (busy) log(`waiting for the task under way on the broken server ${name} (${busy}; another step may be stopping it)`);
        else if (asked) {
            throw new Error(
                `server ${name} (${serverId}) is ${server.status} again after the stop Nova accepted: see \`openstack server event list ${serverId}\`, stop it by hand and run up again`,
            );
        } else {
            log(`stopping the broken server ${name} (${server.status}) so it cannot hold the address`);
            // "busy": a task began between our look and the call; the wait below sees it
            asked = (await compute.stopServer(s, serverId)) === "stopping";
        }
        server = await waitFor({
            what: `server ${name} to stop`,
            poll: async () => compute.complete(await compute.getServer(s, serverId)),
            state,
            done: (x) => stopped(x) || !task(x),
            timeoutSeconds: Math.max(0, (deadline - Date.now()) / 1000),
            progress: log,
        });
    }
    return true;
}
