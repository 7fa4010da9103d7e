// The package as another Pulumi program gets it (issue 7, "a library, not only a repo"): `npm pack`,
// installed by npm into a scratch project under os.tmpdir() (no checkout above it), used from
// separate node processes whose cwd is that project, as the engine starts the program and the
// dynamic-provider host, with HOME there and no OPENSTACK_RECOVERY_HOME. And the state contract
// (README "Upgrades and the state contract"): the `__provider` that 0.1.0 wrote into state
// (fixtures/provider-0.1.0.json, never regenerated) still runs today's step code from a checkout.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "../..");
const FIXTURES = path.join(__dirname, "fixtures");

/** The steps: providers/<step>.ts exporting `impl` (the names frozen into every stack's state). */
const STEPS = fs
    .readdirSync(path.join(ROOT, "providers"))
    .filter((f) => f.endsWith(".ts") && /^export const impl\b/m.test(fs.readFileSync(path.join(ROOT, "providers", f), "utf8")))
    .map((f) => f.slice(0, -3))
    .sort();

/** The steps 0.1.0 had: today's, less those added since (a stack made by 0.1.0 holds no stub of those). */
const STEPS_OF_0_1_0 = STEPS.filter(
    (s) => !["leftoverSweep", "bootProof", "imageUpload", "ephemeralDiskCopy", "diskFlatten", "serverSnapshot"].includes(s),
);

