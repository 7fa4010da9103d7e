// A small Keystone v3 session for exactly what the providers need: a scoped token, the service
// catalog, and requests that retry what is safe to retry and keep the request id in every error.
// No well-kept OpenStack library exists for Node (pkgcloud is unmaintained), hence this file.
import * as http from "http";
import * as https from "https";
import * as fs from "fs";
import { z } from "zod";
import type { AuthOptions } from "./credentials";
import { ApiError, AuthConfigError, ConflictError, NotFoundError, ResponseShapeError } from "./errors";

export type ServiceType = "compute" | "volume" | "network" | "image" | "identity";

/** Catalog types that serve each service: the official type, then its aliases, as
 *  service-types-authority lists them (block-storage: volumev3, volumev2, volume, block-store). A
 *  volumev2 or volume (v1) entry is fine: version discovery finds v3 beside it. */
const CATALOG_TYPES: Record<ServiceType, string[]> = {
    compute: ["compute"],
    volume: ["block-storage", "volumev3", "volumev2", "volume", "block-store"],
    network: ["network"],
    image: ["image"],
    identity: ["identity"],
};

/** The major API version the client speaks, for the services with microversions: Nova's v2.1,
 *  Cinder's v3 (a version document's `id`: "v2.1", "v3.0"). */
const API_MAJOR: Partial<Record<ServiceType, { id: RegExp; segment: string; name: string }>> = {
    compute: { id: /^v2\.1$/, segment: "v2.1", name: "Compute v2.1" },
    volume: { id: /^v3(\.\d+)?$/, segment: "v3", name: "Block Storage v3" },
};

/** One entry of a version document (`GET <endpoint root>`). */
const VersionEntry = z.object({
    id: z.string(),
    status: z.string().optional(),
    /** the highest microversion served ("" when the version has none) */
    version: z.string().optional(),
    min_version: z.string().optional(),
    links: z.array(z.object({ rel: z.string(), href: z.string() })).default([]),
});
/** The three shapes keystoneauth reads (discover.get_version_data): `versions.values`, `versions`, `version`. */
const VersionDocument = z.union([
    z.object({ versions: z.object({ values: z.array(VersionEntry) }) }).transform((d) => d.versions.values),
    z.object({ versions: z.array(VersionEntry) }).transform((d) => d.versions),
    z.object({ version: VersionEntry }).transform((d) => [d.version]),
]);

/** A microversion "2.79" as a comparable pair. */
export function parseMicroversion(v: string): [number, number] {
    const m = /^(\d+)\.(\d+)$/.exec(v);
    if (!m) throw new Error(`not a microversion: ${v}`);
    return [Number(m[1]), Number(m[2])];
}
export function compareMicroversions(a: string, b: string): number {
    const [x, y] = [parseMicroversion(a), parseMicroversion(b)];
    return x[0] - y[0] || x[1] - y[1];
}
const lowest = (a: string, b: string) => (compareMicroversions(a, b) <= 0 ? a : b);

/** What version discovery found for one service. */
export interface ApiVersion {
    /** the URL calls go to: the catalog's, or the one discovery found for the major version */
    base: string;
    /** the microversions the cloud serves, when it says (undefined: discovery failed, the catalog URL is used as is) */
    min?: string;
    max?: string;
}

/** The cloud serves no microversion a call or feature needs: names both versions. */
export class ApiVersionError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ApiVersionError";
    }
}

/** Microversion header names per service. */
const MICROVERSION_SERVICE: Partial<Record<ServiceType, string>> = { compute: "compute", volume: "volume" };

