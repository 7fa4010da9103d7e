// Proves that Session.connect reads Keystone's own token samples (api-ref v3: password, token and
// application-credential responses, one with the 13-service catalog of a 2015 cloud) through the
// fake Keystone, and finds each service in their catalogs: by type, region and interface, the
// block-storage service among its aliases (volume is v1 there, volumev2 v2), and v3 found from the
// version document at the root (Cinder's own sample). The samples' hosts are pointed at the fake
// (one path prefix per port), nothing else is changed.
import * as fs from "fs";
import * as path from "path";
import { AuthConfigError } from "../../clients/openstack/errors";
import { Session } from "../../clients/openstack/session";
import { auth, FakeCloud } from "../support/fakeCloud";
import { sample } from "./support";

const PROJECT = "a6944d763bf64ee6a275f1263fae0352"; // auth-password-project-scoped-response.json

/** The sample's text with its hosts on the fake: http://23.253.248.171:8776 -> <fake>/port-8776. */
function onFake(file: string, url: string): unknown {
    const text = fs.readFileSync(path.join(__dirname, "samples/keystone", file), "utf8");
    return JSON.parse(
        text.replace(/http:\/\/23\.253\.248\.171:(\d+)/g, `${url}/port-$1`).replace(/http:\/\/example\.com/g, `${url}/example.com`),
    );
}

describe("Keystone token samples through Session.connect", () => {
    const cloud = new FakeCloud();
    let sessions: Session[] = [];
    beforeAll(async () => {
        await cloud.start();
        // Nova's and Cinder's own version documents at their roots; everything else 404 (routes)
        cloud.versionDocs = {
            "/port-8774/": { status: 200, body: sample("nova/versions/versions-get-resp.json") },
            "/port-8776/": { status: 200, body: sample("cinder/v3/versions/versions-response.json") },
        };
    });
    afterAll(async () => {
        for (const s of sessions) s.close();
        await cloud.stop();
    });
    async function connect(file: string, over: Parameters<typeof auth>[1] = {}): Promise<Session> {
        cloud.tokenBody = (url) => onFake(file, url);
        const s = await Session.connect(auth(cloud.url, over));
        sessions.push(s);
        return s;
    }

    for (const file of ["admin/auth-password-project-scoped-response.json", "admin/auth-token-scoped-response.json"]) {
        it(`${file}: who, and every service the recovery calls`, async () => {
            const s = await connect(file);
            const project = (sample(`keystone/${file}`).token as { project: { id: string } }).project.id;
            expect(s.isAdmin).toBe(true);
            expect(s.projectId).toBe(project);
            expect(s.endpoint("compute")).toBe(`${cloud.url}/port-8774/v2.1/${project}`);
            expect(s.endpoint("network")).toBe(`${cloud.url}/port-9696`);
            expect(s.endpoint("image")).toBe(`${cloud.url}/port-9292`);
            expect(s.endpoint("identity")).toBe(`${cloud.url}/example.com/identity/v2.0`);
            // block storage: listed as volumev2 (v2) and volume (v1) only; v3 is found at the root
            expect(s.endpoint("volume")).toMatch(new RegExp(`^${cloud.url}/port-8776/v[12]/${project}$`));
            expect(await s.api("volume")).toEqual({ base: `${cloud.url}/port-8776/v3/${project}`, min: "3.0", max: "3.71" });
            expect(await s.api("compute")).toEqual({ base: `${cloud.url}/port-8774/v2.1/${project}`, min: "2.1", max: "2.104" });
        });
    }

    it("takes the endpoint of the interface asked for", async () => {
        const s = await connect("admin/auth-password-project-scoped-response.json", { interface: "admin" });
        expect(s.endpoint("identity")).toBe(`${cloud.url}/example.com/identity_v2_admin/v2.0`);
        expect(s.endpoint("compute")).toBe(`${cloud.url}/port-8774/v2.1/${PROJECT}`);
    });

    it("refuses a region the catalog does not have, naming the ones it has", async () => {
        const s = await connect("admin/auth-password-project-scoped-response.json", { region: "RegionTwo" });
        expect(() => s.endpoint("compute")).toThrow(/no public compute endpoint in region RegionTwo \(regions in the catalog: RegionOne\)/);
    });

    it("project-scoped-password.json: an identity-only catalog says which service is missing", async () => {
        const s = await connect("auth/responses/project-scoped-password.json");
        expect(s.projectId).toBe(PROJECT);
        expect(s.userId).toBe("ee4dfb6e5540447cb3741905149d9b6e");
        expect(s.endpoint("identity")).toBe(`${cloud.url}/example.com/identity`);
        expect(() => s.endpoint("compute")).toThrow(AuthConfigError);
        expect(() => s.endpoint("volume")).toThrow(/no public volume endpoint in region RegionOne/);
    });

    it("auth-application-credential-response.json: the credential's project and roles", async () => {
        const s = await connect("admin/auth-application-credential-response.json", {
            method: "applicationCredential",
            applicationCredentialId: "423f19a4ac1e4f48bbb4180756e6eb6c",
            applicationCredentialSecret: "secret",
        });
        expect(s.projectId).toBe("231c62fb0fbd485b995e8b060c3f0d98");
        expect(s.roles).toEqual(["Member"]);
        expect(s.isAdmin).toBe(false);
    });
});