/** The environment of a child: no npm_* leaking from `npm test`, no override, no NODE_PATH. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const e: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env))
        if (!/^npm_/i.test(k) && !["OPENSTACK_RECOVERY_HOME", "NODE_PATH", "NODE_OPTIONS", "TS_NODE_PROJECT"].includes(k)) e[k] = v;
    return { ...e, ...extra };
}

interface HostReport {
    results: Record<string, { ok: boolean; step?: string; failures?: unknown[]; error?: string }>;
    loaded: string[];
    ts: boolean;
}

describe("the packed package in another project", () => {
    let tmp: string;
    let scratch: string;
    let files: string[];
    let tarball: string;
    let program: { exports: string[]; sections: string[]; resolved: string };
    const state = () => path.join(tmp, "state.json");
    /** the provider host stand-in, run from `cwd` with a copy of itself there (so nothing resolves from this repo) */
    const host = (cwd: string, stateFile: string, extraEnv: Record<string, string> = {}): HostReport => {
        const script = path.join(cwd === scratch ? scratch : tmp, "provider-host.js");
        fs.copyFileSync(path.join(FIXTURES, "provider-host.js"), script);
        return JSON.parse(
            execFileSync(process.execPath, [script, stateFile], { cwd, env: env(extraEnv), encoding: "utf8", timeout: 60_000 }),
        );
    };

    beforeAll(() => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "osr-pack-"));
        // (a) pack: prepack builds dist/ (npm run build:lib)
        const packed = JSON.parse(
            execFileSync("npm", ["pack", "--json", "--pack-destination", tmp], {
                cwd: ROOT,
                env: env(),
                encoding: "utf8",
                stdio: ["ignore", "pipe", "pipe"],
                timeout: 120_000,
            }),
        );
        files = packed[0].files.map((f: { path: string }) => f.path).sort();
        tarball = path.join(tmp, packed[0].filename);
        // (b) a project of its own, under the temp dir: no openstack-recovery checkout above it
        scratch = path.join(tmp, "consumer");
        fs.mkdirSync(scratch);
        fs.writeFileSync(path.join(scratch, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true }));
        execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--ignore-scripts", "--loglevel=error", tarball], {
            cwd: scratch,
            env: env(),
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
            timeout: 180_000,
        });
        // (c) the consumer's program, in its own process, cwd and HOME the scratch project
        fs.copyFileSync(path.join(FIXTURES, "consumer-program.js"), path.join(scratch, "index.js"));
        program = JSON.parse(
            execFileSync(process.execPath, ["index.js", state()], {
                cwd: scratch,
                env: env({ HOME: scratch }),
                encoding: "utf8",
                timeout: 60_000,
            }),
        );
    }, 300_000);
    afterAll(() => {
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    it("knows the twelve steps", () => {
        expect(STEPS).toEqual([
            "bootProof",
            "diskFlatten",
            "diskRepair",
            "ephemeralDiskCopy",
            "helperAttachment",
            "imageUpload",
            "incidentLock",
            "leftoverSweep",
            "replacementServer",
            "reservedPort",
            "serverSnapshot",
            "volumeClone",
        ]);
    });

    it("the tarball holds compiled JavaScript, declarations and the repair scripts; no tests, sources, lab or node_modules", () => {
        for (const f of files) {
            expect(f).toMatch(/^(package\.json|README\.md|dist\/.*)$/);
            expect(f).not.toMatch(/(^|\/)(test|\.lab|node_modules)\//);
            expect(f).not.toMatch(/\.test\.|(?<!\.d)\.ts$/);
        }
        expect(files).toEqual(
            expect.arrayContaining([
                "dist/index.js",
                "dist/index.d.ts",
                "dist/recipes/volumeBacked.js",
                "dist/recipes/volumeBacked.d.ts",
                "dist/toolkit/driver.sh",
            ]),
        );
        for (const step of STEPS)
            expect(files).toEqual(expect.arrayContaining([`dist/providers/${step}.js`, `dist/providers/${step}.d.ts`]));
        for (const a of fs.readdirSync(path.join(ROOT, "toolkit", "actions"))) expect(files).toContain(`dist/toolkit/actions/${a}`);
    });

    it("require('openstack-recovery') gives the recipe, the six resources and the repair toolkit, from node_modules", () => {
        expect(program.resolved).toBe(path.join(fs.realpathSync(scratch), "node_modules", "openstack-recovery", "dist", "index.js"));
        expect(program.exports).toEqual(
            expect.arrayContaining([
                "VolumeBackedRecovery",
                "IncidentLock",
                "VolumeClone",
                "HelperAttachment",
                "DiskRepair",
                "ReservedPort",
                "ReplacementServer",
                "BootProof",
                "ImageUpload",
                "EphemeralDiskCopy",
                "DiskFlatten",
                "ServerSnapshot",
                "EphemeralRecovery",
                "buildRepairScript",
                "parseRepairReport",
                "recoveryProgram",
            ]),
        );
        // the toolkit reads driver.sh and actions/*.sh from beside its compiled module
        expect(program.sections).toEqual(["# ======== driver.sh", "# ======== actions/fstab.sh"]);
    });

    it("the recipe's resources put a thin stub into state, one per step", () => {
        const entries = JSON.parse(fs.readFileSync(state(), "utf8")) as Record<string, { provider: string }>;
        const steps = Object.values(entries).map((e) => /__provider\.step = "(\w+)"/.exec(e.provider)?.[1]);
        expect(steps.sort()).toEqual(STEPS);
        for (const e of Object.values(entries)) expect(e.provider).not.toMatch(/zod|ssh2|X-Auth-Token/);
    });

    it("the provider host finds every step's implementation in the installed package, with no checkout and no OPENSTACK_RECOVERY_HOME", () => {
        const r = host(scratch, state(), { HOME: scratch });
        for (const [name, res] of Object.entries(r.results)) expect([name, res]).toEqual([name, expect.objectContaining({ ok: true })]);
        expect(
            Object.values(r.results)
                .map((x) => x.step)
                .sort(),
        ).toEqual(STEPS);
        const installed = path.join(fs.realpathSync(scratch), "node_modules", "openstack-recovery", "dist", "providers");
        for (const step of STEPS) expect(r.loaded).toContain(path.join(installed, `${step}.js`));
        expect(r.loaded.filter((f) => f.startsWith(ROOT + path.sep))).toEqual([]);
        expect(r.ts).toBe(false);
    });

    it("in a checkout, the same stub runs the checkout's source (a stale build never shadows it)", () => {
        const r = host(path.join(ROOT, "stacks"), state());
        for (const res of Object.values(r.results)) expect(res).toMatchObject({ ok: true });
        for (const step of STEPS) expect(r.loaded).toContain(path.join(ROOT, "providers", `${step}.ts`));
        expect(r.loaded.filter((f) => f.startsWith(path.join(ROOT, "dist")))).toEqual([]);
    });

    it("its declarations type-check the README's example and the deep imports, with classic and node16 resolution", () => {
        const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
        const example = /## Use it as a library[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
        expect(example).toContain('from "openstack-recovery"');
        fs.writeFileSync(path.join(scratch, "example.ts"), example!);
        fs.writeFileSync(
            path.join(scratch, "deep.ts"),
            `import { VolumeClone } from "openstack-recovery/providers/volumeClone";
import { REPAIR_ACTIONS, type RepairReport } from "openstack-recovery/recipes/repairs";
import { connect } from "openstack-recovery/providers/openstack";
import { parseConfig } from "openstack-recovery/stacks/config";
export const used = [VolumeClone, REPAIR_ACTIONS, connect, parseConfig] as const;
export type Report = RepairReport;
`,
        );
        const tsc = require.resolve("typescript/bin/tsc", { paths: [ROOT] });
        for (const [resolution, module] of [
            ["node", "commonjs"],
            ["node16", "node16"],
        ]) {
            const args = [
                tsc,
                "--noEmit",
                "--strict",
                "--skipLibCheck",
                "--target",
                "es2022",
                "--module",
                module,
                "--moduleResolution",
                resolution,
                "--types",
                "node",
                "--typeRoots",
                path.join(ROOT, "node_modules", "@types"),
                "example.ts",
                "deep.ts",
            ];
            const r = spawnSync(process.execPath, args, { cwd: scratch, env: env(), encoding: "utf8", timeout: 60_000 });
            expect({ resolution, out: r.stdout + r.stderr, status: r.status }).toEqual({ resolution, out: "", status: 0 });
        }
    });

    describe("a stack made by 0.1.0", () => {
        const old = () => {
            const fixture = JSON.parse(fs.readFileSync(path.join(FIXTURES, "provider-0.1.0.json"), "utf8")) as Record<string, string>;
            const file = path.join(tmp, "state-0.1.0.json");
            fs.writeFileSync(
                file,
                JSON.stringify(
                    Object.fromEntries(
                        Object.entries(fixture)
                            .filter(([k]) => k !== "//")
                            .map(([k, provider]) => [k, { provider, inputs: {} }]),
                    ),
                ),
            );
            return file;
        };

        it("holds a stub for every step of today that 0.1.0 had (LeftoverSweep came in 0.2.0, BootProof and the ephemeral steps after it)", () => {
            const steps = Object.values(JSON.parse(fs.readFileSync(old(), "utf8")) as Record<string, { provider: string }>).map(
                (e) => /__provider\.step = "(\w+)"/.exec(e.provider)?.[1],
            );
            expect(steps.sort()).toEqual(STEPS_OF_0_1_0);
        });

        it("runs today's providers/<step>.ts from a checkout (its loadStep walks up from the host's cwd)", () => {
            const r = host(path.join(ROOT, "stacks"), old());
            for (const res of Object.values(r.results)) expect(res).toMatchObject({ ok: true });
            for (const step of STEPS_OF_0_1_0) expect(r.loaded).toContain(path.join(ROOT, "providers", `${step}.ts`));
        });

        it("from another project, runs with OPENSTACK_RECOVERY_HOME set to a checkout, and says so when it is not", () => {
            const withHome = host(scratch, old(), { HOME: scratch, OPENSTACK_RECOVERY_HOME: ROOT });
            for (const res of Object.values(withHome.results)) expect(res).toMatchObject({ ok: true });
            const without = host(scratch, old(), { HOME: scratch });
            for (const res of Object.values(without.results)) expect(res.error).toMatch(/set OPENSTACK_RECOVERY_HOME/);
        });
    });
});
