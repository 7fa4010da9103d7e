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
import { spawnSync } from "child_process";
import { z } from "zod";

const CommandInputs = z.object({
    create: z.string().optional(),
    interpreter: z.array(z.string()).optional(),
    dir: z.string().optional(),
    environment: z.record(z.string(), z.string()).optional(),
    stdin: z.string().optional(),
});

export function localCommand(r: { type: string; name: string; inputs: Record<string, unknown> }): { id: string; outputs: Record<string, unknown> } | undefined {
    if (r.type !== "command:local:Command") return undefined;
    const inp = CommandInputs.parse(r.inputs);
    const outputs = { ...r.inputs, stdout: "", stderr: "" };
    // a Command without `create` does nothing on create (command.go Create)
    if (inp.create === undefined) return { id: `${r.name}-id`, outputs };
    const [file, ...args] = inp.interpreter?.length ? inp.interpreter : ["/bin/sh", "-c"];
    const p = spawnSync(file, [...args, inp.create], {
        cwd: inp.dir ?? process.cwd(),
        env: { ...process.env, ...inp.environment },
        input: inp.stdin,
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
    });
    if (p.error || p.status !== 0) {
        const why = p.error ? p.error.message : p.signal ? `signal: ${p.signal}` : `exit status ${p.status}`;
        throw new Error(`${why}: running ${JSON.stringify(inp.create)}:\n${p.stdout ?? ""}${p.stderr ?? ""}`);
    }
    return { id: `${r.name}-id`, outputs: { ...outputs, stdout: p.stdout.replace(/\n$/, ""), stderr: p.stderr.replace(/\n$/, "") } };
}
