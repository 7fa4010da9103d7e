// The real `openstack` CLI (Debian's python3-openstackclient) against the lab, for tests. It is an
// independent oracle: deliberately not the product's REST client, so a bug there cannot hide
// itself in the checks. Each call costs ~1.5 s of CLI start-up; use it for checks, not loops.
import { execFileSync } from "child_process";
import type { z } from "zod";
import { CLOUDS_YAML } from "./lab";

export type LabCloud = "lab-admin" | "lab-member";

export interface OscOptions {
    /** Default: the ordinary user (lab-member, project incidents). */
    cloud?: LabCloud;
    /** e.g. { compute: "2.87" } -> --os-compute-api-version 2.87 */
    apiVersions?: Partial<Record<"compute" | "volume" | "image" | "network", string>>;
    timeoutMs?: number;
}

export class OscError extends Error {
    constructor(
        readonly args: string[],
        readonly status: number | null,
        readonly stderr: string,
    ) {
        super(`openstack ${args.join(" ")} failed (exit ${status}): ${stderr.trim().split("\n").slice(-3).join(" | ")}`);
    }
}

function run(args: string[], opts: OscOptions = {}): string {
    const versions = Object.entries(opts.apiVersions ?? {}).flatMap(([api, v]) => [`--os-${api}-api-version`, String(v)]);
    const full = ["--os-cloud", opts.cloud ?? "lab-member", ...versions, ...args];
    try {
        return execFileSync("openstack", full, {
            encoding: "utf8",
            timeout: opts.timeoutMs ?? 180_000,
            stdio: ["ignore", "pipe", "pipe"],
            env: { ...process.env, OS_CLIENT_CONFIG_FILE: CLOUDS_YAML, PYTHONWARNINGS: "ignore" },
        });
    } catch (e) {
        const err = e as { status?: number | null; stderr?: string | Buffer };
        throw new OscError(full, err.status ?? null, String(err.stderr ?? ""));
    }
}

/** `openstack ARGS -f json`, parsed and validated with `schema`. */
export function osc<S extends z.ZodType>(args: string[], schema: S, opts?: OscOptions): z.infer<S> {
    return schema.parse(JSON.parse(run([...args, "-f", "json"], opts))) as z.infer<S>;
}

/** `openstack ARGS` for commands without JSON output (add/remove/set/delete); returns stdout. */
export function oscRun(args: string[], opts?: OscOptions): string {
    return run(args, opts);
}

/** Whether `openstack KIND show ID` finds it: false only when the CLI says it is not found, any other failure throws. */
export function oscExists(kind: "volume" | "port" | "server", id: string, opts?: OscOptions): boolean {
    try {
        run([kind, "show", id], opts);
        return true;
    } catch (e) {
        if (e instanceof OscError && /No (volume|port|server)|could not be found|not found/i.test(e.stderr)) return false;
        throw e;
    }
}
