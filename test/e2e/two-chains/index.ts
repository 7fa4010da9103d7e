// Many chains, one stack: one LeftoverSweep, then for each server the volume-backed recipe's plan
// and build, with the same config but the server, each chain named <incident>-<server>.
import * as pulumi from "@pulumi/pulumi";
import { connect } from "../../../clients/openstack";
import { LeftoverSweep, SWEEP_NAME } from "../../../providers/leftoverSweep";
import { chainName } from "../../../providers/tags";
import { volumeBackedRecipe } from "../../../recipes/volumeBacked";
import { parseConfig } from "../../../stacks/config";
import { discover } from "../../../stacks/discover";

export = async () => {
    const servers = JSON.parse(new pulumi.Config("two-chains").require("servers")) as string[];
    const raw = (key: string) => pulumi.runtime.getConfig(key);
    const keys = Object.keys(pulumi.runtime.allConfig()).filter((k) => k.startsWith("openstack-recovery:"));
    const config = parseConfig(raw, keys, volumeBackedRecipe.strategy);
    const stack = `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
    const session = await connect(raw, (m) => pulumi.log.debug(m));
    const sweep = new LeftoverSweep(SWEEP_NAME, { incident: config.incident, stack });
    const out: Record<string, unknown> = {};
    for (const server of servers) {
        const facts = await discover(session, { server }, stack);
        const prepared = await volumeBackedRecipe.prepare({ session, stack, facts }, { ...config, server });
        const built = prepared.build(chainName(config.incident, facts.broken.name), { sweep: { resource: sweep, name: SWEEP_NAME } });
        out[server] = { ...built.outputs, retained: built.retained };
    }
    return out;
};