export interface RequestOptions<T> {
    /** what this call does, for messages: "create volume clone" */
    what: string;
    method?: "GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD";
    /** path below the service endpoint, e.g. "/servers/detail" */
    path: string;
    query?: Record<string, string | number | boolean | undefined>;
    body?: unknown;
    /** raw body (e.g. a Glance image upload stream), sent as application/octet-stream */
    stream?: NodeJS.ReadableStream;
    headers?: Record<string, string>;
    /** the newest microversion this call is written for: sent as is, or lowered to the cloud's newest */
    microversion?: string;
    /** the oldest microversion this call works with (a feature of that version): refused below it */
    requires?: { microversion: string; feature: string };
    schema?: z.ZodType<T>;
    /** POSTs are not retried after a connection error or 5xx unless the call is known to be idempotent */
    idempotent?: boolean;
    /** retry 409 Conflict (a resource busy in another task: "instance is in task_state ...") */
    retryConflict?: boolean;
}

export interface Response<T> {
    status: number;
    data: T;
    requestId?: string;
    headers: http.IncomingHttpHeaders;
}

export interface SessionLogger {
    (message: string): void;
}

const tokenResponse = z.object({
    token: z.object({
        expires_at: z.string(),
        project: z.object({ id: z.string(), name: z.string().optional() }).optional(),
        user: z.object({ id: z.string(), name: z.string().optional() }),
        roles: z.array(z.object({ name: z.string() })).optional(),
        catalog: z
            .array(
                z.object({
                    type: z.string(),
                    name: z.string().optional(),
                    endpoints: z.array(
                        z.object({ interface: z.string(), region: z.string().nullish(), region_id: z.string().nullish(), url: z.string() }),
                    ),
                }),
            )
            .default([]),
    }),
});
type Token = z.infer<typeof tokenResponse>["token"];

const RETRY_STATUSES = new Set([500, 502, 503, 504]);
const MAX_ATTEMPTS = 6;

export class Session {
    private token = "";
    private tokenInfo?: Token;
    private readonly agent: http.Agent;

    private constructor(
        readonly auth: AuthOptions,
        private readonly log: SessionLogger,
    ) {
        const ca = auth.caFile ? fs.readFileSync(auth.caFile) : undefined;
        this.agent = auth.authUrl.startsWith("https:")
            ? new https.Agent({ keepAlive: true, ca, rejectUnauthorized: !auth.insecure })
            : new http.Agent({ keepAlive: true });
    }

    /** Authenticate and return a session; throws AuthConfigError/ApiError naming the auth URL. */
    static async connect(auth: AuthOptions, log: SessionLogger = () => undefined): Promise<Session> {
        const s = new Session(auth, log);
        await s.authenticate();
        return s;
    }

    get projectId(): string {
        return this.tokenInfo?.project?.id ?? "";
    }
    get userId(): string {
        return this.tokenInfo?.user.id ?? "";
    }
    get roles(): string[] {
        return (this.tokenInfo?.roles ?? []).map((r) => r.name);
    }
    get isAdmin(): boolean {
        return this.roles.includes("admin");
    }

    private authBody(): unknown {
        const a = this.auth;
        const domain = (name?: string, id?: string) => (id ? { id } : { name: name ?? "Default" });
        const scope = a.projectId
            ? { project: { id: a.projectId } }
            : a.projectName
              ? { project: { name: a.projectName, domain: domain(a.projectDomainName, a.projectDomainId) } }
              : undefined;
        if (a.method === "applicationCredential") {
            const cred = a.applicationCredentialId
                ? { id: a.applicationCredentialId, secret: a.applicationCredentialSecret }
                : {
                      name: a.applicationCredentialName,
                      secret: a.applicationCredentialSecret,
                      user: a.userId ? { id: a.userId } : { name: a.username, domain: domain(a.userDomainName, a.userDomainId) },
                  };
            // application credentials carry their own scope
            return { auth: { identity: { methods: ["application_credential"], application_credential: cred } } };
        }
        if (a.method === "token") {
            return { auth: { identity: { methods: ["token"], token: { id: a.token } }, ...(scope ? { scope } : {}) } };
        }
        const user = a.userId
            ? { id: a.userId, password: a.password }
            : { name: a.username, password: a.password, domain: domain(a.userDomainName, a.userDomainId) };
        return { auth: { identity: { methods: ["password"], password: { user } }, ...(scope ? { scope } : {}) } };
    }

