// Where the OpenStack credentials come from, the OpenStack way. In order:
//   1. stack config under the `openstack:` namespace, the same keys @pulumi/openstack reads
//      (openstack:cloud, openstack:authUrl, openstack:userName, openstack:password (secret), ...);
//      `openstack:cloud` picks a clouds.yaml entry and the other keys override it;
//   2. OS_CLOUD + clouds.yaml (+ secure.yaml), searched where openstacksdk searches;
//   3. OS_* variables (an openrc).
// Nothing here is ever logged or returned in outputs: `describeSource` names the source only.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { z } from "zod";
import { fromProjectRoot, projectRoot } from "../projectRoot";
import { AuthConfigError } from "./errors";

export type Interface = "public" | "internal" | "admin";

export interface AuthOptions {
    authUrl: string;
    method: "password" | "applicationCredential" | "token";
    username?: string;
    userId?: string;
    password?: string;
    userDomainName?: string;
    userDomainId?: string;
    projectName?: string;
    projectId?: string;
    projectDomainName?: string;
    projectDomainId?: string;
    applicationCredentialId?: string;
    applicationCredentialName?: string;
    applicationCredentialSecret?: string;
    token?: string;
    region?: string;
    interface: Interface;
    caFile?: string;
    insecure: boolean;
    /** clouds.yaml `<service>_endpoint_override`: a URL used instead of the catalog's (a catalog whose URLs this
     *  host cannot reach, a proxy in front of one service); keys: compute, volume, network, image */
    endpointOverrides?: Partial<Record<OverridableService, string>>;
    /** where these came from, e.g. `clouds.yaml cloud "prod" (/etc/openstack/clouds.yaml)`; no secrets */
    source: string;
}

export type OverridableService = "compute" | "volume" | "network" | "image";
/** openstacksdk's clouds.yaml keys (`<service_type>_endpoint_override`, block-storage under either name) */
const OVERRIDE_KEYS: Record<string, OverridableService> = {
    compute_endpoint_override: "compute",
    block_storage_endpoint_override: "volume",
    volumev3_endpoint_override: "volume",
    network_endpoint_override: "network",
    image_endpoint_override: "image",
};

/** Reads a fully qualified config key such as "openstack:password"; undefined when unset. */
export type ConfigLookup = (key: string) => string | undefined;

const str = z.string().min(1).optional();
const cloudEntry = z
    .object({
        auth_type: z.string().optional(),
        auth: z
            .object({
                auth_url: str,
                username: str,
                user_id: str,
                password: str,
                project_name: str,
                project_id: str,
                tenant_name: str,
                tenant_id: str,
                user_domain_name: str,
                user_domain_id: str,
                project_domain_name: str,
                project_domain_id: str,
                domain_name: str,
                domain_id: str,
                application_credential_id: str,
                application_credential_name: str,
                application_credential_secret: str,
                token: str,
            })
            .partial()
            .default({}),
        region_name: str,
        interface: z.enum(["public", "internal", "admin"]).optional(),
        cacert: str,
        verify: z.boolean().optional(),
        insecure: z.boolean().optional(),
        ...Object.fromEntries(Object.keys(OVERRIDE_KEYS).map((k) => [k, z.url().optional()])),
    })
    .passthrough();
type CloudEntry = z.infer<typeof cloudEntry>;
const cloudsFile = z.object({ clouds: z.record(z.string(), cloudEntry) }).passthrough();

/** openstacksdk's search order for clouds.yaml and secure.yaml, the project root (the directory of
 *  Pulumi.yaml) standing for its current directory: the CLI runs us in stacks/. */
function configDirs(env: NodeJS.ProcessEnv): string[] {
    return [projectRoot(), path.join(env.HOME ?? os.homedir(), ".config", "openstack"), "/etc/openstack"];
}

function readYaml(file: string): unknown {
    // js-yaml is @pulumi/pulumi's own YAML parser; required lazily so this module stays light.
    const yaml: typeof import("js-yaml") = require("js-yaml");
    return yaml.load(fs.readFileSync(file, "utf8"));
}

function findFile(name: string, explicit: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
    if (explicit) return fs.existsSync(fromProjectRoot(explicit)) ? fromProjectRoot(explicit) : undefined;
    return configDirs(env)
        .map((d) => path.join(d, name))
        .find((f) => fs.existsSync(f));
}

