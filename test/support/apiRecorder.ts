// Counts every OpenStack API call at the HTTP layer, whoever makes it (the stack program in the
// test process, the providers in the dynamic-provider host): a loopback reverse proxy in front of
// Keystone that rewrites the service catalog in token responses so every service URL points back
// through it. Point clouds.yaml's auth_url at `authUrl` and read `calls`.
import * as http from "http";
import type { AddressInfo } from "net";

export interface RecordedCall {
    method: string;
    /** the path on the real service, e.g. /v3/<project>/volumes */
    path: string;
    /** the origin it went to, e.g. http://127.0.0.1:8776 */
    service: string;
    status: number;
}

export class ApiRecorder {
    readonly calls: RecordedCall[] = [];
    private readonly origins: string[] = [];
    private server?: http.Server;

    private constructor(private readonly keystone: string) {
        this.origins.push(new URL(keystone).origin);
    }

    /** Start in front of the Keystone at this auth URL (e.g. http://127.0.0.1:5000/v3). */
    static async start(keystoneAuthUrl: string): Promise<ApiRecorder> {
        const r = new ApiRecorder(keystoneAuthUrl);
        r.server = http.createServer((req, res) => void r.forward(req, res));
        await new Promise<void>((resolve) => r.server!.listen(0, "127.0.0.1", resolve));
        return r;
    }

    get port(): number {
        return (this.server!.address() as AddressInfo).port;
    }

    /** The auth URL to give clients instead of the real one. */
    get authUrl(): string {
        return `http://127.0.0.1:${this.port}/o/0${new URL(this.keystone).pathname}`;
    }

    /** Calls that change something (token requests excluded: they are how reads authenticate). */
    mutating(): RecordedCall[] {
        return this.calls.filter((c) => !["GET", "HEAD", "OPTIONS"].includes(c.method) && !/\/v3\/auth\/tokens$/.test(c.path));
    }

    reset(): void {
        this.calls.length = 0;
    }

    async stop(): Promise<void> {
        await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
    }

    private prefixFor(origin: string): string {
        let i = this.origins.indexOf(origin);
        if (i < 0) i = this.origins.push(origin) - 1;
        return `http://127.0.0.1:${this.port}/o/${i}`;
    }

    /** Rewrite every URL in a token response's catalog to go through us. */
    private rewriteCatalog(body: Buffer): Buffer {
        const json = JSON.parse(body.toString("utf8")) as { token?: { catalog?: { endpoints: { url: string }[] }[] } };
        for (const entry of json.token?.catalog ?? []) {
            for (const ep of entry.endpoints) {
                const u = new URL(ep.url);
                ep.url = this.prefixFor(u.origin) + ep.url.slice(u.origin.length);
            }
        }
        return Buffer.from(JSON.stringify(json));
    }

    private async forward(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const m = /^\/o\/(\d+)(\/.*)$/.exec(req.url ?? "");
        const origin = m ? this.origins[Number(m[1])] : undefined;
        if (!m || !origin) {
            res.writeHead(404).end("not a recorded origin");
            return;
        }
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const target = new URL(m[2], origin);
        const headers = { ...req.headers, host: target.host };
        delete headers["content-length"];
        const upstream = await new Promise<http.IncomingMessage>((resolve, reject) => {
            const up = http.request(target, { method: req.method, headers }, resolve);
            up.on("error", reject);
            up.end(Buffer.concat(chunks));
        }).catch((e: Error) => e);
        if (upstream instanceof Error) {
            this.calls.push({ method: req.method ?? "?", path: target.pathname, service: origin, status: 502 });
            res.writeHead(502).end(upstream.message);
            return;
        }
        const out: Buffer[] = [];
        for await (const c of upstream) out.push(c as Buffer);
        let body: Buffer = Buffer.concat(out);
        if (/\/v3\/auth\/tokens$/.test(target.pathname) && (upstream.statusCode ?? 0) < 300 && body.length)
            body = this.rewriteCatalog(body);
        this.calls.push({
            method: req.method ?? "?",
            path: target.pathname + target.search,
            service: origin,
            status: upstream.statusCode ?? 0,
        });
        const h = { ...upstream.headers, "content-length": String(body.length) };
        delete h["transfer-encoding"];
        delete h.connection;
        res.writeHead(upstream.statusCode ?? 502, h).end(body);
    }
}
