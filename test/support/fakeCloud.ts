// A small local HTTP server that plays Keystone (a token whose catalog points back at it) and answers
// every other call with `routes`: for what a real cloud does only under load, failure or concurrency.
import * as http from "http";
import type { AddressInfo } from "net";
import type { AuthOptions } from "../../clients/openstack/credentials";

export type Handler = (
    req: http.IncomingMessage,
    body: string,
) => { status: number; body?: unknown; headers?: Record<string, string> } | "drop";

export class FakeCloud {
    readonly seen: { method: string; url: string; token?: string; microversion?: string }[] = [];
    tokens = 0;
    private server?: http.Server;
    routes: Handler = () => ({ status: 404, body: { itemNotFound: { message: "no route" } } });
    get url(): string {
        return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    }
    async start(): Promise<void> {
        this.server = http.createServer((req, res) => {
            let body = "";
            req.on("data", (d) => (body += d));
            req.on("end", () => {
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
                                catalog: [
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