    private async authenticate(): Promise<void> {
        const url = `${this.auth.authUrl.replace(/\/v3$/, "")}/v3/auth/tokens`;
        let res: RawResponse;
        try {
            res = await this.send("POST", url, { "Content-Type": "application/json" }, JSON.stringify(this.authBody()));
        } catch (e) {
            throw new AuthConfigError(`cannot reach Keystone at ${url} (${this.auth.source}): ${(e as Error).message}`);
        }
        if (res.status !== 201) {
            throw new ApiError(
                "identity",
                "POST",
                url,
                res.status,
                requestIdOf(res.headers),
                `authentication failed (${this.auth.source}): ${errorDetail(res.body)}`,
            );
        }
        const parsed = tokenResponse.safeParse(parseJson(res.body));
        if (!parsed.success) throw new ResponseShapeError("Keystone token", z.prettifyError(parsed.error), requestIdOf(res.headers));
        const subject = res.headers["x-subject-token"];
        this.token = Array.isArray(subject) ? subject[0] : (subject ?? "");
        this.tokenInfo = parsed.data.token;
        this.log(`authenticated to ${this.auth.authUrl} as user ${this.userId} in project ${this.projectId} (${this.auth.source})`);
    }

    /** The endpoint of a service for our region and interface, from the token's catalog: every entry
     *  of each type is searched (a cloud may register one service per region, each its own entry). */
    endpoint(service: ServiceType): string {
        const override = service === "identity" ? undefined : this.auth.endpointOverrides?.[service];
        if (override) return normaliseEndpoint(service, override.replace(/\/+$/, ""));
        const catalog = this.tokenInfo?.catalog ?? [];
        for (const type of CATALOG_TYPES[service]) {
            const ep = catalog
                .filter((c) => c.type === type)
                .flatMap((c) => c.endpoints)
                .find(
                    (e) =>
                        e.interface === this.auth.interface &&
                        (!this.auth.region || e.region_id === this.auth.region || e.region === this.auth.region),
                );
            if (ep) return normaliseEndpoint(service, ep.url.replace(/\/+$/, ""));
        }
        const regions = [...new Set(catalog.flatMap((c) => c.endpoints.map((e) => e.region_id ?? e.region ?? "")))].join(", ");
        throw new AuthConfigError(
            `the service catalog has no ${this.auth.interface} ${service} endpoint${this.auth.region ? ` in region ${this.auth.region}` : ""} (regions in the catalog: ${regions || "none"}); check region and interface`,
        );
    }

    private readonly versions = new Map<ServiceType, Promise<ApiVersion>>();

    /**
     * Where a service's API is and which microversions it serves, found once per session the way
     * keystoneauth does (keystoneauth1/discover.py, get_version_data and the URL choices of
     * EndpointData._run_discovery): the catalog URL's version document, else the same URL without
     * the project id, else the unversioned root's list. Cinder answers 404 at `/v3/<project>` and
     * its document at `/v3/`; an unversioned or v2 catalog entry finds v3 at the root.
     */
    api(service: ServiceType): Promise<ApiVersion> {
        let v = this.versions.get(service);
        if (!v) {
            v = this.discover(service);
            this.versions.set(service, v);
            v.catch(() => this.versions.delete(service));
        }
        return v;
    }

