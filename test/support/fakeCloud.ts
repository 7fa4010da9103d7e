// A small local HTTP server that plays Keystone (a token whose catalog points back at it) and answers
// every other call with `routes`: for what a real cloud does only under load, failure or concurrency.
import * as http from "http";
import type { AddressInfo } from "net";
import type { AuthOptions } from "../../clients/openstack/credentials";
import { Session } from "../../clients/openstack/session";

export type Handler = (
    req: http.IncomingMessage,
    body: string,
) => { status: number; body?: unknown; headers?: Record<string, string> } | "drop";

export class FakeCloud {
    readonly seen: { method: string; url: string; token?: string; microversion?: string }[] = [];
    tokens = 0;
    private server?: http.Server;
    routes: Handler = () => ({ status: 404, body: { itemNotFound: { message: "no route" } } });
    /** Version discovery's answers by path, served before `routes` and not counted in `seen`: by
     *  default a Zed-like Nova (2.1 to 2.93) and Cinder (3.0 to 3.70, 404 at /v3/<project> like the real one). */
    versionDocs: Record<string, { status: number; body?: unknown }> = {};
    /** The token's catalog, when not the default (compute, volumev3, network in RegionOne). */
    catalog?: (url: string) => unknown[];
    /** The whole token response, when not the default (a Keystone API reference sample, say). */
    tokenBody?: (url: string) => unknown;
    /** Play a cloud whose Nova and Cinder serve up to these microversions. */
    serveVersions(compute: string, volume: string): void {
        const entry = (id: string, max: string, min: string, path: string) => ({
            id,
            status: "CURRENT",
            version: max,
            min_version: min,
            links: [{ rel: "self", href: `http://internal.invalid${path}` }],
        });
        this.versionDocs = {
            "/compute/v2.1": { status: 200, body: { version: entry("v2.1", compute, "2.1", "/compute/v2.1/") } },
            "/volume/v3/p1": { status: 404, body: { message: "The resource could not be found." } },
            "/volume/v3/": { status: 200, body: { versions: [entry("v3.0", volume, "3.0", "/volume/v3/")] } },
        };
    }
    get url(): string {
        return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    }
    constructor() {
        this.serveVersions("2.93", "3.70");
    }
    async start(): Promise<void> {
        this.server = http.createServer((req, res) => {
            let body = "";
            req.on("data", (d) => (body += d));
            req.on("end", () => {
                if (req.url === "/v3/auth/tokens" && this.tokenBody) {
                    this.tokens++;
                    res.writeHead(201, { "Content-Type": "application/json", "X-Subject-Token": `tok-${this.tokens}` });
                    res.end(JSON.stringify(this.tokenBody(this.url)));
                    return;
                }
                if (req.url === "/v3/auth/tokens") {
                    this.tokens++;
                    res.writeHead(201, { "Content-Type": "application/json", "X-Subject-Token": `tok-${this.tokens}` });
                    res.end(
                        JSON.stringify({
                            token: {
                                expires_at: "2099-01-01T00:00:00Z",
                                user: { id: "u1" },
                                project: { id: "p1" },
                                roles: [{ name: "member" }],
                                catalog: this.catalog?.(this.url) ?? [
                                    {
                                        type: "compute",
                                        endpoints: [
                                            { interface: "public", region_id: "RegionOne", url: `${this.url}/compute/v2.1` },
                                            { interface: "public", region_id: "Other", url: "http://other.invalid" },
                                        ],
                                    },
                                    {
                                        type: "volumev3",
                                        endpoints: [{ interface: "public", region_id: "RegionOne", url: `${this.url}/volume/v3/p1` }],
                                    },
                                    {
                                        type: "network",
                                        endpoints: [{ interface: "public", region_id: "RegionOne", url: `${this.url}/network/` }],
                                    },
                                ],
                            },
                        }),
                    );
                    return;
                }
                const doc = this.versionDocs[req.url!];
                if (doc && req.method === "GET") {
                    res.writeHead(doc.status, { "Content-Type": "application/json" });
                    res.end(JSON.stringify(doc.body ?? {}));
                    return;
                }
                this.seen.push({
                    method: req.method!,
                    url: req.url!,
                    token: req.headers["x-auth-token"] as string,
                    microversion: req.headers["openstack-api-version"] as string | undefined,
                });
                const r = this.routes(req, body);
                if (r === "drop") return req.socket.destroy();
                res.writeHead(r.status, {
                    "Content-Type": "application/json",
                    "X-Openstack-Request-Id": `req-${this.seen.length}`,
                    ...r.headers,
                });
                res.end(r.body === undefined ? "" : JSON.stringify(r.body));
            });
        });
        await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    }
    async stop(): Promise<void> {
        await new Promise<void>((r) => this.server!.close(() => r()));
    }
}

export const auth = (url: string, over: Partial<AuthOptions> = {}): AuthOptions => ({
    authUrl: `${url}/v3`,
    method: "password",
    username: "operator",
    password: "pw",
    projectName: "incidents",
    userDomainName: "Default",
    projectDomainName: "Default",
    region: "RegionOne",
    interface: "public",
    insecure: false,
    source: "test",
    ...over,
});

/** Stack config that makes the providers' connect() authenticate against this cloud. */
export function stackConfig(url: string): (key: string) => string | undefined {
    const config: Record<string, string> = {
        "openstack:authUrl": `${url}/v3`,
        "openstack:userName": "operator",
        "openstack:password": "pw",
        "openstack:projectName": "incidents",
        "openstack:region": "RegionOne",
    };
    return (key) => config[key];
}

/** A FakeCloud and a session on it for one test file: started before its tests, closed after. */
export function fakeCloudSession(): { cloud: FakeCloud; session: () => Session } {
    const cloud = new FakeCloud();
    let s: Session | undefined;
    beforeAll(async () => {
        await cloud.start();
        s = await Session.connect(auth(cloud.url));
    });
    afterAll(async () => {
        s?.close();
        await cloud.stop();
    });
    return { cloud, session: () => s! };
}
