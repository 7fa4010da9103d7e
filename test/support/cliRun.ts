// The engine stand-in as a command (test/engine/cli.ts) in a process of its own, like the `pulumi` CLI, for the
// tests that kill an operation part-way (SIGKILL: nothing more is written, as with a killed CLI) and then run the
// next commands the way an operator would.
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { StackRun } from "../engine";
import { REPO } from "./lab";

const CLI = [path.join(REPO, "test", "run-ts.js"), path.join(REPO, "test", "engine", "cli.ts")];
/** Set in the command's environment: the program runner and the provider host inherit it, so every process of
 *  one operation can be found (they run in process groups of their own). */
export const MARKER_VAR = "OSR_KILL_TEST_MARKER";

/** RUN.json for cli.ts: the serializable part of a StackRun; `mockLocalCommand` when the run has the verify imitation. */
export function writeRunFile(run: StackRun, file: string): string {
    const spec = {
        projectDir: run.projectDir,
        stack: run.stack,
        config: run.config ?? {},
        secretConfigKeys: run.secretConfigKeys ?? [],
        stateFile: run.stateFile,
        env: Object.fromEntries(Object.entries(run.env ?? {}).filter((e): e is [string, string] => typeof e[1] === "string")),
        ...(run.parallel ? { parallel: run.parallel } : {}),
        mockLocalCommand: run.mockResource !== undefined,
    };
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(spec, null, 2), { mode: 0o600 });
    return file;
}

/** Live processes whose environment carries `VAR=marker`. */
export function processesMarked(marker: string): number[] {
    const needle = `${MARKER_VAR}=${marker}\0`;
    const pids: number[] = [];
    for (const p of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
        try {
            if (
                fs.readFileSync(`/proc/${p}/environ`, "latin1").includes(needle) &&
                !/^\S+ \(\S*\) Z/.test(fs.readFileSync(`/proc/${p}/stat`, "latin1"))
            )
                pids.push(Number(p));
        } catch {
            /* gone, or not ours to read */
        }
    }
    return pids;
}

export interface CliProcess {
    lines: string[];
    /** exit code, or null when killed */
    done: Promise<number | null>;
    /** SIGKILL the command's process group, then every process of the operation (runner, host, their children) */
    kill(): Promise<void>;
    /** resolves with the first line matching `re` (rejects when the command ends first) */
    waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
}

export function startCli(command: string, runFile: string, args: string[], marker: string): CliProcess {
    const child = spawn(process.execPath, [...CLI, command, "--run-file", runFile, ...args], {
        cwd: REPO,
        env: { ...process.env, [MARKER_VAR]: marker },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
    });
    const lines: string[] = [];
    const watchers: { re: RegExp; resolve: (l: string) => void }[] = [];
    const feed = (stream: NodeJS.ReadableStream | null) => {
        let rest = "";
        stream?.on("data", (d: Buffer) => {
            const parts = (rest + d.toString()).split("\n");
            rest = parts.pop() ?? "";
            for (const l of parts) {
                lines.push(l);
                for (const w of watchers.filter((x) => x.re.test(l))) {
                    watchers.splice(watchers.indexOf(w), 1);
                    w.resolve(l);
                }
            }
        });
        stream?.on("end", () => rest && lines.push(rest));
    };
    feed(child.stdout);
    feed(child.stderr);
    const done = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    return {
        lines,
        done,
        async kill() {
            try {
                process.kill(-child.pid!, "SIGKILL");
            } catch {
                /* gone */
            }
            await done;
            for (let n = 0; n < 100; n++) {
                const left = processesMarked(marker);
                if (!left.length) return;
                for (const p of left) {
                    for (const target of [-p, p]) {
                        try {
                            process.kill(target, "SIGKILL");
                        } catch {
                            /* not a group leader, or gone */
                        }
                    }
                }
                await new Promise((r) => setTimeout(r, 100));
            }
            throw new Error(`processes of the killed operation still alive: ${processesMarked(marker).join(", ")}`);
        },
        waitForLine(re, timeoutMs = 300_000) {
            const hit = lines.find((l) => re.test(l));
            if (hit) return Promise.resolve(hit);
            return new Promise<string>((resolve, reject) => {
                const timer = setTimeout(
                    () => reject(new Error(`no line matching ${re} in ${timeoutMs} ms:\n${lines.slice(-30).join("\n")}`)),
                    timeoutMs,
                );
                watchers.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
                void done.then((code) => {
                    clearTimeout(timer);
                    reject(new Error(`the command ended (${code}) before a line matching ${re}:\n${lines.slice(-30).join("\n")}`));
                });
            });
        },
    };
}

/** Run a command to its end; rejects (with its output) when it exits non-zero. */
export async function cli(command: string, runFile: string, args: string[], marker: string): Promise<string[]> {
    const p = startCli(command, runFile, args, marker);
    const code = await p.done;
    if (code !== 0) throw new Error(`cli.ts ${command} ${args.join(" ")} exited ${code}:\n${p.lines.slice(-40).join("\n")}`);
    return p.lines;
}
