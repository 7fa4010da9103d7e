// Proves that the client reads Cinder's own API reference samples (api-ref v3, 3.0 to 3.69, and the
// one list sample with an attachment, v2's, whose shape v3 kept) through its own calls: a volume
// shown and listed by metadata, with the fields the recovery reads (zone, bootable, attachments and
// their device, metadata), and an attachment that names no server (server_id null: a volume
// attached to a host, not to a Nova server).
import { blockStorage } from "../../clients/openstack";
import { sample, sampleCloud, VOLUME, type JsonObject } from "./support";

const SHOWN = "f7223234-1afc-4d19-bfa3-d19deb6235ef"; // the show samples' volume
const LISTED = "cb49b381-9012-40cb-b8ee-80c19a4801b5"; // the v3 list samples' volume

describe("Cinder API reference samples through the client's calls", () => {
    const { cloud, session, answer } = sampleCloud();

    it.each([
        "v3/volumes/volume-show-response.json",
        "v3/volumes/v3.13/volume-show-response.json",
        "v3/volumes/v3.48/volume-show-response.json",
        "v3/volumes/v3.63/volume-show-response.json",
        "v3/volumes/v3.69/volume-show-response.json",
    ])("getVolume reads %s", async (file) => {
        answer({ [`GET ${VOLUME}/volumes/${SHOWN}`]: sample(`cinder/${file}`) });
        expect(await blockStorage.getVolume(session(), SHOWN)).toEqual({
            id: SHOWN,
            name: null,
            description: null,
            status: "creating",
            size: 10,
            availability_zone: "nova",
            bootable: false,
            volume_type: "__DEFAULT__",
            multiattach: false,
            source_volid: null,
            metadata: {},
            attachments: [],
        });
    });

    it.each(["v3/volumes/volumes-list-detailed-response.json", "v3/volumes/v3.69/volumes-list-detailed-response.json"])(
        "listVolumesByMetadata reads %s and asks Cinder to filter",
        async (file) => {
            answer({ [`GET ${VOLUME}/volumes/detail`]: sample(`cinder/${file}`) });
            const got = await blockStorage.listVolumesByMetadata(session(), { "recovery-stack": "o/p/s" });
            expect(got.map((v) => [v.id, v.status, v.bootable, v.availability_zone])).toEqual([[LISTED, "creating", false, "nova"]]);
            expect(new URL(cloud.seen[0].url, cloud.url).searchParams.get("metadata")).toBe('{"recovery-stack":"o/p/s"}');
        },
    );

    const withAttachment = () => sample("cinder/v2/volumes-list-detailed-response.json");
    // its volumes_links name another host (and v2): the client asks for the page with its marker
    const pages = (first: JsonObject) => ({
        "GET */volumes/detail": (url: URL) => (url.searchParams.has("marker") ? { volumes: [] } : first),
    });

    it("reads a volume's attachments: the server, the attachment and the device (and a bootable one)", async () => {
        answer(pages(withAttachment()));
        const [attached, bootable] = await blockStorage.listVolumesByMetadata(session(), {});
        expect(attached).toMatchObject({
            id: "6edbc2f4-1507-44f8-ac0d-eed1d2608d38",
            name: "test-volume-attachments",
            status: "in-use",
            multiattach: true,
            bootable: false,
            availability_zone: "nova",
            attachments: [
                {
                    server_id: "f4fda93b-06e0-4743-8117-bc8bcecd651b",
                    attachment_id: "3b4db356-253d-4fab-bfa0-e3626c0b8405",
                    device: "/dev/vdb",
                },
            ],
        });
        // the sample's metadata has a boolean ("readonly": false); it reads as the string Cinder stores
        expect(attached.metadata).toEqual({ readonly: "false", attached_mode: "rw" });
        expect(bootable).toMatchObject({
            id: "173f7b48-c4c1-4e70-9acc-086b39073506",
            status: "available",
            bootable: true,
            attachments: [],
        });
        expect(cloud.seen.map((r) => new URL(r.url, cloud.url).searchParams.get("marker"))).toEqual([
            null,
            "3b451d5d-9358-4a7e-a746-c6fd8b0e1462",
        ]);
    });

    it("reads an attachment that names no server (server_id null)", async () => {
        const body = withAttachment();
        const [first] = body.volumes as JsonObject[];
        first.attachments = (first.attachments as JsonObject[]).map((a) => ({ ...a, server_id: null }));
        answer(pages(body));
        const [attached] = await blockStorage.listVolumesByMetadata(session(), {});
        expect(attached.attachments).toEqual([
            { server_id: null, attachment_id: "3b4db356-253d-4fab-bfa0-e3626c0b8405", device: "/dev/vdb" },
        ]);
    });
});
