// The rehearsal's arguments: `npm run demo -- [--recipe NAME] [SERVER | --host HOST]`. One parser for
// test/demo.sh (which checks them before it touches the lab), test/demo.ts and test/demo-pulumi.sh.
// Pure: the recipes it knows are given (recipes/registry.ts's strategies), so it is tested without a cloud.

/** The seeded incident the demo knows the config of (test/support/incident.ts web1Run). */
export const DEFAULT_SERVER = "web-1";

export interface DemoArgs {
    /** "auto" (the first recipe that fits, as `strategy: auto`) or a recipe's strategy */
    recipe: string;
    /** the broken server; web-1 unless a SERVER or --host is given */
    server?: string;
    /** a whole compute host (no recipe of this version recovers one: see demoTarget) */
    host?: string;
    /** --help: print demoUsage, run nothing */
    help?: true;
}

/** A mistake in the arguments (exit code 2, like a usage error): names the argument, lists the recipes. */
export class DemoArgsError extends Error {
    readonly exitCode = 2;
    constructor(message: string) {
        super(message);
        this.name = "DemoArgsError";
    }
}

const SYNOPSIS = "npm run demo -- [--recipe NAME] [SERVER | --host HOST]";
const known = (strategies: readonly string[]) => ["auto", ...strategies];

/** The full --help text; `summaries` (strategy -> one line) describe the recipes when given. */
export function demoUsage(strategies: readonly string[], summaries: Readonly<Record<string, string>> = {}): string {
    const recipes = [["auto", "(default) the first recipe below that fits the server, as `strategy: auto`"]]
        .concat(strategies.map((s) => [s, summaries[s] ?? ""]))
        .map(([name, text]) => `  ${name.padEnd(16)}${text}`.trimEnd());
    return [
        `usage: ${SYNOPSIS}`,
        "",
        "Rehearse a recovery on the local lab cloud: bring the lab up (seeding it only when it was never seeded",
        "or its incident is not in its seeded state), then preview, up, show the result and destroy, with the",
        "Pulumi CLI or, without one, the engine stand-in (test/engine).",
        "",
        `  SERVER          the broken server (default ${DEFAULT_SERVER}, the seeded volume-backed incident; the seeded`,
        "                  eph-1 is ephemeral). The demo has web-1's config; for another server it sets `server`",
        "                  to it and the stack's own preview accepts or refuses it",
        "  --host HOST     recover every server of a compute host: no recipe of this version does",
        "  --recipe NAME   the recipe to run (config `strategy`), default auto",
        "  --help          this text",
        "",
        "recipes:",
        ...recipes,
    ].join("\n");
}

function refuse(problem: string, strategies: readonly string[]): never {
    throw new DemoArgsError(`${problem}\nusage: ${SYNOPSIS}   (--help for more)\nrecipes: ${known(strategies).join(", ")}`);
}

/** Parse the demo's arguments; throws a DemoArgsError naming the wrong argument. */
export function parseDemoArgs(argv: readonly string[], strategies: readonly string[]): DemoArgs {
    if (argv.some((a) => a === "--help" || a === "-h")) return { recipe: "auto", help: true };
    let recipe: string | undefined;
    let server: string | undefined;
    let host: string | undefined;
    let positionalOnly = false;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i]!;
        const option = positionalOnly ? null : /^(--recipe|--host)(?:=(.*))?$/s.exec(a);
        if (option) {
            const [, name, inline] = option;
            const what = name === "--recipe" ? "NAME" : "HOST";
            const value = inline ?? (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith("-") ? argv[++i] : undefined);
            if (!value) refuse(`${name} needs a ${what}: ${name} ${what}`, strategies);
            if (name === "--recipe") {
                if (recipe !== undefined) refuse(`--recipe given twice (--recipe ${recipe}, --recipe ${value})`, strategies);
                if (!known(strategies).includes(value)) refuse(`unknown recipe "${value}" (--recipe ${value})`, strategies);
                recipe = value;
            } else {
                if (host !== undefined) refuse(`--host given twice (--host ${host}, --host ${value})`, strategies);
                host = value;
            }
        } else if (a === "--" && !positionalOnly) {
            positionalOnly = true;
        } else if (a.startsWith("-") && !positionalOnly) {
            refuse(`unknown option "${a}"`, strategies);
        } else {
            if (!a.trim()) refuse(`an empty SERVER ("${a}")`, strategies);
            if (server !== undefined) refuse(`one SERVER at a time (got "${server}" and "${a}")`, strategies);
            server = a;
        }
    }
    if (server !== undefined && host !== undefined)
        refuse(`SERVER "${server}" and --host ${host}: give one or the other, not both`, strategies);
    return host !== undefined ? { recipe: recipe ?? "auto", host } : { recipe: recipe ?? "auto", server: server ?? DEFAULT_SERVER };
}

/** What the demo runs: one server with a recipe. Refuses what no recipe of this version does (a whole host). */
export function demoTarget(args: DemoArgs, strategies: readonly string[]): { server: string; recipe: string } {
    if (args.host !== undefined)
        throw new DemoArgsError(
            `no recipe of this version recovers a whole host (--host ${args.host}); recipes: ${known(strategies).join(", ")}, ` +
                `each for one server: ${SYNOPSIS.replace("[SERVER | --host HOST]", "SERVER")}`,
        );
    return { server: args.server ?? DEFAULT_SERVER, recipe: args.recipe };
}
