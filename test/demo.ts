// The demo without a Pulumi CLI: preview, up, show the result, destroy, through the engine stand-in.
//   node test/run-ts.js test/demo.ts [--recipe NAME] [SERVER | --host HOST]   the rehearsal (after `npm run lab:up`)
// and, for test/demo.sh and test/demo-pulumi.sh, before the argument list (each checks the arguments first):
//   --check-args     check them only: exit 0, 2 for a mistake, HELP_SHOWN after printing --help
//   --print-target   print the server and the recipe, one a line (the usage on stderr for --help)
//   --ensure-seed    seed the lab when needed (never seeded, or web-1 not as seeded), say which
//   --summary OUTPUTS_JSON UP_LOG SERVER   the closing summary from `pulumi stack output --json` and `pulumi up`'s output
// Only the arguments' modules load before they are checked: a mistake fails in seconds, before the lab is touched.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { z } from "zod";
import { RECIPES } from "../recipes/registry";
import type { Seed } from "./support/lab";
import { DemoArgsError, demoTarget, demoUsage, parseDemoArgs } from "./support/demoArgs";

const STRATEGIES = RECIPES.map((r) => r.strategy);
const SUMMARIES = Object.fromEntries(RECIPES.map((r) => [r.strategy, r.summary]));
/** --check-args / --print-target exit code when --help was asked: the usage is printed, run nothing (demo.sh exits 0). */
const HELP_SHOWN = 10;
const MODES = ["--check-args", "--print-target", "--ensure-seed", "--summary"] as const;
type Mode = (typeof MODES)[number];

interface Report {
    actions: { name: string; diffs: { path: string; diff: string }[] }[];
}

/** The lab seeded, and its incident as seeded: seeds only when it never was (or its seed is of another shape), or
 *  when web-1 is not in its seeded state (ensureSeededIncident: its port is not on web-1). */
async function seededLab(): Promise<{ seed: Seed; how: string }> {
    const { REPO, SEED_JSON, requireLab, seedSchema } = await import("./support/lab");
    const { ensureSeededIncident } = await import("./support/incident");
    const { OscError } = await import("./support/oscli");
    const seedLab = () => execFileSync("bash", [path.join(REPO, "test", "lab", "lab.sh"), "seed"], { stdio: "inherit", timeout: 600_000 });
    const rel = path.relative(REPO, SEED_JSON);
    let found: "none" | "other" | "ok" = "none";
    if (fs.existsSync(SEED_JSON)) {
        try {
            found = seedSchema.safeParse(JSON.parse(fs.readFileSync(SEED_JSON, "utf8"))).success ? "ok" : "other";
        } catch {
            found = "other";
        }
    }
    if (found !== "ok") {
        console.log(
            found === "none"
                ? `\nThe lab has never been seeded (no ${rel}): seeding it (npm run lab:seed)`
                : `\n${rel} is not of this version's shape: seeding the lab again (npm run lab:seed)`,
        );
        seedLab();
        return {
            seed: requireLab(),
            how: found === "none" ? "seeded the lab (it had never been seeded)" : "seeded the lab again (its seed was of another shape)",
        };
    }
    const seed = requireLab();
    console.log(
        "\nThe lab is seeded: checking that web-1 and eph-1 are in their seeded state (broken, their ports on them); re-seeding if not (about 30 s)",
    );
    try {
        const now = ensureSeededIncident(seed);
        if (now === seed) return { seed, how: "reused the seeded state (no re-seed)" };
        return { seed: now, how: "re-seeded the lab (a port of web-1 or eph-1 was not on it: an earlier recovery had moved it)" };
    } catch (e) {
        if (!(e instanceof OscError)) throw e;
        console.log(`web-1's seeded port is not there (${e.message}): seeding the lab again`);
        seedLab();
        return { seed: requireLab(), how: "re-seeded the lab (web-1's seeded port was gone)" };
    }
}

const ipsOf = (addresses: unknown): string[] =>
    Object.values((addresses ?? {}) as Record<string, (string | { addr?: string })[]>).flatMap((list) =>
        list.map((a) => (typeof a === "string" ? a : String(a.addr))),
    );

/** The closing lines: what was recovered, how and why, and what destroy kept. `log` is what the program logged:
 *  its own account of the broken server ("...; ports P (IP); strategy auto chose R: why"). */
