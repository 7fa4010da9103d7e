// The stand-in's command:local:Command runs the operator's command as the plugin would (real /bin/sh, real
// processes): only on up, never on preview; with the environment on top of the process's own; a failure fails the
// up with the command's output, and the resource is not recorded, so the next up runs it again.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EngineRunError, preview, readState, up, type StackRun } from "./index";
import { localCommand } from "./localCommand";

describe("command:local:Command under the stand-in", () => {
    let tmp: string;
    beforeEach(() => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "osr-localcmd-"));
    });
    afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it("runs under /bin/sh -c with the environment on top of the process's, trimming one trailing newline", async () => {
        process.env.OSR_FROM_PROCESS = "inherited";
        try {
            const r = await localCommand({
                type: "command:local:Command",
                name: "c",
                inputs: { create: 'echo "$OSR_FROM_PROCESS $WHO"; echo warn >&2; printf "\\n"', environment: { WHO: "env" } },
            });
            expect(r?.outputs).toMatchObject({ stdout: "inherited env\n", stderr: "warn" });
        } finally {
            delete process.env.OSR_FROM_PROCESS;
        }
        expect(
            (
                await localCommand({
                    type: "command:local:Command",
                    name: "c",
                    inputs: { create: "cat", interpreter: ["/bin/bash", "-c"], stdin: "in" },
                })
            )?.outputs?.stdout,
        ).toBe("in");
        expect(await localCommand({ type: "openstack:compute/instance:Instance", name: "vm", inputs: {} })).toBeUndefined();
    });

    it("a failing command names its exit status and shows its output", async () => {
        await expect(
            localCommand({ type: "command:local:Command", name: "c", inputs: { create: "echo not yet; exit 3" } }),
        ).rejects.toThrow(/^exit status 3: running "echo not yet; exit 3":\nnot yet/);
    });

    it("a stack's check runs on up only, and a failed check fails the up and runs again next time", async () => {
        const marker = path.join(tmp, "ran");
        let pass = false;
        const world = path.join(tmp, "world");
        fs.mkdirSync(world, { recursive: true });
        const run: StackRun = {
            stack: "dev",
            stateFile: path.join(tmp, "state.json"),
            projectDir: path.join(__dirname, "toy-project"),
            mockResource: localCommand,
            get config() {
                const check = `echo run >> ${marker}; [ "$PASS" = yes ] || { echo "server not answering" >&2; exit 1; }; echo ok`;
                return { "toy:dir": world, "toy:scenario": "check", "toy:variant": JSON.stringify({ check, pass }) };
            },
        };
        await preview(run);
        expect(fs.existsSync(marker)).toBe(false);

        const failed = await up(run).then(
            () => undefined,
            (e: unknown) => e,
        );
        expect(failed).toBeInstanceOf(EngineRunError);
        expect((failed as EngineRunError).message).toMatch(/exit status 1: running "echo run[^]*server not answering/);
        expect(readState(run.stateFile).resources.filter((r) => r.type === "command:local:Command")).toEqual([]);

        pass = true;
        const r = await up(run);
        expect(r.outputs.out).toBe("ok");
        expect(fs.readFileSync(marker, "utf8")).toBe("run\nrun\n");
    });
});
