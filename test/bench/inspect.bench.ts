// Benchmark: how long an operator waits before the preview can say anything, i.e. inspecting the
// incident (the broken server, its volumes and port, the helper, the flavor), done by the stack's
// REST client versus the same reads with the `openstack` CLI as the runbook does them. Both run
// side by side in one process against the lab cloud, alternating, and the result is a ratio.
// Nothing here asserts a time: `npm run bench` prints the table.
import { execFileSync } from "child_process";
import { connect } from "../../clients/openstack";
import { Session } from "../../clients/openstack/session";
import { resolveAuth } from "../../clients/openstack/credentials";
import { parseConfig } from "../../stacks/config";
import { discover } from "../../stacks/discover";
import { CLOUDS_YAML, requireLab } from "../support/lab";

jest.setTimeout(15 * 60_000);
const ROUNDS = 3;

function cli(...args: string[]): string {
    return execFileSync("openstack", ["--os-cloud", "lab-member", ...args, "-f", "json"], {
        env: { ...process.env, OS_CLIENT_CONFIG_FILE: CLOUDS_YAML, PYTHONWARNINGS: "ignore" },
        encoding: "utf8",
    });
}

/** The runbook's reads (000 B step 2, 002), one CLI call each. */
function inspectWithCli(): void {
    const server = JSON.parse(cli("server", "show", "web-1")) as { id: string; flavor: string };
    const volumes = JSON.parse(cli("server", "volume", "list", server.id)) as { "Volume ID": string }[];
    for (const v of volumes) cli("volume", "show", v["Volume ID"]);
    cli("port", "list", "--server", server.id);
    cli("server", "show", "snap-mounter");
    cli("flavor", "list");
}

async function inspectWithClient(): Promise<void> {
    const config = parseConfig(
        (k) =>
            ({
                "openstack-recovery:incident": "INC0001",
                "openstack-recovery:server": "web-1",
                "openstack-recovery:helper": JSON.stringify({ server: "snap-mounter" }),
            })[k],
    );
    // a fresh session each round: authentication is part of what the operator waits for
    const s = await Session.connect(resolveAuth(() => undefined));
    await discover(s, config, "organization/openstack-recovery/bench");
    s.close();
}

async function time(f: () => unknown): Promise<number> {
    const t = process.hrtime.bigint();
    await f();
    return Number(process.hrtime.bigint() - t) / 1e9;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

it("inspecting the incident: REST client vs openstack CLI", async () => {
    requireLab();
    process.env.OS_CLIENT_CONFIG_FILE = CLOUDS_YAML;
    process.env.OS_CLOUD = "lab-member";
    await (await connect()).endpoint("compute"); // warm the caches both sides share (keystone, DB)
    inspectWithCli();
    const client: number[] = [];
    const viaCli: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
        client.push(await time(inspectWithClient));
        viaCli.push(await time(inspectWithCli));
    }
    const row = (name: string, xs: number[]) =>
        `${name.padEnd(28)} ${xs.map((x) => x.toFixed(2).padStart(6)).join(" ")}   median ${median(xs).toFixed(2)} s`;
    console.log(
        [
            `inspect web-1 (${ROUNDS} rounds, alternating, seconds)`,
            row("stack REST client", client),
            row("openstack CLI, call by call", viaCli),
            `ratio CLI / client: ${(median(viaCli) / median(client)).toFixed(1)}x`,
        ].join("\n"),
    );
    delete process.env.OS_CLOUD;
});
