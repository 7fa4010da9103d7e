// The REST client's own behaviour: what a real cloud does only under load or failure (429 with
// Retry-After, 503, an expired token, a dropped connection, pages) is played by a small local
// HTTP server; everything else is proven against the lab cloud (test/lab, test/e2e).
import { z } from "zod";
import { ApiError, ConflictError, NotFoundError, ResponseShapeError } from "../../clients/openstack/errors";
import { Session } from "../../clients/openstack/session";
import { auth, FakeCloud } from "../support/fakeCloud";

describe("OpenStack session", () => {
    const cloud = new FakeCloud();
    let s: Session;
    const logs: string[] = [];
    beforeAll(async () => {
        await cloud.start();
        s = await Session.connect(auth(cloud.url), (m) => logs.push(m));
    });
    afterAll(async () => {
        s.close();
        await cloud.stop();
    });
    beforeEach(() => {
        cloud.seen.length = 0;
        logs.length = 0;
    });

    it("finds endpoints by service type, region and interface, and normalises unversioned ones", () => {
        expect(s.endpoint("compute")).toBe(`${cloud.url}/compute/v2.1`);
        expect(s.endpoint("volume")).toBe(`${cloud.url}/volume/v3/p1`);
        expect(s.endpoint("network")).toBe(`${cloud.url}/network`);
        expect(() => s.endpoint("image")).toThrow(/no public image endpoint in region RegionOne/);
    });

    it("sends the microversion header and validates the response with the schema", async () => {
        cloud.routes = () => ({ status: 200, body: { server: { id: "s1" } } });
        const r = await s.request("compute", {
            what: "show server",
            path: "/servers/s1",
            microversion: "2.79",
            schema: z.object({ server: z.object({ id: z.string() }) }),
        });
        expect(r.data.server.id).toBe("s1");
        expect(r.requestId).toBe("req-1");
        expect(cloud.seen[0]).toMatchObject({ method: "GET", url: "/compute/v2.1/servers/s1", microversion: "compute 2.79" });
    });

    it("reports a wrong response shape with what was asked and the request id", async () => {
        cloud.routes = () => ({ status: 200, body: { server: { name: 3 } } });
        const p = s.request("compute", {
            what: "show server s1",
            path: "/servers/s1",
            schema: z.object({ server: z.object({ id: z.string() }) }),
        });
        await expect(p).rejects.toBeInstanceOf(ResponseShapeError);
        await expect(p).rejects.toThrow(/show server s1.*request id req-1/s);
    });

    it("retries 429 honouring Retry-After, and says so", async () => {
        let n = 0;
        cloud.routes = () =>
            ++n === 1
                ? { status: 429, headers: { "Retry-After": "0" }, body: { overLimit: { message: "slow down" } } }
                : { status: 200, body: { ok: true } };
        const r = await s.request("compute", { what: "list things", path: "/things" });
        expect(r.status).toBe(200);
        expect(cloud.seen).toHaveLength(2);
        expect(logs.join("\n")).toMatch(/retrying in 0\.0s .*HTTP 429 slow down/);
    });

    it("retries a 503 and a dropped connection for a GET", async () => {
        let n = 0;
        cloud.routes = () => (++n === 1 ? { status: 503, body: "busy" } : n === 2 ? "drop" : { status: 200, body: { ok: true } });
        const r = await s.request("volume", { what: "show volume", path: "/volumes/v1" });
        expect(r.status).toBe(200);
        expect(cloud.seen).toHaveLength(3);
    });

    it("does not repeat a POST after a 500: the first may have created something", async () => {
        cloud.routes = () => ({ status: 500, body: { computeFault: { message: "boom" } } });
        await expect(s.request("volume", { what: "create volume", method: "POST", path: "/volumes", body: {} })).rejects.toThrow(
            /HTTP 500: create volume: boom \(request id req-1\)/,
        );
        expect(cloud.seen).toHaveLength(1);
    });

    it("retries 409 only where the caller says the conflict is transient", async () => {
        let n = 0;
        cloud.routes = () =>
            ++n === 1 ? { status: 409, body: { conflictingRequest: { message: "in task_state attaching" } } } : { status: 202 };
        await s.request("compute", {
            what: "attach",
            method: "POST",
            path: "/servers/s1/os-volume_attachments",
            body: {},
            retryConflict: true,
        });
        expect(cloud.seen).toHaveLength(2);
        cloud.routes = () => ({ status: 409, body: { conflictingRequest: { message: "busy" } } });
        await expect(s.request("compute", { what: "stop", method: "POST", path: "/servers/s1/action", body: {} })).rejects.toBeInstanceOf(
            ConflictError,
        );
    });

    it("types 404 as NotFoundError, keeping the request id", async () => {
        cloud.routes = () => ({ status: 404, body: { itemNotFound: { message: "Volume v9 could not be found." } } });
        const p = s.request("volume", { what: "show volume v9", path: "/volumes/v9" });
        await expect(p).rejects.toBeInstanceOf(NotFoundError);
        await expect(p).rejects.toMatchObject({ status: 404, requestId: "req-1" });
    });

    it("re-authenticates once when the token expires mid-run", async () => {
        const before = cloud.tokens;
        let n = 0;
        cloud.routes = () => (++n === 1 ? { status: 401, body: { error: { message: "expired" } } } : { status: 200, body: {} });
        await s.request("network", { what: "list ports", path: "/v2.0/ports" });
        expect(cloud.tokens).toBe(before + 1);
        expect(cloud.seen[1].token).toBe(`tok-${before + 1}`);
    });

    it("follows next links through every page", async () => {
        cloud.routes = (req) => {
            const u = new URL(req.url!, cloud.url);
            const marker = u.searchParams.get("marker");
            if (!marker)
                return {
                    status: 200,
                    body: {
                        ports: [{ id: "a" }, { id: "b" }],
                        ports_links: [{ rel: "next", href: `${cloud.url}/network/v2.0/ports?marker=b&limit=2` }],
                    },
                };
            if (marker === "b") return { status: 200, body: { ports: [{ id: "c" }], ports_links: [] } };
            return { status: 400 };
        };
        const all = await s.list("network", { what: "list ports", path: "/v2.0/ports", key: "ports", item: z.object({ id: z.string() }) });
        expect(all.map((p) => p.id)).toEqual(["a", "b", "c"]);
        expect(cloud.seen.map((x) => x.url)).toEqual(["/network/v2.0/ports", "/network/v2.0/ports?marker=b&limit=2"]);
    });

    it("follows a next link that names another host and prefix (the service's own, behind a proxy) on the catalog's", async () => {
        cloud.routes = (req) => {
            const marker = new URL(req.url!, cloud.url).searchParams.get("marker");
            return marker
                ? { status: 200, body: { servers: [{ id: "c" }] } }
                : {
                      status: 200,
                      body: {
                          servers: [{ id: "a" }],
                          servers_links: [
                              { rel: "next", href: "http://nova-internal.invalid:8774/v2.1/p1/servers/detail?status=ACTIVE&marker=a" },
                          ],
                      },
                  };
        };
        const all = await s.list("compute", {
            what: "list servers",
            path: "/servers/detail",
            query: { status: "ACTIVE" },
            key: "servers",
            item: z.object({ id: z.string() }),
        });
        expect(all.map((x) => x.id)).toEqual(["a", "c"]);
        expect(cloud.seen.map((x) => x.url)).toEqual([
            "/compute/v2.1/servers/detail?status=ACTIVE",
            "/compute/v2.1/servers/detail?status=ACTIVE&marker=a",
        ]);
    });

    it("names the auth URL and source when Keystone refuses", async () => {
        const bad = new FakeCloud();
        await bad.start();
        bad.routes = () => ({ status: 401 });
        const closed = `http://127.0.0.1:1`;
        await expect(Session.connect(auth(closed))).rejects.toThrow(
            /cannot reach Keystone at http:\/\/127\.0\.0\.1:1\/v3\/auth\/tokens \(test\)/,
        );
        await bad.stop();
        expect(ApiError).toBeDefined();
    });
});
