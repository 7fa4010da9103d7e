// The seeded incident `web-1` as a stack run: the config an operator would set, credentials from
// the lab's clouds.yaml (rewritten to go through an ApiRecorder when one is given), the helper's
// host key pinned from the lab's known_hosts. Shared by the e2e tests and the demo.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { StackRun } from "../engine";
import type { ApiRecorder } from "./apiRecorder";

export const ROOT = path.resolve(__dirname, "../..");
export const LAB = path.join(ROOT, ".lab");
export const LAB_CLOUDS = path.join(LAB, "clouds.yaml");
export const HELPER_KEY = path.join(LAB, "keys", "snap-mounter_ed25519");

/** Fail with the command that fixes it, never skip quietly. */
export function requireLab(): void {
    const missing = [LAB_CLOUDS, HELPER_KEY, path.join(LAB, "seed.json")].filter((f) => !fs.existsSync(f));
    if (missing.length) throw new Error(`the lab cloud is not up and seeded (missing ${missing.join(", ")}): run \`npm run lab:up && npm run lab:seed\``);
}

/** A copy of the lab's clouds.yaml whose auth URLs point at the recorder. */
export function recordedClouds(recorder: ApiRecorder, dir: string): string {
    const text = fs.readFileSync(LAB_CLOUDS, "utf8").replace(/auth_url: *http:\/\/127\.0\.0\.1:5000\/v3/g, `auth_url: ${recorder.authUrl}`);
    const file = path.join(dir, "clouds.yaml");
    fs.writeFileSync(file, text, { mode: 0o600 });
    return file;
}

/** The host key line the lab recorded for this address (what an operator pins). */
export function pinnedHostKey(address: string): string {
    const line = fs.readFileSync(path.join(LAB, "known_hosts"), "utf8").split("\n").find((l) => l.split(/\s+/)[0].split(",").includes(address));
    if (!line) throw new Error(`no host key for ${address} in ${LAB}/known_hosts: re-run \`npm run lab:seed\``);
    return line.split(/\s+/).slice(1, 3).join(" ");
}

export interface IncidentOptions {
    stack: string;
    cloudsFile: string;
    helperAddress: string;
    incident?: string;
    /** extra or replaced config, fully qualified keys */
    config?: Record<string, string>;
    stateDir?: string;
}

export function web1Run(o: IncidentOptions): StackRun {
    const stateDir = o.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), `osr-${o.stack}-`));
    return {
        program: async () => (await import("../../stacks/program")).main(),
        project: "openstack-recovery",
        stack: o.stack,
        config: {
            "openstack:cloud": "lab-member",
            "openstack-recovery:incident": o.incident ?? "INC0042",
            "openstack-recovery:server": "web-1",
            "openstack-recovery:helper": JSON.stringify({ server: "snap-mounter", sshKeyFile: HELPER_KEY, hostKey: pinnedHostKey(o.helperAddress) }),
            ...o.config,
        },
        stateFile: path.join(stateDir, "state.json"),
        projectDir: ROOT,
        env: { OS_CLIENT_CONFIG_FILE: o.cloudsFile },
    };
}
