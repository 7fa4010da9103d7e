// Counts every OpenStack API call at the HTTP layer, whoever makes it (the stack program in the
// test process, the providers in the dynamic-provider host): a loopback reverse proxy in front of
// Keystone that rewrites the service catalog in token responses so every service URL points back
// through it. Point clouds.yaml's auth_url at `authUrl` and read `calls`.
// With `play`, it also plays an older cloud in front of the lab: the version documents say that
// release's newest microversions, a request above them gets the 406 Nova and Cinder give, and the
// catalog lists the service types that release registered.
import * as http from "http";
import type { AddressInfo } from "net";

export interface RecordedCall {
    method: string;
    /** the path on the real service, e.g. /v3/<project>/volumes */
    path: string;
    /** the origin it went to, e.g. http://127.0.0.1:8776 */
    service: string;
    status: number;
    /** the OpenStack-API-Version header sent, e.g. "volume 3.59" */
    microversion?: string;
}

/** An OpenStack release as its APIs show it to a client. */
export interface PlayedRelease {
    name: string;
    /** Nova's newest microversion (its version document's `version`) */
    compute: string;
    /** Cinder's */
    volume: string;
    /** catalog types that release did not register by default (dropped from the token's catalog) */
    unregistered: string[];
}

/** RHOSP 16.2, the runbook's own platform: Nova 2.79, Cinder 3.59; no `block-storage` catalog type
 *  (a Train catalog lists volumev2 and volumev3). */
export const TRAIN: PlayedRelease = { name: "Train", compute: "2.79", volume: "3.59", unregistered: ["block-storage"] };

const minor = (v: string): number => Number(v.split(".")[1]);
export class ApiRecorder {
    readonly calls: RecordedCall[] = [];
    private readonly origins: string[] = [];
    private server?: http.Server;

    private constructor(
        private readonly keystone: string,
        readonly play?: PlayedRelease,
    ) {
        this.origins.push(new URL(keystone).origin);
    }

    /** Start in front of the Keystone at this auth URL (e.g. http://127.0.0.1:5000/v3). */
    static async start(keystoneAuthUrl: string, play?: PlayedRelease): Promise<ApiRecorder> {
        const r = new ApiRecorder(keystoneAuthUrl, play);
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

    /** The body of the 406 the played release gives a microversion it does not serve (Nova's words). */
    private refuse(header: string | undefined): unknown {
        const [service, asked] = (header ?? "").split(" ");
        if (!this.play || !asked || (service !== "compute" && service !== "volume")) return undefined;
        const max = this.play[service];
        if (minor(asked) <= minor(max)) return undefined;
        const message = `Version ${asked} is not supported by the API. Minimum is ${service === "compute" ? "2.1" : "3.0"} and maximum is ${max}.`;
        return service === "compute" ? { computeFault: { code: 406, message } } : { error: { code: 406, message } };
    }

    /** A version document as the played release writes it: its newest microversions. */
    private playVersions(body: Buffer): Buffer {
        type Entry = { id?: string; version?: string };
        let json: { version?: Entry; versions?: Entry[] };
        try {
            json = JSON.parse(body.toString("utf8")) as typeof json;
        } catch {
            return body;
        }
        const entries = [...(json.version ? [json.version] : []), ...(Array.isArray(json.versions) ? json.versions : [])];
        let changed = false;
        for (const e of entries) {
            // only Nova's v2.1 and Cinder's v3 carry microversions (Keystone's v3 entry has no `version`)
            const max = e.id === "v2.1" ? this.play!.compute : /^v3/.test(e.id ?? "") && e.version ? this.play!.volume : undefined;
            if (max && e.version && minor(e.version) > minor(max)) {
                e.version = max;
                changed = true;
            }
        }
        return changed ? Buffer.from(JSON.stringify(json)) : body;
    }

    /** Rewrite every URL in a token response's catalog to go through us. */
    private rewriteCatalog(body: Buffer): Buffer {
        const json = JSON.parse(body.toString("utf8")) as { token?: { catalog?: { type: string; endpoints: { url: string }[] }[] } };
        if (this.play && json.token?.catalog)
            json.token.catalog = json.token.catalog.filter((c) => !this.play!.unregistered.includes(c.type));
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
        const microversion = req.headers["openstack-api-version"] as string | undefined;
        const refused = this.refuse(microversion);
        if (refused) {
            this.calls.push({
                method: req.method ?? "?",
                path: target.pathname + target.search,
                service: origin,
                status: 406,
                microversion,
            });
            res.writeHead(406, { "Content-Type": "application/json" }).end(JSON.stringify(refused));
            return;
        }
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
        else if (this.play && req.method === "GET") body = this.playVersions(body);
        this.calls.push({
            method: req.method ?? "?",
            path: target.pathname + target.search,
            service: origin,
            status: upstream.statusCode ?? 0,
            microversion,
        });
        const h = { ...upstream.headers, "content-length": String(body.length) };
        delete h["transfer-encoding"];
        delete h.connection;
        res.writeHead(upstream.statusCode ?? 502, h).end(body);
    }
}