function loadCloud(cloud: string, env: NodeJS.ProcessEnv): { entry: CloudEntry; file: string } {
    const file = findFile("clouds.yaml", env.OS_CLIENT_CONFIG_FILE, env);
    if (!file) {
        throw new AuthConfigError(
            `cloud "${cloud}" was asked for but no clouds.yaml was found (looked at ${
                env.OS_CLIENT_CONFIG_FILE ??
                configDirs(env)
                    .map((d) => path.join(d, "clouds.yaml"))
                    .join(", ")
            }); ` + `set OS_CLIENT_CONFIG_FILE or put clouds.yaml in one of those places`,
        );
    }
    const parsed = cloudsFile.safeParse(readYaml(file));
    if (!parsed.success) throw new AuthConfigError(`${file} is not a valid clouds.yaml: ${z.prettifyError(parsed.error)}`);
    const entry = parsed.data.clouds[cloud];
    if (!entry) {
        throw new AuthConfigError(`${file} has no cloud "${cloud}" (it has: ${Object.keys(parsed.data.clouds).join(", ") || "none"})`);
    }
    // secure.yaml holds the secrets of the same clouds; its values win, as in openstacksdk.
    const secureFile = findFile("secure.yaml", env.OS_CLIENT_SECURE_FILE, env);
    if (secureFile) {
        const secure = cloudsFile.safeParse(readYaml(secureFile));
        const extra = secure.success ? secure.data.clouds[cloud] : undefined;
        if (extra) return { entry: { ...entry, ...extra, auth: { ...entry.auth, ...extra.auth } }, file: `${file} + ${secureFile}` };
    }
    return { entry, file };
}

function fromCloudEntry(e: CloudEntry): Partial<AuthOptions> {
    const a = e.auth;
    return {
        authUrl: a.auth_url,
        username: a.username,
        userId: a.user_id,
        password: a.password,
        projectName: a.project_name ?? a.tenant_name,
        projectId: a.project_id ?? a.tenant_id,
        userDomainName: a.user_domain_name ?? a.domain_name,
        userDomainId: a.user_domain_id ?? a.domain_id,
        projectDomainName: a.project_domain_name ?? a.domain_name,
        projectDomainId: a.project_domain_id ?? a.domain_id,
        applicationCredentialId: a.application_credential_id,
        applicationCredentialName: a.application_credential_name,
        applicationCredentialSecret: a.application_credential_secret,
        token: a.token,
        region: e.region_name,
        interface: e.interface,
        caFile: e.cacert,
        insecure: e.insecure ?? (e.verify === false ? true : undefined),
        method: methodOf(e.auth_type),
        endpointOverrides: endpointOverridesOf(e),
    };
}

function endpointOverridesOf(e: CloudEntry): AuthOptions["endpointOverrides"] {
    const found = Object.entries(OVERRIDE_KEYS).flatMap(([k, service]) => (typeof e[k] === "string" ? [[service, e[k]] as const] : []));
    return found.length ? Object.fromEntries(found) : undefined;
}

function methodOf(authType: string | undefined): AuthOptions["method"] | undefined {
    if (!authType) return undefined;
    if (/application.?credential/.test(authType)) return "applicationCredential";
    if (/token/.test(authType)) return "token";
    return "password";
}

type TextField = Exclude<keyof AuthOptions, "method" | "interface" | "insecure" | "source" | "endpointOverrides">;

/** Each text field and where it is read from: OS_* variables, then `openstack:` stack config keys (first set wins). */
const SOURCES: [TextField, string[], string[]][] = [
    ["authUrl", ["OS_AUTH_URL"], ["authUrl"]],
    ["username", ["OS_USERNAME"], ["userName"]],
    ["userId", ["OS_USER_ID"], ["userId"]],
    ["password", ["OS_PASSWORD"], ["password"]],
    ["projectName", ["OS_PROJECT_NAME", "OS_TENANT_NAME"], ["tenantName", "projectName"]],
    ["projectId", ["OS_PROJECT_ID", "OS_TENANT_ID"], ["tenantId", "projectId"]],
    ["userDomainName", ["OS_USER_DOMAIN_NAME", "OS_DEFAULT_DOMAIN"], ["userDomainName", "domainName", "defaultDomain"]],
    ["userDomainId", ["OS_USER_DOMAIN_ID"], ["userDomainId", "domainId"]],
    ["projectDomainName", ["OS_PROJECT_DOMAIN_NAME", "OS_DEFAULT_DOMAIN"], ["projectDomainName", "domainName", "defaultDomain"]],
    ["projectDomainId", ["OS_PROJECT_DOMAIN_ID"], ["projectDomainId", "domainId"]],
    ["applicationCredentialId", ["OS_APPLICATION_CREDENTIAL_ID"], ["applicationCredentialId"]],
    ["applicationCredentialName", ["OS_APPLICATION_CREDENTIAL_NAME"], ["applicationCredentialName"]],
    ["applicationCredentialSecret", ["OS_APPLICATION_CREDENTIAL_SECRET"], ["applicationCredentialSecret"]],
    ["token", ["OS_TOKEN"], ["token"]],
    ["region", ["OS_REGION_NAME"], ["region"]],
    ["caFile", ["OS_CACERT"], ["cacertFile"]],
];

/** Read the text fields through `get` (column 1: OS_* names, column 2: stack config keys). */
function readFields(get: (key: string) => string | undefined, column: 1 | 2): Partial<AuthOptions> {
    const out: Partial<AuthOptions> = {};
    for (const row of SOURCES) {
        const v = row[column].map(get).find((x) => x !== undefined && x !== "");
        if (v !== undefined) out[row[0]] = v;
    }
    return out;
}

