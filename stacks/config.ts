// The stack config of an incident, validated by one zod schema built from the recipes: the common
// keys (incident, server, strategy, verify) and a discriminated union of the recipes' sections on the
// strategy chosen (`recipe`). Every key lives under the project namespace (`openstack-recovery:`);
// credentials live under `openstack:` (see clients/openstack/credentials.ts). An error names the key
// and the command that fixes it, before anything is changed.
import { z } from "zod";
import { ConfigError, type ConfigOf } from "../recipes/recipe";
import { RECIPES } from "../recipes/registry";

export { ConfigError };

export const NAMESPACE = "openstack-recovery";

const Incident = z
    .string({ error: "required" })
    .regex(
        /^[A-Za-z0-9][A-Za-z0-9._-]{2,39}$/,
        "must be 3-40 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. INC1234)",
    );

const STRATEGIES = RECIPES.map((r) => r.strategy);

/** The keys every stack has, whatever the recipe. */
export const CommonSection = z.object({
    /** the incident id: every temporary thing is described `<incident> DELETE ME` */
    incident: Incident,
    /** the server that will not boot: name or id */
    server: z.string({ error: "required" }).min(1),
    /** auto: the first recipe that fits the server (recipes/registry.ts); or a recipe's strategy */
    strategy: z.enum(["auto", ...STRATEGIES] as [string, ...string[]]).default("auto"),
    /** the operator's own check, run on this machine (`/bin/sh -c`) once the recovered server is ACTIVE;
     *  it gets RECOVERED_SERVER_ID, RECOVERED_SERVER_NAME, RECOVERED_IP(S), REPAIRED_VOLUME_ID and
     *  INCIDENT; a non-zero exit fails the `up` (nothing is rolled back: the replacement stays) */
    verify: z
        .preprocess(
            (v) => (typeof v === "string" ? { command: v } : v), // `pulumi config set verify '<command>'`, the short form
            z.strictObject(
                { command: z.string({ error: "required" }).min(1, "must not be empty") },
                { error: 'must be a command, or an object such as {"command": "..."}' },
            ),
        )
        .optional(),
});
export type CommonSection = z.infer<typeof CommonSection>;

/** One member per recipe: the common keys, its section, strict at every level; `recipe` is the
 *  strategy chosen (the discriminator: `strategy` itself may be "auto"). */
const member = (r: (typeof RECIPES)[number]) =>
    z
        .strictObject({ ...CommonSection.shape, ...r.section.shape, recipe: z.literal(r.strategy) })
        .superRefine((c, ctx) => r.refine?.(c, (path, message) => ctx.addIssue({ code: "custom", path, message })));

export const RecoveryConfig = z.discriminatedUnion(
    "recipe",
    RECIPES.map(member) as unknown as [ReturnType<typeof member>, ...ReturnType<typeof member>[]],
);
/** The common keys are always there, whatever the recipes' own types are. */
export type RecoveryConfig = CommonSection & { recipe: string } & ConfigOf<(typeof RECIPES)[number]>;

/** Every top-level key some recipe knows, common keys first: what a misspelt key is compared with. */
const TOP_KEYS = [...new Set(["incident", "server", "strategy", ...RECIPES.flatMap((r) => Object.keys(r.section.shape)), "verify"])];

const EXAMPLES: Record<string, string> = {
    incident: "pulumi config set incident INC1234",
    server: "pulumi config set server <name or id of the broken server>",
    strategy: `pulumi config set strategy auto   (or one of: ${STRATEGIES.join(", ")})`,
    verify: `pulumi config set verify '<check command>'   (or pulumi config rm verify)`,
    ...Object.assign({}, ...RECIPES.map((r) => r.examples)),
};

/** Edit distance, case-insensitive: `keepip` is 0 from `keepIp`, `sshkeyfile` 0 from `sshKeyFile`. */
function distance(a: string, b: string): number {
    const x = a.toLowerCase();
    const y = b.toLowerCase();
    let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
    for (let i = 1; i <= x.length; i++) {
        const row = [i];
        for (let j = 1; j <= y.length; j++)
            row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
        prev = row;
    }
    return prev[y.length]!;
}

/** The known key nearest to a misspelt one, when it is near enough to be what was meant. */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
    const [best] = [...known].sort((a, b) => distance(key, a) - distance(key, b));
    return best !== undefined && distance(key, best) <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

/** A key the schema does not know: refused, or the recovery would go ahead with the default instead. */
function unknownKey(key: string, known: readonly string[]): ConfigError {
    const dotted = key.includes(".");
    const prefix = dotted ? key.slice(0, key.lastIndexOf(".") + 1) : "";
    const near = nearestKey(key.slice(prefix.length), known);
    const rm = `pulumi config rm ${dotted ? "--path " : ""}${key}`;
    return near
        ? new ConfigError(
              key,
              `unknown key; did you mean ${prefix}${near}?`,
              `${rm}; pulumi config set ${dotted ? "--path " : ""}${prefix}${near} <value>`,
          )
        : new ConfigError(key, `unknown key (known here: ${known.join(", ")})`, rm);
}

/** The object schema under defaults, optionals and preprocessing, if there is one. */
function unwrapObject(schema: z.ZodType | undefined): z.ZodObject | undefined {
    while (schema) {
        const def = (schema as unknown as { def: { type: string; innerType?: z.ZodType; out?: z.ZodType } }).def;
        if (def.type === "object") return schema as z.ZodObject;
        schema = def.innerType ?? (def.type === "pipe" ? def.out : undefined);
    }
    return undefined;
}

