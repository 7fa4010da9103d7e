// Adding a recipe is one file plus one registry line (issue 8). In a copy of this checkout, a toy
// recipe (recipes/toy.ts) and one line in recipes/registry.ts, nothing else: `pulumi preview` of
// web-1 with `strategy: toy` builds the toy's chain, with its own config section validated (a
// misspelt key in it refused, naming the nearest), through Pulumi's real runner and provider host.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { checkpointPath, EngineRunError, preview, type StackRun } from "../engine";
import { web1Run } from "../support/incident";
import { CLOUDS_YAML, REPO, requireLab } from "../support/lab";

jest.setTimeout(10 * 60_000);

const TOY = `// A toy recipe: fits every server, has one config section, builds one step.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { LeftoverSweep } from "../providers/leftoverSweep";
import { defineRecipe } from "./recipe";

export const toyRecipe = defineRecipe({
    strategy: "toy",
    summary: "a toy",
    section: z.object({ toy: z.strictObject({ greeting: z.string().min(1), times: z.number().int().default(1) }, { error: "required" }) }),
    applies: (f) => ({ fits: true, why: \`\${f.broken.name} is any server\` }),
    async plan(ctx, c) {
        return { greeting: c.toy.greeting.repeat(c.toy.times), server: ctx.facts.broken.name, stack: ctx.stack, incident: c.incident };
    },
    describe: (p) => \`greet \${p.server}\`,
    build(name, p) {
        const component = new pulumi.ComponentResource("openstack-recovery:recipes:Toy", name, {});
        new LeftoverSweep(\`\${name}-toy\`, { incident: p.incident, stack: p.stack }, { parent: component });
        return { component, outputs: { greeting: p.greeting }, retained: [] };
    },
});
`;

describe("a recipe added by one file and one registry line", () => {
    let copy: string;
    let run: StackRun;
    const git = (...args: string[]) => execFileSync("git", args, { cwd: copy, encoding: "utf8" });

    beforeAll(() => {
        const seed = requireLab();
        copy = fs.mkdtempSync(path.join(os.tmpdir(), "osr-toy-"));
        // this checkout as it is (tracked and new files), as a repository of its own
        const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard"], { cwd: REPO, encoding: "utf8" })
            .split("\n")
            .filter(Boolean);
        for (const f of files) {
            if (!fs.existsSync(path.join(REPO, f))) continue;
            fs.mkdirSync(path.dirname(path.join(copy, f)), { recursive: true });
            fs.copyFileSync(path.join(REPO, f), path.join(copy, f));
        }
        fs.symlinkSync(path.join(REPO, "node_modules"), path.join(copy, "node_modules"));
        git("init", "-q");
        git("add", "-A");
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base");
        // the recipe: its file, and its line in the registry
        fs.writeFileSync(path.join(copy, "recipes", "toy.ts"), TOY);
        const registry = path.join(copy, "recipes", "registry.ts");
        const text = fs.readFileSync(registry, "utf8");
        fs.writeFileSync(
            registry,
            text.replace(
                "    volumeBackedRecipe,\n",
                '    volumeBackedRecipe,\n    (require("./toy") as typeof import("./toy")).toyRecipe,\n',
            ),
        );
        const VOLUME_BACKED_ONLY = ["openstack-recovery:helper", "openstack-recovery:bootProof"];
        const base = web1Run({ seed, stack: "toy", cloudsFile: CLOUDS_YAML, config: { "openstack-recovery:incident": "INC0051" } });
        run = {
            ...base,
            projectDir: copy,
            stateFile: checkpointPath(fs.mkdtempSync(path.join(os.tmpdir(), "osr-toy-state-")), "openstack-recovery", "toy"),
            env: { ...base.env, OPENSTACK_RECOVERY_HOME: copy },
            config: {
                // the volume-backed recipe's own sections are refused under another strategy (stacks/config.ts)
                ...Object.fromEntries(Object.entries(base.config ?? {}).filter(([k]) => !VOLUME_BACKED_ONLY.includes(k))),
                "openstack-recovery:strategy": "toy",
                "openstack-recovery:toy": JSON.stringify({ greeting: "hello ", times: 2 }),
            },
        };
    });
    afterAll(() => fs.rmSync(copy, { recursive: true, force: true }));

    it("touches one file and adds one line", () => {
        expect(git("status", "--porcelain").split("\n").filter(Boolean).sort()).toEqual([" M recipes/registry.ts", "?? recipes/toy.ts"]);
        expect(git("diff", "--numstat")).toMatch(/^1\s+0\s+recipes\/registry.ts$/m);
    });

    it("preview builds the toy's chain for web-1, with its section's values", async () => {
        const r = await preview(run);
        expect(r.outputs.strategy).toBe("toy");
        expect(r.outputs.greeting).toBe("hello hello ");
        const names = r.steps.filter((s) => s.op === "create").map((s) => `${s.type.split(":").pop()} ${s.urn.split("::").pop()}`);
        expect(names).toEqual(
            expect.arrayContaining(["Toy INC0051-web-1", "LeftoverSweep INC0051-web-1-toy", "LeftoverSweep leftover-sweep"]),
        );
    });

    it("its section is validated: a misspelt key refused with the nearest, a missing one named", async () => {
        const bad = { ...run, config: { ...run.config, "openstack-recovery:toy": JSON.stringify({ greting: "hi" }) } };
        await expect(preview(bad)).rejects.toThrow(EngineRunError);
        await expect(preview(bad)).rejects.toThrow(/openstack-recovery:toy.greting: unknown key; did you mean toy.greeting\?/);
        const missing = { ...run, config: Object.fromEntries(Object.entries(run.config!).filter(([k]) => k !== "openstack-recovery:toy")) };
        await expect(preview(missing)).rejects.toThrow(/openstack-recovery:toy: required/);
    });
});
