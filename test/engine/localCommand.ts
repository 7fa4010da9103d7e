/**
 * `command:local:Command` for the engine stand-in. The @pulumi/command plugin downloads from the internet, so
 * it cannot run here; this runs the operator's command the way its Create does, so a check written for the
 * real plugin behaves the same under the stand-in. Imitated from github.com/pulumi/pulumi-command,
 * provider/pkg/provider/local/commandOutputs.go run():
 *   - argv: interpreter, else ["/bin/sh", "-c"], then the command
 *   - cwd: dir, else the working directory; env: the process's own, then `environment` on top
 *   - stdin from `stdin`; a failure is `<exit error>: running "<command>":\n<stdout and stderr>`
 *   - outputs stdout and stderr, each with one trailing newline trimmed
 * Used as (part of) StackRun.mockResource; other types return undefined (the stand-in's default).
 */
import { spawn } from "child_process";
import { z } from "zod";
import type { MockedResource } from "./index";

const CommandInputs = z.object({
    create: z.string().optional(),
    interpreter: z.array(z.string()).optional(),
    dir: z.string().optional(),
    environment: z.record(z.string(), z.string()).optional(),
    stdin: z.string().optional(),
});

/** Asynchronous on purpose: a check that calls back into this process (the tests' API recorder) must not deadlock. */
export async function localCommand(r: {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
}): Promise<MockedResource | undefined> {
    if (r.type !== "command:local:Command") return undefined;
    const inp = CommandInputs.parse(r.inputs);
    const outputs = { ...r.inputs, stdout: "", stderr: "" };
    // a Command without `create` does nothing on create (command.go Create)
    if (inp.create === undefined) return { id: `${r.name}-id`, outputs };
    const [file, ...args] = inp.interpreter?.length ? inp.interpreter : ["/bin/sh", "-c"];
    const child = spawn(file, [...args, inp.create], {
        cwd: inp.dir ?? process.cwd(),
        env: { ...process.env, ...inp.environment },
        stdio: [inp.stdin ? "pipe" : "ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let both = "";
    child.stdout?.on("data", (d: Buffer) => ((stdout += d), (both += d)));
    child.stderr?.on("data", (d: Buffer) => ((stderr += d), (both += d)));
    // stdin only when given (else /dev/null, as exec.Cmd with a nil Stdin); a command that exits without reading it is fine
    child.stdin?.on("error", () => undefined).end(inp.stdin);
    const why = await new Promise<string | undefined>((resolve) => {
        child.on("error", (e) => resolve(e.message));
        child.on("close", (code, signal) => resolve(code === 0 ? undefined : signal ? `signal: ${signal}` : `exit status ${code}`));
    });
    if (why) throw new Error(`${why}: running ${JSON.stringify(inp.create)}:\n${both}`);
    return { id: `${r.name}-id`, outputs: { ...outputs, stdout: stdout.replace(/\n$/, ""), stderr: stderr.replace(/\n$/, "") } };
}
