// Proves (issue 12) that partial records no longer stop a recovery: a server in a cell Nova cannot
// reach (Nova's own 2.69 samples: no name, no flavor in a list, no metadata) anywhere in the project
// is skipped by discovery, the leftover sweep and the tag search, each saying what it skipped; a
// broken server or helper that is itself in such a cell is refused with a ConfigError that names it;
// and a Cinder attachment without a server (server_id null) is read and never taken for a server's.
import { compute } from "../../clients/openstack";
import { sweepLeftovers } from "../../providers/leftovers";
import { serversTagged } from "../../providers/ops";
import { TAG_INCIDENT, TAG_RESOURCE, TAG_SOURCE, TAG_STACK } from "../../providers/tags";
import { ConfigError } from "../../recipes/recipe";
import { discover } from "../../stacks/discover";
import { stackConfig } from "../support/fakeCloud";
import { COMPUTE, itemOf, itemsOf, NETWORK, sample, sampleCloud, VOLUME, type Answers, type JsonObject } from "./support";

const STACK = "organization/openstack-recovery/inc1";
const BROKEN = "0e44cc9c-e052-415d-afbf-469b0d384170"; // servers/v2.96/server-get-resp.json
const OTHER = "f5dc173b-6804-445a-a6d8-c705dad5b5eb"; // servers/v2.96/servers-details-resp.json
const DOWN = "b6b0410f-b65f-4473-855e-5d82a71759e0"; // servers/v2.69/servers-details-resp.json: a list's partial record
const DOWN_SHOWN = "33748c23-38dd-4f70-b774-522fc69e7b67"; // servers/v2.69/server-get-resp.json: a show's
const PORT = "ce531f90-199f-48c0-816c-13e38010b442"; // os-attach-interfaces/attach-interfaces-list-resp.json

const ours = (resource: string) => ({ [TAG_STACK]: STACK, [TAG_INCIDENT]: "INC1", [TAG_RESOURCE]: resource, [TAG_SOURCE]: BROKEN });

/** Cinder's 3.69 volume sample as another volume, with these attachments (the v2 sample's shape). */
function volume(id: string, attachments: [string | null, string][], extra: JsonObject = {}): JsonObject {
    const [volumeWithAttachment] = itemsOf("cinder/v2/volumes-list-detailed-response.json", "volumes");
    const [shape] = volumeWithAttachment.attachments as JsonObject[];
    return {
        ...itemOf("cinder/v3/volumes/v3.69/volume-show-response.json", "volume"),
        id,
        status: attachments.length ? "in-use" : "available",
        attachments: attachments.map(([server_id, device], i) => ({
            ...shape,
            id,
            volume_id: id,
            server_id,
            device,
            attachment_id: `att-${id}-${i}`,
        })),
        ...extra,
    };
}

/** The broken server of the 2.96 show sample, booted from a volume ("" image: Nova's volume-backed). */
const broken = () => ({ server: { ...itemOf("nova/servers/v2.96/server-get-resp.json", "server"), image: "" } });
const other = (metadata: Record<string, string> = {}) => ({
    ...itemsOf("nova/servers/v2.96/servers-details-resp.json", "servers")[0],
    metadata,
});
const [down] = itemsOf("nova/servers/v2.69/servers-details-resp.json", "servers");

/** A project: the broken server, its root (vda) and a data volume that a host (no server) also has at
 *  /dev/vda, its port, and a project-wide list with a server in a down cell. */
function project(over: Answers = {}): Answers {
    return {
        [`GET ${COMPUTE}/servers/${BROKEN}`]: broken(),
        // Nova skips down cells in a filtered list and gives their partial records in an unfiltered one
        [`GET ${COMPUTE}/servers/detail`]: (url) => ({ servers: url.searchParams.has("name") ? [] : [other(), down] }),
        [`GET ${COMPUTE}/servers/${BROKEN}/os-interface`]: sample("nova/os-attach-interfaces/attach-interfaces-list-resp.json"),
        [`GET ${NETWORK}/ports`]: { ports: [] },
        [`GET ${NETWORK}/ports/${PORT}`]: {
            port: {
                ...itemOf("neutron/ports/port-show-response.json", "port"),
                id: PORT,
                device_id: BROKEN,
                device_owner: "compute:us-west",
            },
        },
        [`GET ${VOLUME}/volumes/detail`]: { volumes: [] },
        [`GET ${VOLUME}/volumes/volume_id1`]: { volume: volume("volume_id1", [[BROKEN, "/dev/vda"]], { bootable: "true" }) },
        [`GET ${VOLUME}/volumes/volume_id2`]: {
            volume: volume(
                "volume_id2",
                [
                    [null, "/dev/vda"],
                    [BROKEN, "/dev/vdb"],
                ],
                { multiattach: true, bootable: "true" },
            ),
        },
        ...over,
    };
}

