// The engine stand-in, end to end: a toy stack program with real dynamic resources, run through preview, up,
// update, replace, delete, refresh and destroy, with the real dynamic-provider host and a state file on disk.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    EngineRunError,
    destroy,
    formatResult,
    preview,
    readState,
    refresh,
    up,
    type RunResult,
    type StackRun,
    type StackState,
} from "./index";
import { readLog } from "./toy";

interface Variant {
    aName?: string;
    aSize?: number;
    aDbr?: boolean;
    withC?: boolean;
    retainB?: boolean;
    cFail?: string;
    token?: string;
    count?: number;
    delayMs?: number;
    size?: number;
}

let tmp: string;
let marker: string;

const projectDir = path.join(__dirname, "toy-project");

/** The toy project as a stack: the variant is read by the program from config, like any stack config. */
function runFor(v: () => Variant, extra: Partial<StackRun> & { scenario?: string } = {}): StackRun {
    const dir = path.join(tmp, "world");
    fs.mkdirSync(dir, { recursive: true });
    const { scenario, config, ...rest } = extra;
    return {
        stack: "dev",
        stateFile: path.join(tmp, "state", "dev.json"),
        projectDir,
        env: { STANDIN_TEST_MARKER: marker },
        ...rest,
        // read on every use, so a test can change the variant between runs
        get config() {
            return { "toy:dir": dir, "toy:variant": JSON.stringify(v()), ...(scenario ? { "toy:scenario": scenario } : {}), ...config };
        },
    };
}

/** The resources in a state, by name, without the default providers the engine records beside them. */
function names(st: StackState): (string | undefined)[] {
    return st.resources.filter((x) => !x.type.startsWith("pulumi:providers:")).map((x) => x.urn.split("::").pop());
}

function crud(r: RunResult): string[] {
    return r.rpcCalls
        .filter((c) => ["Create", "Update", "Delete", "Read"].includes(c.method))
        .map((c) => `${c.method} ${c.urn.split("::").pop()}`);
}

/** processes (ours) whose environment carries this test's marker: any live one is a leaked provider host */
function leakedHosts(): number[] {
    const pids: number[] = [];
    for (const p of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(p)) continue;
        try {
            if (fs.readFileSync(`/proc/${p}/environ`, "utf8").includes(`STANDIN_TEST_MARKER=${marker}`)) pids.push(Number(p));
        } catch {
            /* gone or not ours */
        }
    }
    return pids;
}

beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "standin-"));
    marker = path.basename(tmp);
});
afterEach(() => {
    expect(leakedHosts()).toEqual([]);
    fs.rmSync(tmp, { recursive: true, force: true });
});

