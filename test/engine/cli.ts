// The engine stand-in as a command, in a process of its own like the `pulumi` CLI, so a test can SIGKILL it in
// the middle of a step and look at what the checkpoint kept (a killed CLI writes nothing more).
//
//   node test/run-ts.js test/engine/cli.ts <preview|up|destroy|refresh> --run-file RUN.json [--parallel N] [--replace URN]
//       [--clear-pending-creates] [--import-pending-creates URN ID ...]
//
// RUN.json holds the serializable part of a StackRun (projectDir, stack, config, secretConfigKeys, stateFile, env)
// plus `mockLocalCommand: true` to run @pulumi/command's local.Command the way its plugin does. Every step prints
// one line as it begins and ends (`begin create <urn>`), which is what a kill test waits for.
import * as fs from "fs";
import { z } from "zod";
import { EngineRunError, destroy, formatResult, preview, refresh, up, type RunResult, type StackRun } from "./index";
import { localCommand } from "./localCommand";

const RunFile = z.object({
    projectDir: z.string(),
    stack: z.string(),
    config: z.record(z.string(), z.string()).optional(),
    secretConfigKeys: z.array(z.string()).optional(),
    stateFile: z.string(),
    env: z.record(z.string(), z.string()).optional(),
    parallel: z.number().int().positive().optional(),
    mockLocalCommand: z.boolean().optional(),
});

async function main(argv: string[]): Promise<number> {
    const [command, ...rest] = argv;
    const flag = (name: string) => rest.indexOf(name);
    const runFile = rest[flag("--run-file") + 1];
    if (!command || flag("--run-file") < 0 || !runFile)
        throw new Error(
            "usage: cli.ts <preview|up|destroy|refresh> --run-file RUN.json [--parallel N] [--clear-pending-creates] [--import-pending-creates URN ID ...]",
        );
    const spec = RunFile.parse(JSON.parse(fs.readFileSync(runFile, "utf8")));
    const parallel = flag("--parallel") >= 0 ? Number(rest[flag("--parallel") + 1]) : spec.parallel;
    // --replace URN, repeatable
    const replace = rest.flatMap((a, n) => (a === "--replace" && rest[n + 1] ? [rest[n + 1]!] : []));
    const run: StackRun = {
        ...spec,
        parallel,
        ...(replace.length ? { replace } : {}),
        ...(spec.mockLocalCommand ? { mockResource: localCommand } : {}),
        onEvent: (e) => {
            if (e.kind !== "log")
                process.stdout.write(`${e.kind} ${e.op} ${e.urn}${e.error ? ` failed: ${e.error.split("\n")[0]}` : ""}\n`);
        },
    };
    let result: RunResult;
    try {
        if (command === "preview") result = await preview(run);
        else if (command === "up") result = await up(run);
        else if (command === "destroy") result = await destroy(run);
        else if (command === "refresh") {
            const i = flag("--import-pending-creates");
            const pairs = i >= 0 ? rest.slice(i + 1).filter((a) => !a.startsWith("--")) : [];
            const imports: Record<string, string> = {};
            for (let k = 0; k + 1 < pairs.length; k += 2) imports[pairs[k]!] = pairs[k + 1]!;
            result = await refresh(run, {
                clearPendingCreates: flag("--clear-pending-creates") >= 0,
                ...(i >= 0 ? { importPendingCreates: imports } : {}),
            });
        } else throw new Error(`unknown command ${command}`);
    } catch (e) {
        if (e instanceof EngineRunError) {
            process.stdout.write(formatResult(e.result, `${command} (${spec.stack})`) + "\n");
            process.stderr.write(`error: ${e.message}\n`);
            return 1;
        }
        throw e;
    }
    process.stdout.write(formatResult(result, `${command} (${spec.stack})`) + "\n");
    return 0;
}

main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
        process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exit(2);
    },
);
