// Issue 12: how the client reaches clouds older and newer than the lab's. Each case plays what a real
// cloud answers (Nova's and Cinder's version documents, and the 406 they give a microversion they do
// not serve), in a small local HTTP server, and calls the client as the steps do.
import { blockStorage, compute } from "../../clients/openstack";
import { ApiVersionError, Session } from "../../clients/openstack/session";
import { auth, FakeCloud, type Handler } from "../support/fakeCloud";

/** Like Nova and Cinder: 406 for a microversion above the one served, else the handler's answer. */
function strict(served: { compute: string; volume: string }, then: Handler): Handler {
    return (req, body) => {
        const header = String(req.headers["openstack-api-version"] ?? "");
        const [service, asked] = header.split(" ");
        const max = service === "compute" ? served.compute : service === "volume" ? served.volume : undefined;
        if (max && asked && Number(asked.split(".")[1]) > Number(max.split(".")[1]))
            return {
                status: 406,
                body: {
                    computeFault: {
                        code: 406,
                        message: `Version ${asked} is not supported by the API. Minimum is 2.1 and maximum is ${max}.`,
                    },
                },
            };
        return then(req, body);
    };
}

const VOLUME = { id: "v1", status: "available", size: 1, bootable: "false", attachments: [], metadata: {} };