    private async discover(service: ServiceType): Promise<ApiVersion> {
        const catalogUrl = this.endpoint(service);
        const major = API_MAJOR[service];
        if (!major) return { base: catalogUrl }; // network, image: no microversions; modules add their version prefix
        const u = new URL(catalogUrl);
        const segments = u.pathname.split("/").filter(Boolean);
        const at = segments.findIndex((p) => /^v\d+(\.\d+)?$/.test(p));
        const root = `${u.origin}/${(at < 0 ? segments : segments.slice(0, at)).join("/")}`.replace(/\/+$/, "");
        const project = this.projectId && segments.at(-1) === this.projectId ? this.projectId : undefined;
        const choices = [catalogUrl, ...(project ? [catalogUrl.slice(0, -(project.length + 1)) + "/"] : []), `${root}/`].filter(
            (c, i, all) => all.indexOf(c) === i,
        );
        const tried: string[] = [];
        for (const url of choices) {
            let entries: z.infer<typeof VersionEntry>[];
            try {
                const res = await this.send("GET", url, { Accept: "application/json", "X-Auth-Token": this.token });
                const doc = VersionDocument.safeParse(parseJson(res.body));
                if (!(res.status < 400 || res.status === 300) || !doc.success) {
                    tried.push(`${url}: HTTP ${res.status}${doc.success ? "" : ", no version document"}`);
                    continue;
                }
                entries = doc.data;
            } catch (e) {
                tried.push(`${url}: ${(e as Error).message}`);
                continue;
            }
            const entry = entries.find((e) => major.id.test(e.id));
            if (!entry) {
                throw new ApiVersionError(
                    `the ${service} endpoint ${catalogUrl} serves ${entries.map((e) => e.id).join(", ") || "no version"}, and this client needs ${major.name}`,
                );
            }
            // The catalog URL when it already names this version (it keeps the project id); else the
            // version's own path under the catalog's root, never the document's host (often internal).
            const named = at >= 0 && segments[at]!.replace(/\.0$/, "") === major.segment;
            const self = entry.links.find((l) => l.rel === "self")?.href;
            const segment = self ? (new URL(self, url).pathname.split("/").filter(Boolean).at(-1) ?? major.segment) : major.segment;
            const base = named ? catalogUrl : `${root}/${segment}${service === "volume" && this.projectId ? `/${this.projectId}` : ""}`;
            const found: ApiVersion = { base, min: entry.min_version || undefined, max: entry.version || undefined };
            this.log(`${service} API: ${base}, microversions ${found.min ?? "?"} to ${found.max ?? "?"} (from ${url})`);
            return found;
        }
        // a cloud that hides its version documents: the catalog URL as it is, microversions as the calls ask
        this.log(`${service} API: no version document (${tried.join("; ")}); using ${catalogUrl} as listed`);
        return { base: catalogUrl };
    }

    /** Whether the cloud serves this microversion of a service (an unknown range counts as served). */
    async supports(service: ServiceType, microversion: string): Promise<boolean> {
        const v = await this.api(service);
        return !v.max || compareMicroversions(v.max, microversion) >= 0;
    }

    /** The microversion a call sends: the newest it is written for that the cloud serves. */
    private async negotiate(service: ServiceType, o: RequestOptions<unknown>): Promise<{ base: string; microversion?: string }> {
        const v = await this.api(service);
        if (!o.microversion || !MICROVERSION_SERVICE[service]) return { base: v.base };
        const served = v.max ?? o.microversion;
        if (o.requires && compareMicroversions(served, o.requires.microversion) < 0) {
            throw new ApiVersionError(
                `${o.what}: ${o.requires.feature} needs ${service} API microversion ${o.requires.microversion}; this cloud serves ${v.min ?? "?"} to ${served}`,
            );
        }
        const microversion = lowest(o.microversion, served);
        if (v.min && compareMicroversions(microversion, v.min) < 0) {
            throw new ApiVersionError(
                `${o.what}: this cloud's ${service} API starts at microversion ${v.min}, newer than the ${o.microversion} this client is written for`,
            );
        }
        return { base: v.base, microversion };
    }

