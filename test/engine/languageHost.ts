// What `pulumi-language-nodejs` does for `pulumi preview/up`: start Pulumi's own program runner
// (@pulumi/pulumi/cmd/run) with the arguments, environment and working directory the CLI gives it, and
// report how it ended. Each rule cites its source in github.com/pulumi/pulumi.
import { spawn, type ChildProcess } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";

/** The parts of Pulumi.yaml the engine and the language host read (sdk/go/common/workspace/project.go). */
const ProjectSchema = z.object({
    name: z.string(),
    runtime: z.union([z.string(), z.object({ name: z.string(), options: z.record(z.string(), z.unknown()).optional() })]),
    main: z.string().optional(),
    stackConfigDir: z.string().optional(),
});
export type Project = z.infer<typeof ProjectSchema> & { root: string };

export function readProject(root: string): Project {
    const yaml = require(require.resolve("js-yaml", { paths: [__dirname] })) as { load: (s: string) => unknown };
    const file = path.join(root, "Pulumi.yaml");
    return { ...ProjectSchema.parse(yaml.load(fs.readFileSync(file, "utf8"))), root };
}

/** pkg/engine/project.go getPwdMain: a `main` that is a file runs from its directory, with its base name as entry point. */
export function pwdMain(project: Project): { pwd: string; main: string } {
    if (!project.main) return { pwd: project.root, main: "." };
    const main = path.resolve(project.root, project.main);
    if (!fs.existsSync(main)) throw new Error(`project 'main' could not be read: ${main}`);
    return fs.statSync(main).isDirectory() ? { pwd: main, main: "." } : { pwd: path.dirname(main), main: path.basename(main) };
}

export interface RunProgramOptions {
    project: Project;
    organization: string;
    stack: string;
    dryRun: boolean;
    parallel: number;
    monitorAddress: string;
    engineAddress: string;
    /** fully qualified config keys `ns:key` → plaintext (RunRequest.config) */
    config: Record<string, string>;
    secretKeys: string[];
    env?: NodeJS.ProcessEnv;
    onOutput: (line: string) => void;
}

export interface ProgramProcess {
    child: ChildProcess;
    /** exit code (null when killed by a signal) once the process and its pipes are closed */
    done: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
    /** the language host's cancel: SIGINT, then SIGKILL after 5 s (main.go execRuntime: cmd.Cancel, cmd.WaitDelay) */
    cancel(): Promise<void>;
}

/** sdk/nodejs/cmd/pulumi-language-nodejs/main.go constructConfig: keys are passed as `<ns>:config:<name>`. */
function runnerConfig(config: Record<string, string>): string {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(config)) {
        const i = k.indexOf(":");
        out[i < 0 ? k : `${k.slice(0, i)}:config:${k.slice(i + 1)}`] = v;
    }
    return JSON.stringify(out);
}

export function startProgram(o: RunProgramOptions): ProgramProcess {
    const { pwd, main } = pwdMain(o.project);
    const options = typeof o.project.runtime === "string" ? {} : (o.project.runtime.options ?? {});
    // main.go locateModule: the runner is resolved from the program directory, like `require.resolve` in node
    const runPath = path.dirname(require.resolve("@pulumi/pulumi/cmd/run/index.js", { paths: [pwd] }));
    // main.go constructArguments (the --sync pipe directory is only read for synchronous invokes, which this
    // program never makes, so it is left out)
    const args = [
        runPath,
        "--monitor",
        o.monitorAddress,
        "--engine",
        o.engineAddress,
        "--organization",
        o.organization,
        "--project",
        o.project.name,
        "--root-directory",
        o.project.root,
        "--stack",
        o.stack,
        "--pwd",
        pwd,
        ...(o.dryRun ? ["--dry-run"] : []),
        "--parallel",
        String(o.parallel),
        main,
    ];
    // main.go execRuntime: os.Environ() + PULUMI_CONFIG + PULUMI_CONFIG_SECRET_KEYS + the runtime options
    const env: NodeJS.ProcessEnv = {
        ...process.env,
        ...o.env,
        PULUMI_CONFIG: runnerConfig(o.config),
        PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(o.secretKeys),
    };
    // parseOptions: typescript defaults to true
    if (options.typescript !== false) env.PULUMI_NODEJS_TYPESCRIPT = "true";
    else delete env.PULUMI_NODEJS_TYPESCRIPT;
    if (typeof options.tsconfig === "string") env.PULUMI_NODEJS_TSCONFIG_PATH = options.tsconfig;
    else delete env.PULUMI_NODEJS_TSCONFIG_PATH;
    // jest's own variables must not leak into the program: the CLI's environment has none
    for (const k of Object.keys(env)) if (k.startsWith("JEST_") || k === "NODE_OPTIONS") delete env[k];
    const nodeargs = typeof options.nodeargs === "string" ? options.nodeargs.split(/\s+/).filter(Boolean) : [];
    // The language host itself runs in the program directory (plugins start with ctx.Pwd); the runner then
    // changes to --pwd. Its own process group, so a cancel or a kill reaches everything it started.
    const child = spawn(process.execPath, [...nodeargs, ...args], { cwd: pwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    const lines = (stream: NodeJS.ReadableStream | null) => {
        let rest = "";
        stream?.on("data", (d: Buffer) => {
            const parts = (rest + d.toString()).split("\n");
            rest = parts.pop() ?? "";
            for (const l of parts) o.onOutput(l.replace(/\r$/, ""));
        });
        stream?.on("end", () => rest && o.onOutput(rest));
    };
    lines(child.stdout);
    lines(child.stderr);
    const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on("close", (code, signal) => resolve({ code, signal })),
    );
    let closed = false;
    void done.then(() => (closed = true));
    return {
        child,
        done,
        async cancel() {
            if (closed || child.pid === undefined) return;
            try {
                process.kill(-child.pid, "SIGINT");
            } catch {
                return;
            }
            const timer = setTimeout(() => {
                try {
                    process.kill(-child.pid!, "SIGKILL");
                } catch {
                    /* gone */
                }
            }, 5000);
            await done;
            clearTimeout(timer);
        },
    };
}
