// The stack program: read the config, look at the broken server (reads only, so this runs at
// preview too and every config problem stops the run before anything changes), let the registry's
// recipe that fits (or the one the config forces) plan and build its chain, and export what the
// operator checks afterwards. It knows no recipe by name (recipes/registry.ts).
import * as pulumi from "@pulumi/pulumi";
import { connect } from "../clients/openstack";
import { LeftoverSweep, SWEEP_NAME } from "../providers/leftoverSweep";
import { chainName } from "../providers/tags";
import type { ServerFacts } from "../recipes/recipe";
import { checkBeforeLooking, ConfigError, parseCommon, parseConfig } from "./config";
import { chooseRecipe, discover } from "./discover";
import { postRecoveryCheck } from "./verify";

/** Config problems are the operator's to fix: print the message, not a stack trace. */
async function operatorErrors<T>(f: () => Promise<T>): Promise<T> {
    try {
        return await f();
    } catch (e) {
        if (e instanceof ConfigError) throw new pulumi.RunError(e.message);
        if (e instanceof Error && /^(AuthConfigError|ResourceNotFoundError|AmbiguousNameError|ApiVersionError)$/.test(e.name))
            throw new pulumi.RunError(e.message);
        throw e;
    }
}

export async function main(): Promise<Record<string, unknown>> {
    const raw = (key: string) => pulumi.runtime.getConfig(key);
    const keys = Object.keys(pulumi.runtime.allConfig());
    const stack = `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
    const { config, facts, recipe, prepared } = await operatorErrors(async () => {
        const common = parseCommon(raw, keys);
        checkBeforeLooking(raw, keys); // a recipe section's mistakes too, before the first API call
        const session = await connect(raw, (m) => pulumi.log.debug(m));
        const facts = await discover(session, common, stack, "server", (m) => pulumi.log.warn(m));
        const { recipe, why } = chooseRecipe(common.strategy, facts);
        const config = parseConfig(raw, keys, recipe.strategy);
        pulumi.log.info(`${describe(facts)}; ${why}`);
        return { config, facts, recipe, prepared: await recipe.prepare({ session, stack, facts }, config) };
    });
    pulumi.log.info(`${recipe.strategy}: ${prepared.describe}`);
    for (const w of prepared.warnings) pulumi.log.warn(w);

    // one per stack, waited for by every chain: destroy deletes it last, and it sweeps then
    const sweep = new LeftoverSweep(SWEEP_NAME, { incident: config.incident, stack });
    const built = prepared.build(chainName(config.incident, facts.broken.name), { sweep: { resource: sweep, name: SWEEP_NAME } });
    const target = built.verifyTarget;
    const check =
        config.verify && target
            ? postRecoveryCheck({ incident: config.incident, command: config.verify.command, ...target }, { dependsOn: [built.component] })
            : undefined;
    return {
        strategy: recipe.strategy,
        brokenServer: { id: facts.broken.id, name: facts.broken.name },
        ...built.outputs,
        retained: built.retained,
        ...(check ? { verifyOutput: check.stdout } : {}),
    };
}

function describe(f: ServerFacts): string {
    const addrs = f.ports.map((p) => `${p.id} (${p.fixed_ips.map((x) => x.ip_address).join(", ")})`).join(", ") || "none";
    return (
        `${f.broken.name} (${f.broken.id}, ${f.broken.status}) is ${f.volumeBacked ? `volume-backed: root volume ${f.rootVolume?.id} (${f.rootVolume?.size} GiB)` : "ephemeral"}; ` +
        `${f.dataVolumes.length} data volume(s); ports ${addrs}`
    );
}