function fromEnv(env: NodeJS.ProcessEnv): Partial<AuthOptions> {
    const insecure = env.OS_INSECURE;
    return {
        ...readFields((k) => env[k], 1),
        interface: parseInterface(env.OS_INTERFACE || env.OS_ENDPOINT_TYPE || undefined, "OS_INTERFACE"),
        insecure: insecure ? /^(1|true|yes)$/i.test(insecure) : undefined,
        method: methodOf(env.OS_AUTH_TYPE),
    };
}

function fromStackConfig(get: ConfigLookup): Partial<AuthOptions> {
    const g = (k: string) => get(`openstack:${k}`);
    return {
        ...readFields(g, 2),
        interface: parseInterface(g("endpointType"), "openstack:endpointType"),
        insecure: g("insecure") !== undefined ? g("insecure") === "true" : undefined,
    };
}

function parseInterface(v: string | undefined, where: string): Interface | undefined {
    if (v === undefined) return undefined;
    const norm = v.replace(/URL$/i, "").toLowerCase();
    if (norm === "public" || norm === "internal" || norm === "admin") return norm;
    throw new AuthConfigError(`${where}="${v}" is not an endpoint interface: use public, internal or admin`);
}

/** Overlay b on a, ignoring b's undefined fields. */
function merge(a: Partial<AuthOptions>, b: Partial<AuthOptions>): Partial<AuthOptions> {
    const out: Partial<AuthOptions> = { ...a };
    for (const [k, v] of Object.entries(b) as [keyof AuthOptions, AuthOptions[keyof AuthOptions]][]) {
        if (v !== undefined) (out as Record<string, unknown>)[k] = v;
    }
    return out;
}

/** Resolve credentials from stack config, OS_CLOUD/clouds.yaml or OS_* variables, or say what is missing. */
export function resolveAuth(config: ConfigLookup = () => undefined, env: NodeJS.ProcessEnv = process.env): AuthOptions {
    const stack = fromStackConfig(config);
    const cloud = config("openstack:cloud") ?? (stack.authUrl ? undefined : env.OS_CLOUD);
    let partial: Partial<AuthOptions>;
    let source: string;
    if (cloud) {
        const { entry, file } = loadCloud(cloud, env);
        partial = merge(fromCloudEntry(entry), stack);
        source = `clouds.yaml cloud "${cloud}" (${file})${config("openstack:cloud") ? " chosen by stack config openstack:cloud" : " chosen by OS_CLOUD"}`;
    } else if (stack.authUrl) {
        partial = stack;
        source = "stack config openstack:*";
    } else if (env.OS_AUTH_URL) {
        partial = fromEnv(env);
        source = "OS_* environment variables";
    } else {
        throw new AuthConfigError(
            "no OpenStack credentials: set OS_CLOUD (with a clouds.yaml), source an openrc (OS_AUTH_URL, OS_USERNAME, ...), " +
                "or set stack config `pulumi config set openstack:cloud <name>` / `openstack:authUrl` + `pulumi config set --secret openstack:password ...`",
        );
    }
    return complete(partial, source);
}

function complete(p: Partial<AuthOptions>, source: string): AuthOptions {
    const missing = (what: string) => new AuthConfigError(`${source}: ${what}`);
    if (!p.authUrl) throw missing("no auth URL (auth_url / OS_AUTH_URL / openstack:authUrl)");
    const method: AuthOptions["method"] =
        p.method ?? (p.applicationCredentialSecret ? "applicationCredential" : p.token && !p.password ? "token" : "password");
    if (method === "password") {
        if (!p.username && !p.userId) throw missing("password auth needs a username or user id");
        if (!p.password)
            throw missing("password auth needs a password (OS_PASSWORD, secure.yaml, or `pulumi config set --secret openstack:password`)");
        if (!p.projectName && !p.projectId) throw missing("password auth needs a project name or id to scope the token to");
    }
    if (method === "applicationCredential") {
        if (!p.applicationCredentialSecret) throw missing("application credential auth needs application_credential_secret");
        if (!p.applicationCredentialId && !p.applicationCredentialName) throw missing("application credential auth needs its id or name");
    }
    if (method === "token" && !p.token) throw missing("token auth needs a token (OS_TOKEN)");
    const caFile = p.caFile ? fromProjectRoot(p.caFile) : undefined;
    if (caFile && !fs.existsSync(caFile))
        throw missing(`CA bundle ${caFile} does not exist (a relative path is relative to the directory of Pulumi.yaml)`);
    return {
        ...p,
        caFile,
        authUrl: p.authUrl.replace(/\/+$/, ""),
        method,
        interface: p.interface ?? "public",
        insecure: p.insecure ?? false,
        source,
    } as AuthOptions;
}