/** The keys a section of the chosen recipe's schema knows: `helper` -> server, address, sshUser, ... */
function sectionKeys(recipe: string, path: readonly PropertyKey[]): string[] {
    let section = unwrapObject(RecoveryConfig.options.find((o) => o.shape.recipe.value === recipe));
    for (const p of path) section = unwrapObject(section?.shape[String(p)] as z.ZodType | undefined);
    return section ? Object.keys(section.shape).filter((k) => k !== "recipe") : [];
}

/** The namespace's keys as the program gets them: JSON text parsed, except the plain strings. */
function readKeys(raw: (key: string) => string | undefined, allKeys: readonly string[]): Record<string, unknown> {
    for (const full of allKeys) {
        if (!full.startsWith(`${NAMESPACE}:`)) continue;
        const key = full.slice(NAMESPACE.length + 1);
        if (!TOP_KEYS.includes(key)) throw unknownKey(key, TOP_KEYS);
    }
    const obj: Record<string, unknown> = {};
    for (const key of TOP_KEYS) {
        const v = raw(`${NAMESPACE}:${key}`);
        if (v === undefined) continue;
        try {
            obj[key] = key === "incident" || key === "server" ? v : JSON.parse(v);
        } catch {
            obj[key] = v; // a plain string where JSON was expected: zod says what it should be
        }
    }
    return obj;
}

/** A misspelt key explains the "required" of the key it was meant to be: it goes first. */
const firstIssue = (e: z.ZodError): z.core.$ZodIssue => e.issues.find((i) => i.code === "unrecognized_keys") ?? e.issues[0]!;

function configError(issue: z.core.$ZodIssue, recipe: string): ConfigError {
    if (issue.code === "unrecognized_keys") {
        const key = [...issue.path, issue.keys[0]].join(".");
        const owner = issue.path.length === 0 ? RECIPES.find((r) => issue.keys[0]! in r.section.shape) : undefined;
        if (owner && owner.strategy !== recipe)
            return new ConfigError(
                key,
                `a key of strategy ${owner.strategy}, but the recovery is ${recipe}`,
                `pulumi config rm ${key}   (or pulumi config set strategy ${owner.strategy})`,
            );
        return unknownKey(key, sectionKeys(recipe, issue.path));
    }
    const key = issue.path.join(".") || "(config)";
    // the most specific example for this key: repair.actions.0 -> repair.actions
    const known = Object.keys(EXAMPLES)
        .filter((k) => key === k || key.startsWith(`${k}.`))
        .sort((a, b) => b.length - a.length)[0];
    return new ConfigError(key, issue.message, known ? EXAMPLES[known]! : `pulumi config set --path ${key} <value>`);
}

/**
 * The common keys alone (incident, server, strategy, verify): what the program needs to look at the
 * broken server before it knows which recipe fits. A misspelt key of the namespace is refused here.
 */
export function parseCommon(raw: (key: string) => string | undefined, allKeys: readonly string[] = []): CommonSection {
    const obj = readKeys(raw, allKeys);
    const r = CommonSection.safeParse(
        Object.fromEntries(
            Object.keys(CommonSection.shape)
                .filter((k) => k in obj)
                .map((k) => [k, obj[k]]),
        ),
    );
    if (!r.success) throw configError(firstIssue(r.error), "auto");
    return r.data;
}

/**
 * Parse the raw stack config (fully qualified keys -> string values, as Pulumi passes them to the
 * program: objects and booleans arrive as JSON text) for one recipe: `recipe`, else the config's
 * strategy, else (auto, before the server is looked at) the registry's first. `allKeys`, every key the
 * stack sets (the program passes `pulumi.runtime.allConfig()`'s), lets a misspelt key be refused.
 */
export function parseConfig(raw: (key: string) => string | undefined, allKeys: readonly string[] = [], recipe?: string): RecoveryConfig {
    const obj = readKeys(raw, allKeys);
    const strategy = typeof obj.strategy === "string" ? obj.strategy : "auto";
    const chosen = recipe ?? (strategy !== "auto" && STRATEGIES.includes(strategy) ? strategy : RECIPES[0].strategy);
    const r = RecoveryConfig.safeParse({ ...obj, recipe: chosen });
    if (r.success) return r.data as RecoveryConfig;
    throw configError(firstIssue(r.error), chosen);
}

/**
 * The whole config checked before the server is looked at, so a mistake in a recipe's section stops
 * the run before the first API call: against the recipe the config forces, or (auto) against each
 * recipe whose section knows every key set; refused only when none accepts it, with the first's
 * error. The recipe discovery picks is parsed again after (parseConfig).
 */
export function checkBeforeLooking(raw: (key: string) => string | undefined, allKeys: readonly string[] = []): void {
    const obj = readKeys(raw, allKeys);
    const strategy = typeof obj.strategy === "string" ? obj.strategy : "auto";
    const own = Object.keys(obj).filter((k) => !(k in CommonSection.shape));
    const candidates =
        strategy !== "auto" ? [strategy] : RECIPES.filter((r) => own.every((k) => k in r.section.shape)).map((r) => r.strategy);
    let first: ConfigError | undefined;
    for (const recipe of candidates) {
        try {
            parseConfig(raw, allKeys, recipe);
            return;
        } catch (e) {
            if (!(e instanceof ConfigError)) throw e;
            first ??= e;
        }
    }
    if (first) throw first; // no candidates: keys of two recipes; parseConfig says which after discovery
}