describe("engine stand-in with the real dynamic-provider host", () => {
    it("preview makes only Check calls on a new stack, shows computed outputs as unknown, and writes no state", async () => {
        const run = runFor(() => ({}));
        const r = await preview(run);
        expect(r.rpcCalls.map((c) => c.method)).toEqual(["Handshake", "GetPluginInfo", "Configure", "Check", "Check"]);
        expect(r.steps.map((s) => `${s.op} ${s.type}`)).toEqual([
            "create pulumi:pulumi:Stack",
            "create toy:index:Group",
            "create pulumi-nodejs:dynamic/toy:Thing",
            "create pulumi-nodejs:dynamic/toy:Thing",
        ]);
        expect(r.outputs).toMatchObject({ aId: "[unknown]" });
        expect(r.changes.create).toBe(4);
        expect(fs.existsSync(run.stateFile)).toBe(false);
        expect(readLog(path.join(tmp, "world"))).toEqual([]);
    });

    it("up creates in dependency order; a second up is all same; preview of a change diffs without mutating", async () => {
        let v: Variant = {};
        const run = runFor(() => v);
        const first = await up(run);
        expect(crud(first)).toEqual(["Create a", "Create b"]);
        expect(first.outputs).toEqual({ aId: "alpha-1", bRef: "beta-2", aToken: "[secret]" });
        const st = readState(run.stateFile);
        const b = st.resources.find((x) => x.urn.endsWith("::b"));
        const a = st.resources.find((x) => x.urn.endsWith("::a"));
        expect(a?.parent).toMatch(/toy:index:Group::grp$/);
        expect(b?.dependencies).toContain(a?.urn);
        expect(b?.propertyDependencies["ref"]).toEqual([a?.urn]);
        expect(names(st)).toEqual(["proj-dev", "grp", "a", "b"]);

        const second = await up(run);
        expect(crud(second)).toEqual([]);
        expect(second.rpcCalls.filter((c) => c.method === "Diff")).toHaveLength(2);
        expect(second.changes).toMatchObject({ same: 4, create: 0, update: 0, replace: 0, delete: 0 });

        v = { aSize: 5 };
        const pv = await preview(run);
        expect(crud(pv)).toEqual([]);
        expect(pv.steps.find((s) => s.urn.endsWith("::a"))).toMatchObject({ op: "update", diffs: ["size"] });

        const third = await up(run);
        expect(crud(third)).toEqual(["Update a"]);
        expect(readLog(path.join(tmp, "world")).map((e) => `${e.op} ${e.id}`)).toEqual([
            "create alpha-1",
            "create beta-2",
            "update alpha-1",
        ]);
        expect(readState(run.stateFile).resources.find((x) => x.urn.endsWith("::a"))?.outputs["size"]).toBe(5);
    });

    it("replaces create-before-delete by default (old one deleted at the end) and delete-before-replace when Diff asks", async () => {
        let v: Variant = { withC: true };
        const run = runFor(() => v);
        await up(run);

        v = { withC: true, aName: "alpha2" };
        const cbd = await up(run);
        const aStep = cbd.steps.find((s) => s.urn.endsWith("::a") && !s.replacing);
        expect(aStep).toMatchObject({ op: "replace", replaces: ["name"], deleteBeforeReplace: false });
        // the new `a` is created first, dependents are updated, the old `a` is deleted last
        expect(crud(cbd)).toEqual(["Create a", "Update b", "Delete a"]);
        expect(cbd.changes).toMatchObject({ replace: 1, update: 1, same: 3, delete: 0 });
        const log = readLog(path.join(tmp, "world"));
        expect(log.slice(-3).map((e) => `${e.op} ${e.id}`)).toEqual(["create alpha2-4", "update beta-2", "delete alpha-1"]);

        v = { withC: true, aName: "alpha3", aDbr: true };
        const dbr = await up(run);
        expect(dbr.steps.find((s) => s.urn.endsWith("::a") && !s.replacing)).toMatchObject({ op: "replace", deleteBeforeReplace: true });
        expect(crud(dbr)).toEqual(["Delete a", "Create a", "Update b"]);
        const ids = readState(run.stateFile)
            .resources.filter((x) => x.urn.endsWith("::a"))
            .map((x) => x.id);
        expect(ids).toEqual(["alpha3-5"]);
    });

    it("deletes resources removed from the program at the end; destroy deletes in reverse dependency order and honours retainOnDelete", async () => {
        let v: Variant = { withC: true, retainB: true };
        const run = runFor(() => v);
        await up(run);
        v = { retainB: true };
        const r = await up(run);
        expect(crud(r)).toEqual(["Delete c"]);
        expect(r.steps[r.steps.length - 1]).toMatchObject({ op: "delete" });
        expect(r.changes.delete).toBe(1);

        const d = await destroy(run);
        expect(d.steps.map((s) => `${s.op} ${s.urn.split("::").pop()}${s.retained ? " (retained)" : ""}`)).toEqual([
            "delete b (retained)",
            "delete a",
            "delete grp",
            "delete proj-dev",
        ]);
        expect(crud(d)).toEqual(["Delete a"]);
        expect(readState(run.stateFile).resources).toEqual([]);
        expect(fs.existsSync(path.join(tmp, "world", "beta-2.obj.json"))).toBe(true);
        expect(fs.existsSync(path.join(tmp, "world", "alpha-1.obj.json"))).toBe(false);
    });

    it("refresh reads every dynamic resource and drops the ones whose read returns an empty id", async () => {
        const run = runFor(() => ({}));
        await up(run);
        fs.rmSync(path.join(tmp, "world", "beta-2.obj.json"));
        fs.writeFileSync(path.join(tmp, "world", "alpha-1.obj.json"), JSON.stringify({ name: "alpha", size: 9 }));
        const r = await refresh(run);
        expect(crud(r)).toEqual(["Read a", "Read b"]);
        expect(r.steps.filter((s) => s.custom).map((s) => `${s.urn.split("::").pop()} ${s.refreshResult}`)).toEqual([
            "a update",
            "b delete",
        ]);
        const st = readState(run.stateFile);
        expect(names(st)).toEqual(["proj-dev", "grp", "a"]);
        expect(st.resources.find((x) => x.urn.endsWith("::a"))?.outputs["size"]).toBe(9);
        const next = await preview(run);
        expect(next.steps.find((s) => s.urn.endsWith("::b"))?.op).toBe("create");
    });

    it("records a partially created resource with its id, fails the run, and destroy deletes it", async () => {
        const run = runFor(() => ({ withC: true, cFail: "partial" }));
        const err = await up(run).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(EngineRunError);
        const result = (err as EngineRunError).result;
        expect((err as EngineRunError).message).toMatch(/gamma-3 created but never became ready/);
        expect(result.steps.find((s) => s.urn.endsWith("::c"))?.error).toMatch(/never became ready/);
        const c = readState(run.stateFile).resources.find((x) => x.urn.endsWith("::c"));
        expect(c).toMatchObject({ id: "gamma-3", initErrors: ["timed out waiting for ready"] });
        expect(c?.outputs["ready"]).toBe(false);

        const d = await destroy(run);
        expect(crud(d)).toEqual(["Delete c", "Delete b", "Delete a"]);
        expect(fs.readdirSync(path.join(tmp, "world")).filter((f) => f.endsWith(".obj.json"))).toEqual([]);
    });

    it("a plain create failure fails the run, starts nothing after it, and keeps what was done", async () => {
        const run = runFor(() => ({ withC: true, cFail: "plain" }));
        await expect(up(run)).rejects.toThrow(/cannot create gamma/);
        const st = readState(run.stateFile);
        expect(names(st)).toEqual(["proj-dev", "grp", "a", "b"]);
        await destroy(run);
    });

    it("never writes a secret in plaintext; secret inputs make same-named outputs secret; additionalSecretOutputs too", async () => {
        const run = runFor(() => ({ token: "tok-very-secret" }));
        const r = await up(run);
        expect(r.outputs["aToken"]).toBe("[secret]");
        const text = fs.readFileSync(run.stateFile, "utf8");
        expect(text).not.toContain("tok-very-secret");
        expect(text).toContain("ciphertext");
        const a = readState(run.stateFile).resources.find((x) => x.urn.endsWith("::a"));
        expect(a?.inputs["token"]).toEqual({
            "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
            value: "tok-very-secret",
        });
        // same-named output re-marked secret (annotateSecrets) and a derived one by additionalSecretOutputs
        expect(a?.outputs["token"]).toMatchObject({ value: "tok-very-secret" });
        expect(a?.outputs["apiToken"]).toMatchObject({ value: "derived-tok-very-secret" });
        // a second up with the same secret is a no-op
        expect(crud(await up(run))).toEqual([]);
        await destroy(run);
    });

    it("configures the host like the default pulumi-nodejs provider: all config, namespaces kept, secrets in plaintext", async () => {
        const dir = path.join(tmp, "world");
        const run = runFor(() => ({}), {
            scenario: "probe",
            config: { "toy:endpoint": "http://127.0.0.1:9", "toy:apiKey": "k-123", "proj:password": "pw-456" },
            secretConfigKeys: ["toy:apiKey", "proj:password"],
        });
        const r = await up(run);
        expect(r.rpcCalls.slice(0, 3).map((c) => c.method)).toEqual(["Handshake", "GetPluginInfo", "Configure"]);
        const seen = JSON.parse(fs.readFileSync(path.join(dir, "config-seen.json"), "utf8")) as Record<string, string>;
        expect(seen).toMatchObject({ viaConfigure: "pw-456", viaEnvConfig: "http://127.0.0.1:9", viaEnvSecret: "k-123", project: "proj" });
        expect(JSON.parse(seen["env"] ?? "{}")).toEqual(run.config);
        await destroy(run);
    });

    it("captures what providers log as diagnostics and renders a CLI-like result", async () => {
        const run = runFor(() => ({}));
        const r = await up(run);
        expect(r.diagnostics).toEqual(expect.arrayContaining(["creating alpha as alpha-1", "info: [runtime] made alpha-1"]));
        const text = formatResult(r, "Updating (dev)");
        expect(text).toMatch(/\+\s+[│├└─ ]*pulumi-nodejs:dynamic\/toy:Thing\s+a\s+create/);
        expect(text).toMatch(/Resources:\n\s+\+ 4 to create/);
        await destroy(run);
    });

    it("records plugin-backed resources with mocked outputs, feeds them to dynamic resources, and deletes them without a call", async () => {
        let size = 1;
        const run = runFor(() => ({ size }), {
            scenario: "command",
            mockResource: ({ type, name, inputs }) =>
                type === "command:local:Command" ? { id: `cmd-${name}`, outputs: { ...inputs, stdout: "42" } } : undefined,
        });
        const pv = await preview(run);
        expect(pv.steps.find((s) => s.type === "command:local:Command")).toMatchObject({ op: "create", mocked: true });
        expect(pv.outputs["size"]).toBe("[unknown]");
        const r = await up(run);
        expect(r.outputs["size"]).toBe(42);
        const cmdState = readState(run.stateFile).resources.find((x) => x.type === "command:local:Command");
        // recorded the way the engine records a plugin-backed resource: with its default provider
        expect(cmdState).toMatchObject({
            id: "cmd-probe",
            outputs: { stdout: "42" },
            provider: expect.stringMatching(/::pulumi:providers:command::default_4_5_0::[0-9a-f-]{36}$/),
        });
        size = 2;
        const u = await up(run);
        expect(u.steps.find((s) => s.type === "command:local:Command")).toMatchObject({ op: "update", diffs: ["create"], mocked: true });
        const d = await destroy(run);
        expect(crud(d)).toEqual(["Delete t"]);
        expect(d.steps.find((s) => s.type === "command:local:Command")).toMatchObject({ op: "delete", mocked: true });
    });

    it("fails a preview whose Check reports a failure, naming the property", async () => {
        await expect(preview(runFor(() => ({}), { scenario: "neg" }))).rejects.toThrow(
            /property size value -1 has a problem: must be >= 0/,
        );
    });
});
