// The engine's rules the stand-in mirrors, each on the toy project run by Pulumi's real runner and the real
// dynamic-provider host: compile errors, parallel steps, the journal after a killed `up` and the refresh that
// repairs it, initErrors → Update, dependent replacements, deletes in dependency layers.
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EngineRunError, destroy, preview, readState, refresh, up, type RunResult, type StackRun, type Step } from "./index";
import { readLog } from "./toy";

const REPO = path.resolve(__dirname, "..", "..");
const toyProject = path.join(__dirname, "toy-project");
let tmp: string;
let world: string;

beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "rules-"));
    world = path.join(tmp, "world");
    fs.mkdirSync(world);
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function toy(variant: Record<string, unknown>, scenario = "default", extra: Partial<StackRun> = {}): StackRun {
    return {
        projectDir: toyProject,
        stack: "dev",
        stateFile: path.join(tmp, "state", "dev.json"),
        config: { "toy:dir": world, "toy:scenario": scenario, "toy:variant": JSON.stringify(variant) },
        ...extra,
    };
}

function crud(r: RunResult): string[] {
    return r.rpcCalls.filter((c) => ["Create", "Update", "Delete"].includes(c.method)).map((c) => `${c.method} ${c.urn.split("::").pop()}`);
}

/** how many of these steps ran at the same time as another one */
function overlapping(steps: Step[]): number {
    return steps.filter((s) => steps.some((o) => o !== s && (o.began ?? 0) < (s.ended ?? 0) && (s.began ?? 0) < (o.ended ?? 0))).length;
}