describe("partial records: Nova's down cells, Cinder's attachments without a server", () => {
    const { cloud, session, answer } = sampleCloud();
    const logs: string[] = [];
    const log = (m: string) => logs.push(m);
    beforeEach(() => (logs.length = 0));

    it("discovery skips a server in a down cell elsewhere in the project, says so, and ignores an attachment without a server", async () => {
        answer(project());
        const facts = await discover(session(), { server: BROKEN }, STACK, "server", log);
        expect(facts.broken).toMatchObject({ id: BROKEN, name: "new-server-test" });
        expect(facts.volumeBacked).toBe(true);
        // volume_id2's host attachment is also at /dev/vda: only the broken server's own attachment counts
        expect(facts.rootVolume?.id).toBe("volume_id1");
        expect(facts.dataVolumes.map((v) => v.id)).toEqual(["volume_id2"]);
        expect(facts.ports.map((p) => p.id)).toEqual([PORT]);
        expect(logs.join("\n")).toMatch(new RegExp(`skipped server ${DOWN}: its cell is unreachable`));
    });

    it("discovery refuses a broken server that is itself in a down cell, naming it and what to do", async () => {
        answer(project({ [`GET ${COMPUTE}/servers/${DOWN_SHOWN}`]: sample("nova/servers/v2.69/server-get-resp.json") }));
        const p = discover(session(), { server: DOWN_SHOWN }, STACK);
        await expect(p).rejects.toBeInstanceOf(ConfigError);
        await expect(p).rejects.toThrow(new RegExp(`openstack-recovery:server: server ${DOWN_SHOWN} is in a cell Nova cannot reach`));
        await expect(p).rejects.toThrow(/fix: wait until Nova reaches the cell again .*nova-conductor/);
    });

    it("a server named but not found says which servers Nova could not search (down cells skip name filters)", async () => {
        answer(project());
        const p = discover(session(), { server: "web-1" }, STACK);
        await expect(p).rejects.toBeInstanceOf(ConfigError);
        await expect(p).rejects.toThrow(new RegExp(`no server named or with id "web-1".*Nova cannot reach the cell of server ${DOWN}`));
    });

    it("discovery refuses when a server in a down cell holds a volume this chain made: what it moved cannot be counted", async () => {
        const clone = volume("clone-1", [[DOWN, "/dev/vda"]], {
            metadata: ours("INC1-new-server-test-clone"),
            description: "INC1 DELETE ME: clone",
        });
        answer(project({ [`GET ${VOLUME}/volumes/detail`]: { volumes: [clone] } }));
        const p = discover(session(), { server: BROKEN }, STACK, "server", log);
        await expect(p).rejects.toBeInstanceOf(ConfigError);
        await expect(p).rejects.toThrow(new RegExp(`server ${DOWN}, in a cell Nova cannot reach, has volume clone-1 of this stack`));
    });

    it("the sweep skips a down cell's server and reports it, keeps a volume attached to a host, deletes nothing", async () => {
        const clone = volume("clone-1", [[null, "/dev/vdb"]], {
            metadata: ours("INC1-new-server-test-clone"),
            description: "INC1 DELETE ME: clone",
        });
        answer(
            project({
                [`GET ${COMPUTE}/servers/detail`]: { servers: [down, other(ours("INC1-new-server-test-server"))] },
                [`GET ${VOLUME}/volumes/detail`]: { volumes: [clone] },
            }),
        );
        const reported = await sweepLeftovers(session(), { stack: STACK }, log, 5);
        expect(reported).toEqual([
            expect.stringMatching(
                /^volume clone-1 is tagged by this stack but not in its state, attached to a host \(no server\): check it/,
            ),
            expect.stringMatching(new RegExp(`^server ${OTHER} \\(new-server-test, ACTIVE\\) was created by this stack`)),
            expect.stringMatching(new RegExp(`^server ${DOWN} is in a cell Nova cannot reach: whether this stack made it cannot be told`)),
        ]);
        expect(cloud.seen.filter((r) => r.method !== "GET")).toEqual([]);
    });

    it("the tag search returns the complete records that match and names the partial ones", async () => {
        answer(project({ [`GET ${COMPUTE}/servers/detail`]: { servers: [down, other(ours("x")), other()] } }));
        const found = await serversTagged(session(), { [TAG_STACK]: STACK });
        expect(found.tagged.map((x) => [x.id, x.name])).toEqual([[OTHER, "new-server-test"]]);
        expect(found.unreachable).toEqual([DOWN]);
    });

    it("the helper in a down cell is refused by the recipe's lookup too", async () => {
        answer(project({ [`GET ${COMPUTE}/servers/${DOWN_SHOWN}`]: sample("nova/servers/v2.69/server-get-resp.json") }));
        const { serverOf } = await import("../../recipes/sections");
        const p = serverOf(session(), "helper.server", DOWN_SHOWN);
        await expect(p).rejects.toThrow(
            new RegExp(`openstack-recovery:helper.server: server ${DOWN_SHOWN} is in a cell Nova cannot reach`),
        );
    });

    it("a provider that needs the server refuses a partial record with the server's id", async () => {
        answer(project({ [`GET ${COMPUTE}/servers/${DOWN_SHOWN}`]: sample("nova/servers/v2.69/server-get-resp.json") }));
        expect(() => compute.complete({ id: DOWN_SHOWN, status: "UNKNOWN" })).toThrow(
            new RegExp(`server ${DOWN_SHOWN} is in a cell Nova cannot reach`),
        );
        const { impl } = await import("../../providers/incidentLock");
        await expect(
            impl.create({ serverId: DOWN_SHOWN, stack: STACK, incident: "INC1", logicalName: "lock" }, { config: stackConfig(cloud.url) }),
        ).rejects.toThrow(/cell Nova cannot reach/);
    });
});
