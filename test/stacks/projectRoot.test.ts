// The CLI runs the program and the provider host in stacks/ (Pulumi.yaml `main`): relative paths in the
// config and the credentials resolve against the directory of Pulumi.yaml, found from there.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { resolveAuth } from "../../clients/openstack/credentials";
import { fromProjectRoot, projectRoot } from "../../clients/projectRoot";
import { parseConfig } from "../../stacks/config";

const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "osr-root-")));
const stacks = path.join(root, "stacks");
fs.mkdirSync(stacks);
fs.writeFileSync(path.join(root, "Pulumi.yaml"), "name: openstack-recovery\nruntime: nodejs\nmain: stacks/index.ts\n");
fs.mkdirSync(path.join(root, "certs"));
fs.writeFileSync(path.join(root, "certs", "ca.pem"), "not checked here\n");
fs.writeFileSync(
    path.join(root, "clouds.yaml"),
    `
clouds:
  lab:
    auth: { auth_url: "https://keystone.example:5000/v3", username: operator, password: pw, project_name: incidents }
    cacert: certs/ca.pem
`,
);
const cwd = process.cwd();
beforeEach(() => process.chdir(stacks));
afterEach(() => process.chdir(cwd));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe("paths relative to the directory of Pulumi.yaml", () => {
    it("finds the project root from stacks/, and falls back to the directory itself", () => {
        expect(projectRoot()).toBe(root);
        expect(projectRoot(root)).toBe(root);
        const bare = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "osr-bare-")));
        expect(projectRoot(bare)).toBe(bare);
        fs.rmSync(bare, { recursive: true });
    });

    it("resolves relative paths there, keeps absolute ones and expands ~/", () => {
        expect(fromProjectRoot("keys/helper")).toBe(path.join(root, "keys/helper"));
        expect(fromProjectRoot("/etc/ssl/ca.pem")).toBe("/etc/ssl/ca.pem");
        expect(fromProjectRoot("~/.ssh/id_ed25519")).toBe(path.join(os.homedir(), ".ssh/id_ed25519"));
    });

    it("OS_CLOUD finds the clouds.yaml beside Pulumi.yaml, and its relative cacert", () => {
        const a = resolveAuth(() => undefined, { HOME: path.join(root, "nohome"), OS_CLOUD: "lab" });
        expect(a.source).toContain(path.join(root, "clouds.yaml"));
        expect(a.caFile).toBe(path.join(root, "certs", "ca.pem"));
    });

    it("openstack:cacertFile and helper.sshKeyFile", () => {
        const config: Record<string, string> = {
            "openstack:authUrl": "https://keystone.example:5000/v3",
            "openstack:userName": "u",
            "openstack:password": "p",
            "openstack:projectName": "x",
            "openstack:cacertFile": "certs/ca.pem",
        };
        expect(resolveAuth((k) => config[k], {}).caFile).toBe(path.join(root, "certs", "ca.pem"));
        const c = parseConfig(
            (k) =>
                ({
                    "openstack-recovery:incident": "INC1234",
                    "openstack-recovery:server": "web-1",
                    "openstack-recovery:helper": JSON.stringify({ server: "snap-mounter", sshKeyFile: "keys/helper" }),
                })[k],
        );
        expect(c.helper.sshKeyFile).toBe(path.join(root, "keys", "helper"));
    });
});
