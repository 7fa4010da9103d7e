// The OpenStack client the providers and the stack program share. One authenticated session per
// process and credential source: a provider method runs many calls, and Keystone tokens are reused.
import { resolveAuth, type ConfigLookup } from "./credentials";
import { Session, type SessionLogger } from "./session";

export * as compute from "./compute";
export * as blockStorage from "./blockStorage";
export * as network from "./network";
export * as image from "./image";
export * from "./errors";
export { resolveAuth, type ConfigLookup, type AuthOptions } from "./credentials";
export { ApiVersionError, compareMicroversions, Session, type ApiVersion, type ServiceType } from "./session";
export { waitFor } from "./wait";

const sessions = new Map<string, Promise<Session>>();

/** An authenticated session for these credentials (cached per process). */
export function connect(config: ConfigLookup = () => undefined, log: SessionLogger = () => undefined): Promise<Session> {
    const auth = resolveAuth(config);
    // the cache key must tell credentials apart without keeping a secret in a readable key
    const key = JSON.stringify([
        auth.authUrl,
        auth.source,
        auth.username,
        auth.userId,
        auth.projectName,
        auth.projectId,
        auth.region,
        auth.interface,
        auth.applicationCredentialId,
    ]);
    let s = sessions.get(key);
    if (!s) {
        s = Session.connect(auth, log);
        sessions.set(key, s);
        s.catch(() => sessions.delete(key));
    }
    return s;
}