describe("the program runs under Pulumi's own runner", () => {
    it("a program that does not type-check fails the preview with the compiler's error", async () => {
        const run: StackRun = { projectDir: path.join(__dirname, "broken-project"), stack: "dev", stateFile: path.join(tmp, "b.json") };
        const err = await preview(run).then(
            () => undefined,
            (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(EngineRunError);
        expect((err as EngineRunError).result.diagnostics.join("\n")).toMatch(/Unable to compile TypeScript[^]*TS2322/);
    });

    it("this project's stack program compiles under the runner with Pulumi.yaml's options, and stops at its config check", async () => {
        // with the Pulumi.yaml of commit 5e4e6fb (no runtime.options.tsconfig) this failed with TS2322 in recipes/volumeBacked.ts
        const run: StackRun = {
            projectDir: REPO,
            stack: "compile-check",
            stateFile: path.join(tmp, "c.json"),
            config: { "openstack-recovery:server": "web-1" },
        };
        const err = await preview(run).then(
            () => undefined,
            (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(EngineRunError);
        const text = `${(err as EngineRunError).message}\n${(err as EngineRunError).result.diagnostics.join("\n")}`;
        expect(text).not.toMatch(/Unable to compile|TSError|error TS\d+/);
        expect(text).toMatch(/openstack-recovery:incident/);
    });
});

describe("steps like the engine", () => {
    it("runs independent steps in parallel up to --parallel, and one at a time with --parallel 1", async () => {
        const wide = await up(toy({ count: 4, delayMs: 1500 }, "parallel", { parallel: 4 }));
        const creates = wide.steps.filter((s) => s.op === "create" && s.custom);
        expect(creates).toHaveLength(4);
        expect(overlapping(creates)).toBe(4);
        const d = await destroy(toy({ count: 4, delayMs: 1500 }, "parallel", { parallel: 4 }));
        // the four are one layer of deletes: they run together too
        expect(overlapping(d.steps.filter((s) => s.custom))).toBe(4);

        fs.rmSync(path.join(tmp, "state"), { recursive: true });
        const narrow = await up(toy({ count: 3, delayMs: 500 }, "parallel", { parallel: 1 }));
        expect(overlapping(narrow.steps.filter((s) => s.op === "create" && s.custom))).toBe(0);
        await destroy(toy({ count: 3 }, "parallel", { parallel: 1 }));
    });

    it("a resource recorded with initErrors gets an Update on the next up even when Diff sees no change", async () => {
        await expect(up(toy({ withC: true, cFail: "partial" }))).rejects.toThrow(/never became ready/);
        expect(readState(toy({}).stateFile).resources.find((r) => r.urn.endsWith("::c"))?.initErrors).toEqual([
            "timed out waiting for ready",
        ]);
        const next = await up(toy({ withC: true }));
        expect(crud(next)).toEqual(["Update c"]);
        expect(readState(toy({}).stateFile).resources.find((r) => r.urn.endsWith("::c"))).toMatchObject({
            initErrors: [],
            outputs: { ready: true },
        });
        // and then it is an ordinary resource: no change, no call
        expect(crud(await up(toy({ withC: true })))).toEqual([]);
        await destroy(toy({}));
    });

    it("a delete-before-replace first deletes the dependents it forces to be replaced, then recreates them after it", async () => {
        await up(toy({ bReplaceOnRef: true }));
        const r = await up(toy({ bReplaceOnRef: true, aName: "alpha2", aDbr: true }));
        expect(crud(r)).toEqual(["Delete b", "Delete a", "Create a", "Create b"]);
        expect(r.steps.find((s) => s.urn.endsWith("::b") && !s.replacing)).toMatchObject({ op: "replace" });
        const ids = readState(toy({}).stateFile)
            .resources.filter((x) => /::(a|b)$/.test(x.urn))
            .map((x) => `${x.urn.split("::").pop()} ${x.id}${x.pendingReplacement ? " pending" : ""}`);
        expect(ids).toEqual(["a alpha2-3", "b beta-4"]);
        await destroy(toy({}));
    });

    it("--replace replaces without asking Diff: the new one first, unless the resource has the deleteBeforeReplace option", async () => {
        const first = await up(toy({ withC: true }));
        const c = first.steps.find((x) => x.urn.endsWith("::c"))!.urn;
        expect(crud(await up(toy({ withC: true }, "default", { replace: [c] })))).toEqual(["Create c", "Delete c"]);
        expect(crud(await up(toy({ withC: true, cDbrOption: true }, "default", { replace: [c] })))).toEqual(["Delete c", "Create c"]);
        await destroy(toy({}));
    });

    it("deletes what the program dropped after the program, dependents in an earlier layer than what they depend on", async () => {
        await up(toy({ withC: true }));
        const r = await up(toy({ withC: false }));
        expect(crud(r)).toEqual(["Delete c"]);
        const d = await destroy(toy({}));
        const order = d.steps.map((s) => s.urn.split("::").pop());
        expect(order.indexOf("b")).toBeLessThan(order.indexOf("a"));
        expect(order.indexOf("a")).toBeLessThan(order.indexOf("grp"));
        expect(order.indexOf("grp")).toBeLessThan(order.indexOf("proj-dev"));
    });
});

/** Start `cli.ts <args>` in its own process group; resolves with its output once it has exited. */
function cli(
    args: string[],
    onLine?: (line: string, kill: () => void) => void,
): Promise<{ code: number | null; signal: string | null; out: string }> {
    const child = spawn(process.execPath, [path.join(REPO, "test", "run-ts.js"), path.join(__dirname, "cli.ts"), ...args], {
        cwd: REPO,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    // a killed CLI takes its whole process group with it: the runner and the provider host are its children
    const kill = () => killTree(child.pid!);
    const feed = (d: Buffer) => {
        const text = d.toString();
        out += text;
        for (const line of text.split("\n")) if (line) onLine?.(line, kill);
    };
    child.stdout.on("data", feed);
    child.stderr.on("data", feed);
    return new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal, out })));
}

/** SIGKILL a process and every descendant (the runner and the host start groups of their own). */
function killTree(pid: number): void {
    const children = (p: number): number[] => {
        try {
            return fs
                .readFileSync(`/proc/${p}/task/${p}/children`, "utf8")
                .trim()
                .split(/\s+/)
                .filter(Boolean)
                .map(Number)
                .flatMap((c) => [c, ...children(c)]);
        } catch {
            return [];
        }
    };
    for (const p of [pid, ...children(pid)].reverse()) {
        try {
            process.kill(p, "SIGKILL");
        } catch {
            /* gone */
        }
    }
}

describe("a killed up, the journal, and the refresh that repairs it", () => {
    function runFile(variant: Record<string, unknown>, scenario: string): string {
        const f = path.join(tmp, "run.json");
        fs.writeFileSync(f, JSON.stringify({ ...toy(variant, scenario), parallel: 1 }));
        return f;
    }

    it("keeps every finished step and the create under way as a pending operation; --clear-pending-creates forgets it and the next up creates it", async () => {
        const file = runFile({ count: 3, delayMs: 4000 }, "parallel");
        const killed = await cli(["up", "--run-file", file], (line, kill) => {
            if (/^begin create .*::p1$/.test(line)) kill();
        });
        expect(killed.signal).toBe("SIGKILL");
        const st = readState(toy({}).stateFile);
        expect(st.resources.filter((r) => /::p\d$/.test(r.urn)).map((r) => r.urn.split("::").pop())).toEqual(["p0"]);
        expect(st.pendingOperations.map((o) => `${o.type} ${o.resource.urn.split("::").pop()}`)).toEqual(["creating p1"]);

        // an up before the repair warns, and keeps the pending create (journal_snapshot.go copies them)
        const warned = await up(toy({ count: 3 }, "parallel"));
        expect(warned.warnings.join("\n")).toMatch(/1 pending operations from previous deployment[^]*p1, interrupted while creating/);
        expect(readState(toy({}).stateFile).pendingOperations).toHaveLength(1);

        const cleared = await cli(["refresh", "--run-file", file, "--clear-pending-creates"]);
        expect(cleared.code).toBe(0);
        expect(readState(toy({}).stateFile).pendingOperations).toEqual([]);
        await destroy(toy({}, "parallel"));
    });

    it("--import-pending-creates cannot adopt a dynamic resource: the engine's import Read carries no __provider, so the refresh fails and changes nothing", async () => {
        const file = runFile({ count: 1, delayMs: 6000 }, "parallel");
        await cli(["up", "--run-file", file], (line, kill) => {
            // the toy's create makes the object half-way through: kill after that, before the create returns
            if (/^begin create .*::p0$/.test(line)) setTimeout(kill, 4500);
        });
        const pending = readState(toy({}).stateFile).pendingOperations;
        expect(pending.map((o) => o.type)).toEqual(["creating"]);
        expect(readLog(world).find((e) => e.op === "create")?.id).toBe("p0-1");
        const urn = pending[0]!.resource.urn;
        // step.go ImportStep.Apply reads with the id alone; the dynamic-provider host needs __provider from the state
        await expect(refresh(toy({ count: 1 }, "parallel"), { importPendingCreates: { [urn]: "p0-1" } })).rejects.toThrow(
            /code must be a string/,
        );
        expect(readState(toy({}).stateFile).pendingOperations).toHaveLength(1);
        // what works for dynamic resources: clear it, and let the program adopt or sweep what the create made
        await refresh(toy({ count: 1 }, "parallel"), { clearPendingCreates: true });
        expect(readState(toy({}).stateFile).pendingOperations).toEqual([]);
        await destroy(toy({}, "parallel"));
    });
});
