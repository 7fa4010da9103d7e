// Credentials resolve the OpenStack way, from real files in a temp dir, and errors say where we looked.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { resolveAuth } from "../../clients/openstack/credentials";
import { AuthConfigError } from "../../clients/openstack/errors";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "osr-cred-"));
const clouds = path.join(dir, "clouds.yaml");
const secure = path.join(dir, "secure.yaml");
fs.writeFileSync(
    clouds,
    `
clouds:
  prod:
    auth:
      auth_url: https://keystone.example:5000/v3/
      username: operator
      project_name: incidents
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionTwo
    interface: internal
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example:5000
      application_credential_id: ac1
      application_credential_secret: s3cret
  proxied:
    auth:
      auth_url: https://keystone.example:5000/v3
      username: operator
      password: pw
      project_name: incidents
    image_endpoint_override: http://127.0.0.1:19292/
    block_storage_endpoint_override: https://cinder.jump.example/v3/p1
`,
);
fs.writeFileSync(secure, "clouds:\n  prod:\n    auth:\n      password: from-secure-yaml\n");
const env = { HOME: dir, OS_CLIENT_CONFIG_FILE: clouds, OS_CLIENT_SECURE_FILE: secure };
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("resolveAuth", () => {
    it("reads openstacksdk's <service>_endpoint_override keys (a proxy in front of Glance, a catalog this host cannot reach)", () => {
        const a = resolveAuth(() => undefined, { ...env, OS_CLOUD: "proxied" });
        expect(a.endpointOverrides).toEqual({ image: "http://127.0.0.1:19292/", volume: "https://cinder.jump.example/v3/p1" });
        expect(resolveAuth(() => undefined, { ...env, OS_CLOUD: "prod" }).endpointOverrides).toBeUndefined();
        const bad = path.join(dir, "bad-override.yaml");
        fs.writeFileSync(bad, "clouds:\n  x:\n    auth: {auth_url: 'https://k.example/v3'}\n    image_endpoint_override: not a url\n");
        expect(() => resolveAuth(() => undefined, { ...env, OS_CLIENT_CONFIG_FILE: bad, OS_CLOUD: "x" })).toThrow(
            /Invalid URL[\s\S]*clouds\.x\.image_endpoint_override/,
        );
    });

    it("reads OS_CLOUD from clouds.yaml and merges secure.yaml's secrets", () => {
        const a = resolveAuth(() => undefined, { ...env, OS_CLOUD: "prod" });
        expect(a).toMatchObject({
            authUrl: "https://keystone.example:5000/v3",
            username: "operator",
            password: "from-secure-yaml",
            projectName: "incidents",
            region: "RegionTwo",
            interface: "internal",
            method: "password",
        });
        expect(a.source).toMatch(/clouds\.yaml cloud "prod".*OS_CLOUD/);
        expect(a.source).not.toMatch(/from-secure-yaml/);
    });

    it("lets stack config pick the cloud and override fields, the keys @pulumi/openstack uses", () => {
        const cfg: Record<string, string> = {
            "openstack:cloud": "prod",
            "openstack:region": "RegionOne",
            "openstack:password": "from-stack-config",
        };
        const a = resolveAuth((k) => cfg[k], { ...env, OS_CLOUD: "appcred" });
        expect(a).toMatchObject({ username: "operator", region: "RegionOne", password: "from-stack-config" });
        expect(a.source).toMatch(/chosen by stack config openstack:cloud/);
    });

    it("recognises application credentials", () => {
        expect(resolveAuth(() => undefined, { ...env, OS_CLOUD: "appcred" })).toMatchObject({
            method: "applicationCredential",
            applicationCredentialId: "ac1",
        });
    });

    it("falls back to OS_* variables (an openrc)", () => {
        const a = resolveAuth(() => undefined, {
            HOME: dir,
            OS_AUTH_URL: "http://k:5000/v3",
            OS_USERNAME: "u",
            OS_PASSWORD: "p",
            OS_PROJECT_NAME: "x",
            OS_INTERFACE: "internalURL",
            OS_INSECURE: "true",
        });
        expect(a).toMatchObject({ source: "OS_* environment variables", interface: "internal", insecure: true });
        expect(a.userDomainName).toBeUndefined();
    });

    it("says what is missing, where it looked, and never echoes a secret", () => {
        expect(() => resolveAuth(() => undefined, { HOME: dir })).toThrow(/no OpenStack credentials: set OS_CLOUD/);
        expect(() => resolveAuth(() => undefined, { ...env, OS_CLOUD: "nope" })).toThrow(
            /has no cloud "nope" \(it has: prod, appcred, proxied\)/,
        );
        const noPassword = () =>
            resolveAuth(() => undefined, { HOME: dir, OS_AUTH_URL: "http://k:5000/v3", OS_USERNAME: "u", OS_PROJECT_NAME: "x" });
        expect(noPassword).toThrow(AuthConfigError);
        expect(noPassword).toThrow(/needs a password/);
        expect(() =>
            resolveAuth(() => undefined, {
                HOME: dir,
                OS_AUTH_URL: "http://k",
                OS_USERNAME: "u",
                OS_PASSWORD: "hunter2",
                OS_PROJECT_NAME: "x",
                OS_INTERFACE: "sideways",
            }),
        ).toThrow(/OS_INTERFACE="sideways" is not an endpoint interface/);
    });
});
