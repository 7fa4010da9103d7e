// The seeded incident `web-1` as a stack run: the config an operator would set, credentials from
// the lab's clouds.yaml (rewritten to go through an ApiRecorder when one is given), the helper's
// key and pinned host key from the seed. Shared by the e2e tests and the demo.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { checkpointPath, type StackRun } from "../engine";
import { localCommand } from "../engine/localCommand";
import type { ApiRecorder } from "./apiRecorder";
import { z } from "zod";
import { CLOUDS_YAML, readSeed, REPO, type Seed } from "./lab";
import { osc } from "./oscli";

/** A copy of the lab's clouds.yaml whose auth URLs point at the recorder. */
export function recordedClouds(recorder: ApiRecorder, dir: string): string {
    const text = fs
        .readFileSync(CLOUDS_YAML, "utf8")
        .replace(/auth_url: *http:\/\/127\.0\.0\.1:5000\/v3/g, `auth_url: ${recorder.authUrl}`);
    const file = path.join(dir, "clouds.yaml");
    fs.writeFileSync(file, text, { mode: 0o600 });
    return file;
}

/** The host key line the lab recorded for the helper (what an operator pins). */
export function pinnedHostKey(seed: Seed, g: Seed["snapMounter"]["guest"] = seed.snapMounter.guest): string {
    const line = fs
        .readFileSync(g.knownHosts, "utf8")
        .split("\n")
        .find((l) =>
            l
                .split(/\s+/)[0]
                .replace(/^\[|\]:\d+$/g, "")
                .split(",")
                .includes(g.address),
        );
    if (!line) throw new Error(`no host key for ${g.address} in ${g.knownHosts}: re-run \`npm run lab:seed\``);
    return line.split(/\s+/).slice(1, 3).join(" ");
}

/** A post-recovery check for the lab (its servers have no network to probe, so it asks Nova), as an operator sets `verify`.
 *  It reads the lab's own clouds.yaml: the operator's check is not the stack's traffic, so not the API recorder's. */
export const LAB_VERIFY =
    `OS_CLIENT_CONFIG_FILE=${CLOUDS_YAML} ` +
    'openstack --os-cloud lab-member server show "$RECOVERED_SERVER_ID" -f value -c status | grep -qx ACTIVE && echo "$RECOVERED_SERVER_NAME ACTIVE at $RECOVERED_IP, root $REPAIRED_VOLUME_ID"';

export interface IncidentOptions {
    seed: Seed;
    stack: string;
    cloudsFile: string;
    /** extra or replaced config, fully qualified keys */
    config?: Record<string, string>;
    stateDir?: string;
}

/** The helper config an operator sets for the lab's snap-mounter: SSH as its default user (cloud-user, who runs the
 *  repair with `sudo -n`), or as `user` (root, or the guest's passwordSudoer). */
export function helperConfig(seed: Seed, user: string = seed.snapMounter.guest.user): Record<string, string | number> {
    const g = seed.snapMounter.guest;
    return { server: "snap-mounter", sshUser: user, sshKeyFile: g.keyPath, hostKey: pinnedHostKey(seed), sshPort: g.port };
}

export function web1Run(o: IncidentOptions): StackRun {
    const stateDir = o.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `osr-${o.stack}-`));
    return {
        stack: o.stack,
        config: {
            "openstack:cloud": "lab-member",
            "openstack-recovery:incident": "INC0042",
            "openstack-recovery:server": "web-1",
            "openstack-recovery:helper": JSON.stringify(helperConfig(o.seed)),
            // a real boot (qemu TCG, about a minute on two cores) only where a test reads the console: test/e2e/bootProof.test.ts
            "openstack-recovery:bootProof": JSON.stringify({ enabled: false }),
            ...o.config,
        },
        stateFile: checkpointPath(stateDir, "openstack-recovery", o.stack),
        projectDir: REPO,
        env: { OS_CLIENT_CONFIG_FILE: o.cloudsFile },
        // the stack's optional post-recovery check (verify) really runs, as the @pulumi/command plugin would run it
        mockResource: localCommand,
    };
}

/** The ephemeral config an operator sets for eph-1: its compute host (the compute-1 guest, root with the seed's key,
 *  host key pinned) and a work directory of this run's own. */
export function ephemeralConfig(seed: Seed, workDir: string): Record<string, unknown> {
    const h = seed.eph1.computeHost;
    return {
        computeHost: { address: h.address, sshPort: h.port, sshUser: h.user, sshKeyFile: h.keyPath, hostKey: pinnedHostKey(seed, h) },
        workDir,
    };
}

/** eph-1 as an incident stack: web-1's run with server eph-1 and the ephemeral section. */
export function eph1Run(o: IncidentOptions & { workDir: string }): StackRun {
    const base = web1Run(o);
    return {
        ...base,
        config: {
            ...base.config,
            "openstack-recovery:server": "eph-1",
            "openstack-recovery:ephemeral": JSON.stringify(ephemeralConfig(o.seed, o.workDir)),
            ...o.config,
        },
    };
}

/** web-1 as an incident stack of its own, on the lab's clouds.yaml (no recorder); `config` keys are this project's,
 *  values as an operator sets them (objects and booleans are stored as JSON, like `pulumi config set --path`). */
export function web1Incident(seed: Seed, stack: string, incident: string, config: Record<string, unknown> = {}): StackRun {
    const project = Object.fromEntries(
        Object.entries({ incident, ...config }).map(([k, v]) => [`openstack-recovery:${k}`, typeof v === "string" ? v : JSON.stringify(v)]),
    );
    return web1Run({ seed, stack, cloudsFile: CLOUDS_YAML, config: project });
}

/** Nothing kept on destroy: the recovery undone, the broken server given back its port and volumes. */
export const GIVE_BACK = { retain: { server: false, rootVolume: false, port: false } };

/** Re-seed the lab: the incidents back to their broken state (about 30 s). */
export function reseed(): void {
    execFileSync("bash", [path.join(REPO, "test", "lab", "lab.sh"), "seed"], { stdio: "ignore", timeout: 300_000 });
}

/** Re-seed unless web-1 is as seeded: running, with its port (a recovery moves the port away). */
export function ensureSeededIncident(seed: Seed): Seed {
    const on = (portId: string) => osc(["port", "show", portId], z.object({ device_id: z.string() })).device_id;
    if (on(seed.web1.portId) === seed.web1.serverId && on(seed.eph1.portId) === seed.eph1.serverId) return seed;
    reseed();
    return readSeed();
}