describe("version discovery and microversion negotiation", () => {
    let cloud: FakeCloud;
    let s: Session;
    const logs: string[] = [];
    async function connectTo(versions: { compute: string; volume: string }, catalog?: FakeCloud["catalog"]): Promise<void> {
        cloud = new FakeCloud();
        cloud.serveVersions(versions.compute, versions.volume);
        cloud.catalog = catalog;
        await cloud.start();
        cloud.routes = strict(versions, () => ({ status: 200, body: { volume: VOLUME, volumes: [VOLUME] } }));
        logs.length = 0;
        s = await Session.connect(auth(cloud.url), (m) => logs.push(m));
    }
    afterEach(async () => {
        s?.close();
        await cloud?.stop();
    });

    it("Train's Cinder (3.59 at most) gets 3.59, not a 406 for every volume call (the fixed 3.60 did)", async () => {
        await connectTo({ compute: "2.79", volume: "3.59" });
        await expect(blockStorage.getVolume(s, "v1")).resolves.toMatchObject({ id: "v1" });
        expect(cloud.seen.at(-1)).toMatchObject({ url: "/volume/v3/p1/volumes/v1", microversion: "volume 3.59" });
        expect(logs.join("\n")).toMatch(/volume API: http:\/\/127\.0\.0\.1:\d+\/volume\/v3\/p1, microversions 3\.0 to 3\.59/);
    });

    it("a newer cloud gets the newest microversion this client is written for", async () => {
        await connectTo({ compute: "2.96", volume: "3.71" });
        await blockStorage.getVolume(s, "v1");
        expect(cloud.seen.at(-1)?.microversion).toBe(`volume ${blockStorage.VOLUME_MICROVERSION}`);
        await compute.findServerById(s, "x").catch(() => undefined);
        expect(cloud.seen.at(-1)?.microversion).toBe(`compute ${compute.COMPUTE_MICROVERSION}`);
    });

    it("an unversioned block-storage endpoint finds v3 at its root (the path was appended to the root: 404s read as gone)", async () => {
        await connectTo({ compute: "2.79", volume: "3.59" }, (url) => [
            { type: "compute", endpoints: [{ interface: "public", region_id: "RegionOne", url: `${url}/compute/v2.1` }] },
            { type: "block-storage", endpoints: [{ interface: "public", region_id: "RegionOne", url: `${url}/volume/` }] },
        ]);
        cloud.versionDocs["/volume/"] = cloud.versionDocs["/volume/v3/"]!; // the root lists v3 (HTTP 300 on a real Cinder)
        await blockStorage.getVolume(s, "v1");
        expect(cloud.seen.at(-1)?.url).toBe("/volume/v3/p1/volumes/v1");
    });

    it("a volumev2 entry (service-types-authority alias) still reaches v3", async () => {
        await connectTo({ compute: "2.79", volume: "3.59" }, (url) => [
            { type: "volumev2", endpoints: [{ interface: "public", region_id: "RegionOne", url: `${url}/volume/v2/p1` }] },
        ]);
        cloud.versionDocs["/volume/v2/p1"] = { status: 404 };
        cloud.versionDocs["/volume/v2/"] = { status: 300, body: cloud.versionDocs["/volume/v3/"]!.body as object };
        await blockStorage.getVolume(s, "v1");
        expect(cloud.seen.at(-1)?.url).toBe("/volume/v3/p1/volumes/v1");
    });

    it("a cloud whose volume service has no v3 is refused naming what it serves", async () => {
        await connectTo({ compute: "2.79", volume: "3.59" });
        cloud.versionDocs["/volume/v3/"] = { status: 200, body: { versions: [{ id: "v2.0", status: "CURRENT", links: [] }] } };
        await expect(blockStorage.getVolume(s, "v1")).rejects.toThrow(/serves v2\.0, and this client needs Block Storage v3/);
    });

    it("one catalog entry per region: the other region's endpoint is found (the first entry was the only one read)", async () => {
        await connectTo({ compute: "2.79", volume: "3.59" }, (url) => [
            { type: "compute", endpoints: [{ interface: "public", region_id: "RegionTwo", url: "http://two.invalid/compute/v2.1" }] },
            { type: "compute", endpoints: [{ interface: "public", region_id: "RegionOne", url: `${url}/compute/v2.1` }] },
        ]);
        expect(s.endpoint("compute")).toBe(`${cloud.url}/compute/v2.1`);
    });

    it("a feature newer than the cloud is refused before the call, naming both versions", async () => {
        await connectTo({ compute: "2.79", volume: "3.59" });
        const before = cloud.seen.length;
        await expect(
            s.request("compute", {
                what: "boot replacement",
                method: "POST",
                path: "/servers",
                body: {},
                microversion: "2.90",
                requires: { microversion: "2.90", feature: "setting the hostname" },
            }),
        ).rejects.toThrow(
            new ApiVersionError(
                "boot replacement: setting the hostname needs compute API microversion 2.90; this cloud serves 2.1 to 2.79",
            ),
        );
        expect(cloud.seen.length).toBe(before);
        expect(await s.supports("compute", "2.79")).toBe(true);
        expect(await s.supports("compute", "2.87")).toBe(false);
    });

    it("a cloud that hides its version documents is used as listed, and says so", async () => {
        await connectTo({ compute: "2.79", volume: "3.59" });
        cloud.versionDocs = {};
        await blockStorage.getVolume(s, "v1").catch(() => undefined);
        expect(logs.join("\n")).toMatch(/volume API: no version document .*using http:\/\/127\.0\.0\.1:\d+\/volume\/v3\/p1 as listed/);
    });

    it("the replacement's hostname is sent at 2.90 where the cloud serves it, and nothing else asks for more than the client knows", async () => {
        await connectTo({ compute: "2.93", volume: "3.70" });
        let sent: unknown;
        cloud.routes = (req, body) => {
            sent = JSON.parse(body);
            return { status: 202, body: { server: { id: "new" } } };
        };
        const r = { name: "web-1-recovered", flavorRef: "f", bootVolumeId: "v", portIds: ["p"] };
        await compute.createServer(s, { ...r, hostname: "web-1" });
        expect(cloud.seen.at(-1)?.microversion).toBe("compute 2.90");
        expect(sent).toMatchObject({ server: { hostname: "web-1" } });
        await compute.createServer(s, r);
        expect(cloud.seen.at(-1)?.microversion).toBe(`compute ${compute.COMPUTE_MICROVERSION}`);
        expect(sent).not.toHaveProperty("server.hostname");
    });
});
