// The recipe contract (ARCHITECTURE.md "Adding a recipe"). A recipe is one kind of recovery: it says
// which broken servers it fits and why, owns its config keys (a zod section the stack's config
// validates), looks at the cloud read-only to make its plan (so every problem stops the preview before
// anything changes), and builds its chain of steps as one ComponentResource. The stack program knows
// recipes only through this contract and the registry (recipes/registry.ts).
import type * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import type { blockStorage, compute, network, Session } from "../clients/openstack";

/** A config problem: names the key and how to fix it. */
export class ConfigError extends Error {
    constructor(
        readonly key: string,
        problem: string,
        readonly fix: string,
    ) {
        super(`openstack-recovery:${key}: ${problem}${fix ? `\n  fix: ${fix}` : ""}`);
        this.name = "ConfigError";
    }
}

/** What discovery found about one broken server, before anything changed (reads only). */
export interface ServerFacts {
    broken: compute.CompleteServer;
    volumeBacked: boolean;
    rootVolume?: blockStorage.Volume;
    /** its other volumes, including those this stack already moved to its replacement */
    dataVolumes: blockStorage.Volume[];
    /** its ports, including those this stack already moved to its replacement */
    ports: network.Port[];
}

/** The keys every stack has, whatever the recipe. */
export interface CommonConfig {
    incident: string;
    server: string;
    strategy: string;
    verify?: { command: string };
}

export interface RecipeContext {
    session: Session;
    /** `<organization>/<project>/<stack>`: the owner tag of everything created */
    stack: string;
    facts: ServerFacts;
}

/** What a chain gives the stack: its outputs, what destroy keeps, and what `verify` checks. */
export interface BuiltRecipe {
    component: pulumi.ComponentResource;
    outputs: Record<string, pulumi.Input<unknown>>;
    /** what `pulumi destroy` keeps, in words */
    retained: pulumi.Input<string[]>;
    /** the server the operator's `verify` command checks, when the recipe leaves one running */
    verifyTarget?: {
        serverId: pulumi.Output<string | undefined>;
        serverName: string;
        ipAddresses: pulumi.Output<string[]>;
        repairedVolumeId: pulumi.Output<string>;
    };
}

export interface BuildOptions {
    /** the stack's LeftoverSweep: the chain's first step waits for it, so destroy deletes it last */
    sweep?: { resource: pulumi.Resource; name: string };
}

export type Applicability = { fits: true; why: string } | { fits: false; why: string };

/** A recipe as the program and the config see it (its own types erased by defineRecipe, except the
 *  parsed config's, kept as a phantom for RecoveryConfig's type). */
export interface Recipe<C = unknown> {
    /** never set: carries the type of this recipe's parsed config */
    readonly parsedConfig?: C;
    /** the `strategy` config value that forces it, e.g. "volume-backed" */
    readonly strategy: string;
    /** one line for the README and the preview */
    readonly summary: string;
    /** its config keys, beside incident, server, strategy and verify */
    readonly section: z.ZodObject;
    /** further checks across keys (the whole config is passed) */
    readonly refine?: (config: CommonConfig, issue: (path: string[], message: string) => void) => void;
    /** `pulumi config set` examples for its keys, shown with an error on that key */
    readonly examples: Record<string, string>;
    applies(facts: ServerFacts): Applicability;
    /** read-only: look at what the recipe needs (helper, addresses, ...) and return its build */
    prepare(ctx: RecipeContext, config: CommonConfig): Promise<PreparedRecipe>;
}

export interface PreparedRecipe {
    /** one line for the preview: what it will do */
    describe: string;
    /** what the operator should know before `up` (shown as warnings in the preview) */
    warnings: string[];
    build(name: string, opts: BuildOptions): BuiltRecipe;
}

/** A recipe with its own types: its section's parsed config and its plan. */
export interface RecipeDefinition<N extends string, S extends z.ZodObject, P> {
    strategy: N;
    summary: string;
    section: S;
    refine?: (config: CommonConfig & z.output<S>, issue: (path: string[], message: string) => void) => void;
    examples?: Record<string, string>;
    applies(facts: ServerFacts): Applicability;
    plan(ctx: RecipeContext, config: CommonConfig & z.output<S>): Promise<P>;
    describe(plan: P): string;
    warnings?(plan: P): string[];
    build(name: string, plan: P, opts: BuildOptions): BuiltRecipe;
}

/** The config reached the recipe validated by the stack's schema (stacks/config.ts), section included. */
export function defineRecipe<N extends string, S extends z.ZodObject, P>(
    d: RecipeDefinition<N, S, P>,
): Recipe<CommonConfig & z.output<S> & { recipe: N }> {
    const typed = (config: CommonConfig) => {
        // the stack's schema parsed it for this recipe (`recipe` is its discriminator): else its
        // section's keys were never validated and the cast below would lie
        if ((config as { recipe?: unknown }).recipe !== d.strategy)
            throw new Error(`recipe ${d.strategy} given a config parsed for ${String((config as { recipe?: unknown }).recipe)}`);
        return config as CommonConfig & z.output<S>;
    };
    return {
        strategy: d.strategy,
        summary: d.summary,
        section: d.section,
        refine: d.refine ? (config, issue) => d.refine!(typed(config), issue) : undefined,
        examples: d.examples ?? {},
        applies: d.applies,
        async prepare(ctx, config) {
            const plan = await d.plan(ctx, typed(config));
            return { describe: d.describe(plan), warnings: d.warnings?.(plan) ?? [], build: (name, opts) => d.build(name, plan, opts) };
        },
    };
}

/** The parsed config of a recipe: the common keys, its section, and `recipe`, the strategy chosen. */
export type ConfigOf<R> = R extends Recipe<infer C> ? C : never;
