// The public API reference samples (samples/, their sources in samples/SOURCES.md) and a FakeCloud
// that answers the client's calls with them, so each sample goes through the client's own calls.
import * as fs from "fs";
import * as path from "path";
import type { Session } from "../../clients/openstack/session";
import { fakeCloudSession, type FakeCloud } from "../support/fakeCloud";

export type JsonObject = { [key: string]: unknown };

const SAMPLES = path.join(__dirname, "samples");

/** A sample as stored, e.g. sample("nova/servers/v2.47/server-get-resp.json"). */
export function sample(rel: string): JsonObject {
    return JSON.parse(fs.readFileSync(path.join(SAMPLES, rel), "utf8")) as JsonObject;
}

/** The object under `key` of a sample ("server" of a show response). */
export function itemOf(rel: string, key: string): JsonObject {
    return sample(rel)[key] as JsonObject;
}

/** The list under `key` of a sample ("servers" of a list response). */
export function itemsOf(rel: string, key: string): JsonObject[] {
    return sample(rel)[key] as JsonObject[];
}

/**
 * Answers by method and path ("GET /compute/v2.1/servers/detail"; the query is the handler's to
 * read), or by the end of the path ("GET *\/servers/detail": a sample's next link names its own
 * host and prefix); anything else is a 404.
 */
export type Answers = Record<string, JsonObject | ((url: URL) => JsonObject)>;

/** A FakeCloud (Keystone, Zed-like version documents) and a session on it; `answer` sets the routes. */
/** A FakeCloud answering with samples, and a session on it, for one test file: started before its
 *  tests, closed after, its record of calls cleared before each. */
export function sampleCloud(): { cloud: FakeCloud; session: () => Session; answer: (a: Answers) => void } {
    const { cloud, session } = fakeCloudSession();
    beforeEach(() => (cloud.seen.length = 0));
    const answer = (a: Answers) => {
        cloud.routes = (req) => {
            const url = new URL(req.url!, cloud.url);
            const found =
                a[`${req.method} ${url.pathname}`] ??
                Object.entries(a).find(
                    ([k]) => k.startsWith(`${req.method} *`) && url.pathname.endsWith(k.slice(req.method!.length + 2)),
                )?.[1];
            if (found === undefined)
                return { status: 404, body: { itemNotFound: { code: 404, message: `no sample for ${req.method} ${url.pathname}` } } };
            return { status: req.method === "POST" ? 202 : 200, body: typeof found === "function" ? found(url) : found };
        };
    };
    return { cloud, session, answer };
}

/** The paths the client calls on the FakeCloud's default catalog (after version discovery). */
export const COMPUTE = "/compute/v2.1";
export const VOLUME = "/volume/v3/p1";
export const NETWORK = "/network/v2.0";