    /** One API call: JSON in, zod-validated JSON out, retries where safe, request id in every error. */
    async request<T = unknown>(service: ServiceType, o: RequestOptions<T>): Promise<Response<T>> {
        const method = o.method ?? "GET";
        const { base, microversion } = await this.negotiate(service, o as RequestOptions<unknown>);
        const url = base + o.path + queryString(o.query);
        const idempotent = o.idempotent ?? method !== "POST";
        let reauthed = false;
        for (let attempt = 1; ; attempt++) {
            const headers: Record<string, string> = { Accept: "application/json", "X-Auth-Token": this.token, ...o.headers };
            const mv = MICROVERSION_SERVICE[service];
            if (microversion && mv) {
                headers["OpenStack-API-Version"] = `${mv} ${microversion}`;
                if (service === "compute") headers["X-OpenStack-Nova-API-Version"] = microversion;
            }
            let body: string | NodeJS.ReadableStream | undefined;
            // a caller's media type stands (Glance's JSON-patch type for an image update)
            if (o.stream) {
                headers["Content-Type"] ??= "application/octet-stream";
                body = o.stream;
            } else if (o.body !== undefined) {
                headers["Content-Type"] ??= "application/json";
                body = JSON.stringify(o.body);
            }
            let res: RawResponse;
            try {
                res = await this.send(method, url, headers, body);
            } catch (e) {
                // a request that may have reached the service is only repeated when repeating is harmless
                if (idempotent && !o.stream && attempt < MAX_ATTEMPTS) {
                    await this.backoff(attempt, undefined, `${o.what}: ${(e as Error).message}`);
                    continue;
                }
                throw new ApiError(service, method, url, 0, undefined, `${o.what}: ${(e as Error).message}`);
            }
            const requestId = requestIdOf(res.headers);
            // (a stream is consumed: an upload that met an expired token fails, for its caller to start again)
            if (res.status === 401 && !reauthed && this.auth.method !== "token" && !o.stream) {
                reauthed = true; // token expired mid-run: get a new one once
                await this.authenticate();
                attempt--;
                continue;
            }
            const retryable =
                !o.stream &&
                attempt < MAX_ATTEMPTS &&
                (res.status === 429 ||
                    res.status === 503 ||
                    (RETRY_STATUSES.has(res.status) && idempotent) ||
                    (res.status === 409 && o.retryConflict === true));
            if (retryable) {
                await this.backoff(attempt, retryAfter(res.headers), `${o.what}: HTTP ${res.status} ${errorDetail(res.body)}`);
                continue;
            }
            if (res.status >= 400) {
                const Err = res.status === 404 ? NotFoundError : res.status === 409 ? ConflictError : ApiError;
                throw new Err(service, method, url, res.status, requestId, `${o.what}: ${errorDetail(res.body)}`);
            }
            let data: unknown = res.body.length ? parseJson(res.body) : undefined;
            if (o.schema) {
                const parsed = o.schema.safeParse(data);
                if (!parsed.success) throw new ResponseShapeError(o.what, z.prettifyError(parsed.error), requestId);
                data = parsed.data;
            }
            return { status: res.status, data: data as T, requestId, headers: res.headers };
        }
    }

    /**
     * All items of a paginated list, following `<key>_links` rel=next (Nova, Cinder, Neutron) or
     * `next` (Glance). The item schema validates each element.
     */
    async list<T>(
        service: ServiceType,
        o: { what: string; path: string; key: string; item: z.ZodType<T>; query?: RequestOptions<T>["query"]; microversion?: string },
    ): Promise<T[]> {
        const page = z.object({ [o.key]: z.array(o.item) }).passthrough();
        const out: T[] = [];
        const path = o.path;
        let query = o.query;
        for (let pages = 0; pages < 1000; pages++) {
            const res: Response<Record<string, unknown>> = await this.request(service, {
                what: o.what,
                path,
                query,
                microversion: o.microversion,
                schema: page,
            });
            out.push(...(res.data[o.key] as T[]));
            const next = nextLink(res.data, o.key);
            if (!next) break;
            // the same path, the link's query (marker, limit): a next link names the host and prefix the
            // service thinks it has (its own, or a proxy's), which need not be the catalog's
            query = Object.fromEntries(new URL(next, "http://next.invalid/").searchParams.entries());
        }
        return out;
    }