function summary(o: {
    server: string;
    outputs: Record<string, unknown>;
    log: readonly string[];
    replacement?: { name: string; status: string; ips: string[] };
}): string[] {
    const out = o.outputs;
    const told = o.log.map((l) => /; ports (.*?); (strategy (?:auto chose|\S+ \(set in the config\)).*)$/.exec(l)).find((m) => m);
    // DiskRepair's log: "running repair (fstab) on cloud-user@10.251.0.20 (sudo -n bash -s) for volume ..."
    const ran = o.log.map((l) => /\[DiskRepair [^\]]*\] running \S+ \(.*?\) on (\S+@\S+) \(([^)]*)\)/.exec(l)).find((m) => m);
    const oldIps = told ? [...told[1]!.matchAll(/\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(", ")) : [];
    const r = o.replacement;
    let recovered: string;
    if (!r) recovered = `${o.server}: no replacement booted (the recipe's config boots none)`;
    else {
        const kept = r.ips.filter((ip) => oldIps.includes(ip));
        const fresh = r.ips.filter((ip) => !oldIps.includes(ip));
        const where = [
            kept.length ? `${kept.join(", ")} (the old address${kept.length > 1 ? "es" : ""})` : "",
            fresh.length ? `${fresh.join(", ")} (new${oldIps.length ? `; the old: ${oldIps.join(", ")}` : ""})` : "",
        ].filter(Boolean);
        recovered = `${o.server} -> ${r.name} ${r.status} at ${where.join(", ") || "no address"}`;
    }
    return [
        `Recovered:       ${recovered}, recipe ${String(out.strategy)}`,
        `Why this recipe: ${told ? told[2] : `the stack's output strategy: ${String(out.strategy)}`}`,
        `Repaired volume: ${String(out.repairedVolumeId)}${r ? ` (${r.name}'s root now)` : ""}: ${String(out.repairSummary)}`,
        ...(ran ? [`Repaired as:     ${ran[1]} on the helper, with ${ran[2]}`] : []),
        ...(r ? [`Boot:            ${bootLine(out.bootProof)}`] : []),
        ...(out.verifyOutput !== undefined ? [`Verify (yours):  ${String(out.verifyOutput)}`] : []),
        `Destroy kept:    ${((out.retained as string[] | undefined) ?? []).join("; ") || "nothing"}`,
    ];
}

const BootEvidence = z.object({ outcome: z.string(), evidence: z.array(z.string()), seconds: z.number() });

function bootLine(proof: unknown): string {
    if (proof === undefined)
        return "not proven (bootProof.enabled false: the lab boots for real only web-1's disk, built by test/repairs/boot-image.sh)";
    const p = BootEvidence.parse(proof);
    return `proven: its console reached "${p.evidence.at(-1) ?? ""}" after ${p.seconds} s`;
}

async function replacementOf(outputs: Record<string, unknown>): Promise<{ name: string; status: string; ips: string[] } | undefined> {
    if (outputs.newServerId === undefined) return undefined;
    const { osc } = await import("./support/oscli");
    const s = osc(
        ["server", "show", String(outputs.newServerId)],
        z.object({ name: z.string(), status: z.string(), addresses: z.unknown() }),
    );
    return { name: s.name, status: s.status, ips: ipsOf(s.addresses) };
}

async function rehearse(target: { server: string; recipe: string }): Promise<number> {
    const { EngineRunError, destroy, formatResult, preview, up } = await import("./engine");
    const { LAB_VERIFY, ephemeralConfig, web1Run } = await import("./support/incident");
    const { CLOUDS_YAML, LAB_DIR, labBootsForReal } = await import("./support/lab");
    const t0 = Date.now();
    const secs = () => `${((Date.now() - t0) / 1000).toFixed(0)}s`;
    const { server, recipe } = target;
    console.log(`\nRehearsing the recovery of ${server} with recipe ${recipe}${recipe === "auto" ? " (the first that fits)" : ""}`);
    const lab = await seededLab();
    console.log(`Lab: ${lab.how}`);
    if (server !== "web-1" && server !== "eph-1")
        console.log(
            `The demo has web-1's and eph-1's config (helper, compute host, verify); for ${server} it sets server ${server} and lets the stack's preview decide.`,
        );

    process.env.OS_CLIENT_CONFIG_FILE = CLOUDS_YAML;
    const stack = `demo-${server.replace(/[^A-Za-z0-9_.-]/g, "-")}`;
    const run = web1Run({
        seed: lab.seed,
        stack,
        cloudsFile: CLOUDS_YAML,
        stateDir: fs.mkdtempSync(path.join(os.tmpdir(), "osr-demo-")),
        config: {
            "openstack-recovery:server": server,
            ...(recipe !== "auto" ? { "openstack-recovery:strategy": recipe } : {}),
            "openstack-recovery:verify": LAB_VERIFY, // the operator's own check once the replacement is up
            // the replacement's boot read from its console, where the lab's compute driver really boots it (web-1's disk)
            "openstack-recovery:bootProof": JSON.stringify({ enabled: server === "web-1" && labBootsForReal() }),
            // eph-1: its compute host (compute-1, SSH as root with the seed's key) and a work directory for the copies
            ...(server === "eph-1"
                ? { "openstack-recovery:ephemeral": JSON.stringify(ephemeralConfig(lab.seed, path.join(LAB_DIR, "work"))) }
                : {}),
        },
    });
    // progress as the CLI shows it while a step runs (a clone or a boot takes minutes): steps and the providers' info lines
    const started = new Map<string, number>();
    run.onEvent = (e) => {
        const name = e.urn?.split("::").at(-1) ?? "";
        if (e.kind === "begin" && e.op !== "same" && e.urn) started.set(e.urn, Date.now());
        else if (e.kind === "end" && e.urn && started.has(e.urn)) {
            const s = ((Date.now() - started.get(e.urn)!) / 1000).toFixed(0);
            console.log(`    ${e.op} ${name}: ${e.error ? `failed after ${s} s` : `done in ${s} s`}`);
        } else if (e.kind === "log" && e.message?.startsWith("info: "))
            console.log(`    ${e.message.replace(/^info: (\[runtime\] )?/, "").trimEnd()}`);
    };

    console.log(`\n$ pulumi preview --diff      (stand-in, ${secs()})`);
    try {
        console.log(formatResult(await preview(run), `Previewing update (${stack})`));
    } catch (e) {
        if (!(e instanceof EngineRunError)) throw e;
        console.error(`\nThe stack's preview refused ${server} (nothing was changed):\n${e.message.replace(/^preview failed: /, "")}`);
        return 1;
    }

    console.log(`\n$ pulumi up                  (stand-in, ${secs()})`);
    let result: Awaited<ReturnType<typeof up>>;
    try {
        result = await up(run);
    } catch (e) {
        if (!(e instanceof EngineRunError)) throw e;
        // a rehearsal cleans up after itself: a failed up leaves what it made (a DELETE ME clone attached to
        // the helper, the recovery lock), and this run's state goes with the process
        console.error(`\npulumi up failed for ${server}:\n${e.message}\n\nDestroying what it made (${secs()}):`);
        console.error(formatResult(await destroy(run), `Destroying (${stack})`));
        return 1;
    }
    console.log(formatResult(result, `Updating (${stack})`));
    const o = result.outputs;
    const replacement = await replacementOf(o);
    for (const a of (o.repairReport as Report | undefined)?.actions ?? [])
        for (const d of a.diffs) console.log(`\n${a.name}: ${d.path}\n${d.diff}`);

    console.log(`\n$ pulumi destroy             (stand-in, ${secs()})`);
    console.log(formatResult(await destroy(run), `Destroying (${stack})`));
    console.log(`\nSummary (${lab.how}; done in ${secs()})`);
    for (const line of summary({ server, outputs: o, log: result.diagnostics, replacement })) console.log(line);
    return 0;
}

async function main(argv: string[]): Promise<number> {
    const mode = (MODES as readonly string[]).includes(argv[0] ?? "") ? (argv.shift() as Mode) : undefined;
    if (mode === "--summary") {
        const [outputsFile, upLog, server] = argv;
        if (!outputsFile || !upLog || !server) throw new Error("usage: demo.ts --summary OUTPUTS_JSON UP_LOG SERVER");
        const outputs = JSON.parse(fs.readFileSync(outputsFile, "utf8")) as Record<string, unknown>;
        const log = fs.readFileSync(upLog, "utf8").split("\n");
        for (const line of summary({ server, outputs, log, replacement: await replacementOf(outputs) })) console.log(line);
        return 0;
    }
    let target: { server: string; recipe: string };
    try {
        const args = parseDemoArgs(argv, STRATEGIES);
        if (args.help) {
            (mode === "--print-target" ? console.error : console.log)(demoUsage(STRATEGIES, SUMMARIES));
            return mode === "--check-args" || mode === "--print-target" ? HELP_SHOWN : 0;
        }
        target = demoTarget(args, STRATEGIES);
    } catch (e) {
        if (!(e instanceof DemoArgsError)) throw e;
        console.error(`demo: ${e.message}`);
        return e.exitCode;
    }
    if (mode === "--check-args") return 0;
    if (mode === "--print-target") {
        console.log(`${target.server}\n${target.recipe}`);
        return 0;
    }
    if (mode === "--ensure-seed") {
        console.log(`Lab: ${(await seededLab()).how}`);
        return 0;
    }
    return rehearse(target);
}

// exit when done, like the CLI: the stand-in may leave a timer running after an operation
main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: Error) => {
        console.error(`demo failed: ${e.message}`);
        process.exit(1);
    },
);
