// The package as a library, on the lab (issue 7): a Pulumi program of another project (its own package.json and
// Pulumi.yaml, under the temp dir, no checkout above it) installs the packed tarball and recovers web-1 through
// Pulumi's real runner and the real dynamic-provider host, both started in that project as the CLI starts them,
// so every step's code comes from the installed package. And an upgrade: a stack made by the previous version
// (0.1.0, the commit below, taken from git) is destroyed by today's checkout after the old one is gone, so
// today's code is all there is to run the old state's stubs.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { z } from "zod";
import { destroy, readState, up, type StackRun } from "../engine";
import { ensureSeededIncident, GIVE_BACK, reseed, web1Incident } from "../support/incident";
import { CLOUDS_YAML, REPO, requireLab, type Seed } from "../support/lab";
import { osc, oscExists } from "../support/oscli";

jest.setTimeout(20 * 60_000);

/** 0.1.0: the last version that landed before the state contract was written down (README "Upgrades"). */
const PREVIOUS = "5e4e6fb";

const Port = z.object({ device_id: z.string(), tags: z.array(z.string()).default([]) });
const Volumes = z.array(z.object({ ID: z.string() }));
const Volume = z.object({ description: z.string().nullish(), properties: z.unknown() });

/** npm's environment without what `npm test` leaks into children */
function cleanEnv(): NodeJS.ProcessEnv {
    return Object.fromEntries(
        Object.entries(process.env).filter(
            ([k]) => !/^npm_/i.test(k) && !["OPENSTACK_RECOVERY_HOME", "NODE_PATH", "NODE_OPTIONS"].includes(k),
        ),
    );
}

function nothingTagged(): string[] {
    return osc(["volume", "list"], Volumes)
        .map((v) => ({ id: v.ID, ...osc(["volume", "show", v.ID], Volume) }))
        .filter((v) => /DELETE ME/.test(v.description ?? "") || JSON.stringify(v.properties ?? {}).includes("recovery-"))
        .map((v) => v.id);
}

/** up recovered web-1 (replacement ACTIVE holding web-1's port); destroy (nothing kept) gives everything back. */
async function recoverAndGiveBack(seed: Seed, made: StackRun, destroyWith: StackRun = made, between: () => void = () => {}): Promise<void> {
    const r = await up(made);
    const serverId = String(r.outputs.newServerId);
    expect(osc(["server", "show", serverId], z.object({ status: z.string() })).status).toBe("ACTIVE");
    expect(osc(["port", "show", seed.web1.portId], Port).device_id).toBe(serverId);
    between();
    const d = await destroy(destroyWith);
    expect(d.steps.filter((s) => s.error)).toEqual([]);
    expect(readState(destroyWith.stateFile).resources).toEqual([]);
    expect(oscExists("server", serverId)).toBe(false);
    const port = osc(["port", "show", seed.web1.portId], Port);
    expect(port.device_id).toBe(seed.web1.serverId);
    expect(port.tags.filter((t) => t.startsWith("recovery-"))).toEqual([]);
    expect(nothingTagged()).toEqual([]);
}

describe("openstack-recovery as a library, and an upgrade", () => {
    let seed: Seed;
    let tmp: string;

    beforeAll(() => {
        seed = ensureSeededIncident(requireLab());
        process.env.OS_CLIENT_CONFIG_FILE = CLOUDS_YAML;
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "osr-library-"));
    });
    afterAll(() => {
        delete process.env.OS_CLIENT_CONFIG_FILE;
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
        reseed();
    });

    it("a project of its own installs the packed tarball and recovers web-1 through the real runner", async () => {
        const packed = JSON.parse(
            execFileSync("npm", ["pack", "--json", "--pack-destination", tmp], {
                cwd: REPO,
                env: cleanEnv(),
                encoding: "utf8",
                stdio: ["ignore", "pipe", "pipe"],
                timeout: 180_000,
            }),
        );
        const tarball = path.join(tmp, packed[0].filename);
        const project = path.join(tmp, "inc-consumer");
        fs.mkdirSync(project);
        fs.writeFileSync(
            path.join(project, "package.json"),
            JSON.stringify({ name: "inc-consumer", version: "1.0.0", private: true }, null, 2),
        );
        fs.writeFileSync(path.join(project, "Pulumi.yaml"), "name: inc-consumer\nruntime: nodejs\nmain: index.ts\n");
        // the README's one-line form: this repository's whole stack program, config and discovery included
        fs.writeFileSync(
            path.join(project, "index.ts"),
            'import { recoveryProgram } from "openstack-recovery";\nexport = recoveryProgram;\n',
        );
        // npm also installs the runner's peers (typescript, ts-node), as for any TypeScript Pulumi project
        execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", tarball], {
            cwd: project,
            env: cleanEnv(),
            stdio: ["ignore", "pipe", "pipe"],
            timeout: 300_000,
        });
        expect(fs.existsSync(path.join(project, "node_modules", "openstack-recovery", "dist", "providers", "replacementServer.js"))).toBe(
            true,
        );

        const run: StackRun = {
            ...web1Incident(seed, "consumer", "INC0050", GIVE_BACK),
            projectDir: project,
            stateFile: path.join(tmp, "consumer-state", "consumer.json"),
        };
        expect(process.env.OPENSTACK_RECOVERY_HOME).toBeUndefined();
        await recoverAndGiveBack(seed, run);
    });

    it(`a stack made by the previous version (${PREVIOUS}) is destroyed by today's code`, async () => {
        const old = path.join(tmp, "openstack-recovery-0.1.0");
        fs.mkdirSync(old);
        execFileSync("bash", ["-c", `git -C "${REPO}" archive ${PREVIOUS} | tar -x -C "${old}"`]);
        fs.symlinkSync(path.join(REPO, "node_modules"), path.join(old, "node_modules"));
        const stateFile = path.join(tmp, "upgrade-state", "upgrade.json");
        const base = web1Incident(seed, "upgrade", "INC0051", GIVE_BACK);
        // 0.1.0 does not type-check under the runner (its Pulumi.yaml names no tsconfig): its operators had to
        // run it with the runner's transpile-only switch
        const made: StackRun = { ...base, projectDir: old, stateFile, env: { ...base.env, PULUMI_NODEJS_TRANSPILE_ONLY: "true" } };
        const today: StackRun = { ...base, projectDir: REPO, stateFile };
        await recoverAndGiveBack(seed, made, today, () => {
            // what 0.1.0 froze into state is its own stub: the step's name and 0.1.0's loader (which walks up from
            // the host's cwd to a checkout; today's also looks in node_modules and says something else when lost)
            const stubs = readState(stateFile)
                .resources.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic"))
                .map((r) => String(r.outputs.__provider ?? ""));
            expect(stubs.length).toBeGreaterThanOrEqual(6);
            for (const s of stubs) {
                expect(s).toMatch(/__provider\.step = "\w+"/);
                expect(s).toContain("cannot find the openstack-recovery project above");
            }
            expect(fs.readFileSync(path.join(REPO, "providers", "stub.ts"), "utf8")).not.toContain(
                "cannot find the openstack-recovery project above",
            );
            fs.rmSync(old, { recursive: true, force: true });
        });
    });
});