    private async backoff(attempt: number, retryAfterS: number | undefined, why: string): Promise<void> {
        const ms = retryAfterS !== undefined ? retryAfterS * 1000 : Math.min(8000, 250 * 2 ** (attempt - 1)) * (0.75 + Math.random() / 2);
        this.log(`retrying in ${(ms / 1000).toFixed(1)}s (attempt ${attempt + 1}/${MAX_ATTEMPTS}): ${why}`);
        await new Promise((r) => setTimeout(r, ms));
    }

    private send(
        method: string,
        url: string,
        headers: Record<string, string>,
        body?: string | NodeJS.ReadableStream,
    ): Promise<RawResponse> {
        return new Promise((resolve, reject) => {
            const u = new URL(url);
            const lib = u.protocol === "https:" ? https : http;
            const agent = u.protocol === this.agentProtocol() ? this.agent : undefined;
            const req = lib.request(u, { method, headers, agent, timeout: 120_000 }, (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
                res.on("error", reject);
            });
            req.on("timeout", () => req.destroy(new Error(`no answer in 120s from ${u.host}`)));
            req.on("error", reject);
            if (body === undefined) req.end();
            else if (typeof body === "string") req.end(body);
            else {
                body.on("error", (e) => req.destroy(e));
                body.pipe(req);
            }
        });
    }

    private agentProtocol(): string {
        return this.agent instanceof https.Agent ? "https:" : "http:";
    }

    /** Close keep-alive sockets so a provider process can exit promptly. */
    close(): void {
        this.agent.destroy();
    }
}

interface RawResponse {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: Buffer;
}

function normaliseEndpoint(service: ServiceType, url: string): string {
    // Service modules add the version prefix themselves for these two unversioned catalog entries.
    if (service === "network") return url.replace(/\/v2\.0$/, "");
    if (service === "image") return url.replace(/\/v2$/, "");
    return url;
}

function queryString(q: RequestOptions<unknown>["query"]): string {
    if (!q) return "";
    const parts = Object.entries(q)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
    return parts.length ? `?${parts.join("&")}` : "";
}

function requestIdOf(h: http.IncomingHttpHeaders): string | undefined {
    const v = h["x-openstack-request-id"] ?? h["x-compute-request-id"] ?? h["openstack-request-id"];
    return Array.isArray(v) ? v[0] : v;
}

function retryAfter(h: http.IncomingHttpHeaders): number | undefined {
    const v = h["retry-after"];
    if (!v) return undefined;
    const n = Number(v);
    if (Number.isFinite(n)) return Math.min(n, 60);
    const t = Date.parse(v);
    return Number.isFinite(t) ? Math.max(0, Math.min(60, (t - Date.now()) / 1000)) : undefined;
}

function parseJson(b: Buffer): unknown {
    try {
        return JSON.parse(b.toString("utf8"));
    } catch {
        return b.toString("utf8");
    }
}

/** The human part of an OpenStack error body, whatever the service's envelope. */
function errorDetail(b: Buffer): string {
    const v = parseJson(b);
    if (typeof v === "string")
        return v
            .replace(/<[^>]+>/g, " ")
            .replace(/\s+/g, " ")
            .trim()
            .slice(0, 500);
    if (v && typeof v === "object") {
        for (const inner of Object.values(v as Record<string, unknown>)) {
            if (inner && typeof inner === "object") {
                const o = inner as Record<string, unknown>;
                const m = o.message ?? o.detail ?? o.title;
                if (typeof m === "string") return m;
            }
            if (typeof inner === "string") return inner;
        }
    }
    return JSON.stringify(v).slice(0, 500);
}

function nextLink(data: Record<string, unknown>, key: string): string | undefined {
    const links = data[`${key}_links`];
    if (Array.isArray(links)) {
        const next = links.find(
            (l): l is { rel: string; href: string } => !!l && typeof l === "object" && (l as { rel?: unknown }).rel === "next",
        );
        if (next && typeof next.href === "string") return next.href;
    }
    return typeof data.next === "string" ? data.next : undefined;
}
