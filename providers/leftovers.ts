// The sweep at destroy (ARCHITECTURE.md "The tag contract"): what this stack created and tagged but
// its state does not know (a crash between an API call and the state write). LeftoverSweep runs it
// as the last delete of a destroy (a lock written before 0.2 runs it in its own delete), when
// everything in the state has been deleted or promoted (untagged): anything still tagged with this
// stack is such a leftover. Found by tags, never by name.
//   - a DELETE-ME clone that nothing uses is deleted;
//   - a port is untagged and kept: it may hold the address the runbook keeps (003);
//   - a volume still attached somewhere, or a server, is kept and reported with what to do: a disk
//     that may hold data is the operator's call;
//   - a server in a cell Nova cannot reach (a partial record, no metadata) is kept and reported;
//   - a DELETE-ME image (an upload, or Nova's image of the broken server) is deleted.
import { AuthConfigError, blockStorage, image, network, type Session } from "../clients/openstack";
import { isDeleteMe, TAG_STACK } from "./tags";
import { deleteOrKeepImage, deleteVolumeAndWait, serversTagged, untagPort } from "./ops";

const SETTLED = /^(available|in-use|error.*)$/;

/** The images this stack tagged; none where the catalog has no image service (a stack of a recipe that made
 *  no image never needs one). */
async function imagesTagged(s: Session, stack: string, log: (m: string) => void): Promise<image.Image[]> {
    try {
        s.endpoint("image");
    } catch (e) {
        if (!(e instanceof AuthConfigError)) throw e;
        log(`no image service in the catalog: no images to sweep`);
        return [];
    }
    return image.listImagesByProperty(s, TAG_STACK, stack);
}

/** Returns what was left in place, each with the reason and the command that removes it (also logged). */
export async function sweepLeftovers(s: Session, t: { stack: string }, log: (m: string) => void, timeoutSeconds = 600): Promise<string[]> {
    const reported: string[] = [];
    for (const v of await blockStorage.listVolumesByMetadata(s, { [TAG_STACK]: t.stack })) {
        if (v.metadata[TAG_STACK] !== t.stack) continue; // belt and braces: the filter is the server's
        const label = `volume ${v.id}${v.name ? ` (${v.name})` : ""}`;
        if (isDeleteMe(v.description) && !v.attachments.length && SETTLED.test(v.status)) {
            log(`${label} was created by this stack but is not in its state (an interrupted run): deleting it`);
            await deleteVolumeAndWait(s, v.id, timeoutSeconds, log);
        } else {
            const where = v.attachments.length ? `attached to ${blockStorage.attachedWhere(v)}` : `status ${v.status}`;
            reported.push(
                `${label} is tagged by this stack but not in its state, ${where}: check it, then \`openstack volume delete ${v.id}\``,
            );
        }
    }
    for (const img of await imagesTagged(s, t.stack, log)) {
        if (image.propertiesOf(img)[TAG_STACK] !== t.stack || !isDeleteMe(img.name)) continue;
        log(`image ${img.id} (${img.name}, ${img.status}) was created by this stack but is not in its state: deleting it`);
        await deleteOrKeepImage(
            s,
            img.id,
            { stack: t.stack, retain: false, timeoutSeconds, kept: `${img.name ?? img.id}: left by an interrupted run` },
            log,
        );
    }
    for (const p of await network.listPorts(s, { tags: `${TAG_STACK}=${t.stack}` })) {
        await untagPort(s, p);
        log(
            `port ${p.id} (${p.fixed_ips.map((f) => f.ip_address).join(", ")}) was tagged by this stack but is not in its state: kept, tags removed`,
        );
    }
    const { tagged, unreachable } = await serversTagged(s, { [TAG_STACK]: t.stack });
    for (const v of tagged) {
        reported.push(
            `server ${v.id} (${v.name}, ${v.status}) was created by this stack but is not in its state: check its volumes, then \`openstack server delete ${v.id}\``,
        );
    }
    // no metadata, so no tags: kept, and said, so the operator looks again when the cell is back
    for (const id of unreachable) {
        reported.push(
            `server ${id} is in a cell Nova cannot reach: whether this stack made it cannot be told (Nova reports no metadata for it); when the cell is back, \`openstack server show ${id}\` and delete it if it carries ${TAG_STACK}=${t.stack}`,
        );
    }
    for (const m of reported) log(`left in place: ${m}`);
    return reported;
}
