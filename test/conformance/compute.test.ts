// Proves that the client reads Nova's own API reference samples (doc/api_samples, microversions 2.1 to
// 2.101) through its own calls: servers shown and listed at each shape the recovery meets (flavor by
// id up to 2.46, embedded from 2.47; volumes with delete_on_termination from 2.3), the partial record
// of a server in a down cell (2.69+), volume attachments (2.70 tag, 2.79 delete flag, 2.89 without
// id), interfaces and the flavor list the flavor id is resolved from.
import { compute } from "../../clients/openstack";
import { COMPUTE, itemOf, itemsOf, sample, sampleCloud } from "./support";

const SERVER_A = "0e44cc9c-e052-415d-afbf-469b0d384170"; // the show samples' server (2.1 ... 2.100)
const IMAGE = "70a599e0-31e7-49b7-b260-868f441e862b";
const ADDRESS = { private: [{ addr: "192.168.1.30", version: 4, "OS-EXT-IPS-MAC:mac_addr": "00:0c:29:0d:11:74" }] };

describe("Nova API reference samples through the client's calls", () => {
    const { cloud, session, answer } = sampleCloud();

    // [sample, server id, flavor as the client reads it, volumes attached, zone]
    const shows: [
        string,
        string,
        Partial<compute.CompleteServer["flavor"]>,
        compute.CompleteServer["os-extended-volumes:volumes_attached"],
        string,
    ][] = [
        ["servers/server-get-resp.json", SERVER_A, { id: "1" }, [{ id: "volume_id1" }, { id: "volume_id2" }], "us-west"],
        [
            "servers/v2.3/server-get-resp.json",
            SERVER_A,
            { id: "1" },
            [
                { id: "volume_id1", delete_on_termination: false },
                { id: "volume_id2", delete_on_termination: false },
            ],
            "us-west",
        ],
        [
            "servers/v2.9/server-get-resp.json",
            SERVER_A,
            { id: "1" },
            [
                { id: "volume_id1", delete_on_termination: false },
                { id: "volume_id2", delete_on_termination: false },
            ],
            "us-west",
        ],
        [
            "servers/v2.47/server-get-resp.json",
            "9168b536-cd40-4630-b43f-b259807c6e87",
            { original_name: "m1.tiny.specs", vcpus: 1, ram: 512, disk: 1 },
            [
                { id: "volume_id1", delete_on_termination: false },
                { id: "volume_id2", delete_on_termination: false },
            ],
            "us-west",
        ],
        ["servers/v2.73/server-get-resp.json", "0e12087a-7c87-476a-8f84-7398e991cecc", { original_name: "m1.tiny" }, [], "nova"],
        [
            "servers/v2.96/server-get-resp.json",
            SERVER_A,
            { original_name: "m1.tiny" },
            [
                { id: "volume_id1", delete_on_termination: false },
                { id: "volume_id2", delete_on_termination: false },
            ],
            "us-west",
        ],
        [
            "servers/v2.100/server-get-resp.json",
            SERVER_A,
            { original_name: "m1.tiny" },
            [
                { id: "volume_id1", delete_on_termination: false },
                { id: "volume_id2", delete_on_termination: false },
            ],
            "us-west",
        ],
    ];

    it.each(shows)("getServer reads %s", async (file, id, flavor, volumes, zone) => {
        answer({ [`GET ${COMPUTE}/servers/${id}`]: sample(`nova/${file}`) });
        const server = await compute.getServer(session(), id);
        if (compute.isPartial(server)) throw new Error(`${file} read as a partial record`);
        expect(server).toMatchObject({ id, name: "new-server-test", status: "ACTIVE", metadata: { "My Server Name": "Apache1" } });
        expect(server.flavor).toMatchObject(flavor);
        expect(server["os-extended-volumes:volumes_attached"]).toEqual(volumes);
        expect(server.addresses).toEqual(ADDRESS);
        expect(compute.availabilityZone(server)).toBe(zone);
        expect(server.image).toEqual({ id: IMAGE });
        expect(compute.isVolumeBacked(server)).toBe(false);
        expect(cloud.seen.map((r) => r.url)).toEqual([`${COMPUTE}/servers/${id}`]);
    });

    const lists: [string, string, Partial<compute.CompleteServer["flavor"]>][] = [
        ["servers/servers-details-resp.json", "f5dc173b-6804-445a-a6d8-c705dad5b5eb", { id: "1" }],
        ["servers/v2.3/servers-details-resp.json", "f5dc173b-6804-445a-a6d8-c705dad5b5eb", { id: "1" }],
        ["servers/v2.47/servers-details-resp.json", "764e369e-a874-4401-b7ce-43e4760888da", { original_name: "m1.tiny.specs" }],
        ["servers/v2.73/servers-details-resp.json", "2ce4c5b3-2866-4972-93ce-77a2ea46a7f9", { original_name: "m1.tiny" }],
        ["servers/v2.96/servers-details-resp.json", "f5dc173b-6804-445a-a6d8-c705dad5b5eb", { original_name: "m1.tiny" }],
        ["servers/v2.100/servers-details-resp.json", "f5dc173b-6804-445a-a6d8-c705dad5b5eb", { original_name: "m1.tiny" }],
    ];

    it.each(lists)("listServers reads %s (and follows a next link to the second page)", async (file, id, flavor) => {
        // the samples carry servers_links to a second page: it is asked for, and answered empty
        answer({ "GET */servers/detail": (url) => (url.searchParams.has("marker") ? { servers: [] } : sample(`nova/${file}`)) });
        const servers = await compute.listServers(session());
        expect(servers.map((x) => x.id)).toEqual([id]);
        const next = (sample(`nova/${file}`).servers_links as { href: string }[] | undefined)?.[0]?.href;
        const asked = cloud.seen.map((r) => new URL(r.url, cloud.url).searchParams.get("marker"));
        expect(asked).toEqual(next ? [null, new URL(next).searchParams.get("marker")] : [null]);
        const [server] = servers;
        if (compute.isPartial(server)) throw new Error(`${file} read as a partial record`);
        expect(server).toMatchObject({ name: "new-server-test", metadata: { "My Server Name": "Apache1" }, addresses: ADDRESS });
        expect(server.flavor).toMatchObject(flavor);
    });

    it("reads a server in a down cell (2.69 show, 2.71 with server groups) as a partial record, with what Nova still knows", async () => {
        for (const [file, id] of [
            ["servers/v2.69/server-get-resp.json", "33748c23-38dd-4f70-b774-522fc69e7b67"],
            ["servers/v2.71/server-get-down-cell-resp.json", "2669556b-b4a3-41f1-a0c1-f9c7ff75e53c"],
        ]) {
            answer({ [`GET ${COMPUTE}/servers/${id}`]: sample(`nova/${file}`) });
            const server = await compute.getServer(session(), id);
            expect(server).toMatchObject({ id, status: "UNKNOWN", tenant_id: "6f70656e737461636b20342065766572" });
            expect(server).not.toHaveProperty("name");
            expect(compute.isPartial(server)).toBe(true);
            // a show still has the request spec's flavor and zone
            expect(server.flavor).toMatchObject({ original_name: "m1.tiny" });
            expect(compute.availabilityZone(server)).toBe("UNKNOWN");
        }
    });

    it("lists a down cell's server (2.69) beside complete ones", async () => {
        const complete = itemsOf("nova/servers/v2.47/servers-details-resp.json", "servers");
        const partial = itemsOf("nova/servers/v2.69/servers-details-resp.json", "servers");
        answer({ [`GET ${COMPUTE}/servers/detail`]: { servers: [...complete, ...partial] } });
        const servers = await compute.listServers(session());
        expect(servers.map((x) => [x.id, x.status, compute.isPartial(x)])).toEqual([
            ["764e369e-a874-4401-b7ce-43e4760888da", "ACTIVE", false],
            ["b6b0410f-b65f-4473-855e-5d82a71759e0", "UNKNOWN", true],
        ]);
        // a list gives no flavor for it (Nova reads the request specs only for a show)
        expect(servers[1]).not.toHaveProperty("flavor");
    });

    it("still refuses a complete record that lost a field: no name while ACTIVE, no flavor while named", async () => {
        const { name: _name, ...nameless } = itemOf("nova/servers/v2.96/server-get-resp.json", "server");
        answer({ [`GET ${COMPUTE}/servers/${SERVER_A}`]: { server: nameless } });
        await expect(compute.getServer(session(), SERVER_A)).rejects.toThrow(/unexpected response for show server/);
        // status UNKNOWN alone does not make a partial record: Nova never names a down cell's server
        const { flavor: _flavor, ...flavorless } = itemOf("nova/servers/v2.96/server-get-resp.json", "server");
        answer({ [`GET ${COMPUTE}/servers/${SERVER_A}`]: { server: { ...flavorless, status: "UNKNOWN" } } });
        await expect(compute.getServer(session(), SERVER_A)).rejects.toThrow(/unexpected response for show server/);
    });

    const attachments: [string, { volumeId: string; device: string; serverId: string; delete_on_termination?: boolean }[]][] = [
        [
            "os-volume_attachments/list-volume-attachments-resp.json",
            [
                { volumeId: "227cc671-f30b-4488-96fd-7d0bf13648d8", device: "/dev/sdc", serverId: "4b293d31-ebd5-4a7f-be03-874b90021e54" },
                { volumeId: "a07f71dc-8151-4e7d-a0cc-cd24a3f11113", device: "/dev/sdb", serverId: "4b293d31-ebd5-4a7f-be03-874b90021e54" },
            ],
        ],
        [
            "os-volume_attachments/v2.70/list-volume-attachments-resp.json",
            [
                { volumeId: "227cc671-f30b-4488-96fd-7d0bf13648d8", device: "/dev/sdc", serverId: "68426b0f-511b-4cb3-8169-bba2e7a8bc89" },
                { volumeId: "a07f71dc-8151-4e7d-a0cc-cd24a3f11113", device: "/dev/sdb", serverId: "68426b0f-511b-4cb3-8169-bba2e7a8bc89" },
            ],
        ],
        ...[
            ["v2.79", "d5e4ae35-ac0e-4311-a8c5-0ee863e951d9"],
            ["v2.89", "7696780b-3f53-4688-ab25-019bfcbbd806"],
            ["v2.101", "7696780b-3f53-4688-ab25-019bfcbbd806"],
        ].map(([v, serverId]): [string, { volumeId: string; device: string; serverId: string; delete_on_termination?: boolean }[]] => [
            `os-volume_attachments/${v}/list-volume-attachments-resp.json`,
            [
                {
                    volumeId: "227cc671-f30b-4488-96fd-7d0bf13648d8",
                    device: "/dev/sdc",
                    serverId,
                    delete_on_termination: false,
                },
                {
                    volumeId: "a07f71dc-8151-4e7d-a0cc-cd24a3f11113",
                    device: "/dev/sdb",
                    serverId,
                    delete_on_termination: true,
                },
            ],
        ]),
    ];

    it.each(attachments)("listVolumeAttachments reads %s", async (file, expected) => {
        answer({ [`GET ${COMPUTE}/servers/srv/os-volume_attachments`]: sample(`nova/${file}`) });
        const got = await compute.listVolumeAttachments(session(), "srv");
        expect(got).toHaveLength(expected.length);
        expected.forEach((e, i) => expect(got[i]).toMatchObject(e));
    });

    it("attachVolume reads the device from the 2.79 answer", async () => {
        answer({
            [`POST ${COMPUTE}/servers/srv/os-volume_attachments`]: sample(
                "nova/os-volume_attachments/v2.79/attach-volume-to-server-resp.json",
            ),
        });
        const a = await compute.attachVolume(session(), "srv", "a07f71dc-8151-4e7d-a0cc-cd24a3f11113");
        expect(a).toMatchObject({ volumeId: "a07f71dc-8151-4e7d-a0cc-cd24a3f11113", device: "/dev/sdb" });
    });

    it.each(["os-attach-interfaces/attach-interfaces-list-resp.json", "os-attach-interfaces/v2.70/attach-interfaces-list-resp.json"])(
        "listInterfaces reads %s",
        async (file) => {
            answer({ [`GET ${COMPUTE}/servers/srv/os-interface`]: sample(`nova/${file}`) });
            expect(await compute.listInterfaces(session(), "srv")).toEqual([
                {
                    port_id: "ce531f90-199f-48c0-816c-13e38010b442",
                    net_id: "3cb9bc59-5699-4588-a4b1-b87f96708bc6",
                    port_state: "ACTIVE",
                    fixed_ips: [{ ip_address: "192.168.1.3", subnet_id: "f8a6e8f8-c2ec-497c-9f23-da9616de54ef" }],
                },
            ]);
        },
    );

    it("attachInterface reads the 2.70 answer", async () => {
        answer({
            [`POST ${COMPUTE}/servers/srv/os-interface`]: sample("nova/os-attach-interfaces/v2.70/attach-interfaces-create-resp.json"),
        });
        expect(await compute.attachInterface(session(), "srv", "ce531f90-199f-48c0-816c-13e38010b442")).toMatchObject({
            port_id: "ce531f90-199f-48c0-816c-13e38010b442",
        });
    });

    it("resolveFlavorId: by id up to 2.46, without asking; by original_name in each flavor list sample from 2.47", async () => {
        answer({});
        const old = compute.Server.parse(itemOf("nova/servers/server-get-resp.json", "server"));
        if (compute.isPartial(old)) throw new Error("read as partial");
        expect(await compute.resolveFlavorId(session(), old)).toBe("1");
        expect(cloud.seen).toEqual([]);
        for (const [server, flavors, id] of [
            ["servers/v2.47/server-get-resp.json", "flavors/flavors-detail-resp.json", "6"],
            ["servers/v2.73/server-get-resp.json", "flavors/v2.75/flavors-detail-resp.json", "1"],
            ["servers/v2.100/server-get-resp.json", "flavors/v2.102/flavors-detail-resp.json", "1"],
        ]) {
            answer({
                [`GET ${COMPUTE}/flavors/detail`]: (url) => (url.searchParams.has("marker") ? { flavors: [] } : sample(`nova/${flavors}`)),
            });
            const parsed = compute.Server.parse(itemOf(`nova/${server}`, "server"));
            if (compute.isPartial(parsed)) throw new Error("read as partial");
            expect(await compute.resolveFlavorId(session(), parsed)).toBe(id);
        }
    });
});
