// The helper as the runbook uses it: `ssh cloud-user@<helper>` and `sudo`, not root. The lab's snap-mounter guest has
// a cloud image's default user (cloud-user, passwordless sudo), an ordinary sudoer whose sudo asks for a password
// (pw-user), and root (test/lab/guest.sh). The other lab e2e tests recover web-1 as cloud-user (test/support/incident.ts);
// keepFreeAddress.test.ts as root. Here: the guest's accounts as the repair relies on them, and a recovery whose
// helper user's sudo asks for a password: DiskRepair refuses, naming the user, the host and the fix, instead of
// "exited 1 without a valid report".
import { destroy, EngineRunError, up, type StackRun } from "../engine";
import { ensureSeededIncident, GIVE_BACK, helperConfig, web1Incident } from "../support/incident";
import { CLOUDS_YAML, requireLab, sshGuest, type Seed } from "../support/lab";

jest.setTimeout(15 * 60_000);

describe("the helper's user: a non-root sudoer, sudo -n", () => {
    let seed: Seed;
    let run: StackRun | undefined;

    beforeAll(() => {
        seed = ensureSeededIncident(requireLab());
        process.env.OS_CLIENT_CONFIG_FILE = CLOUDS_YAML;
    });
    afterAll(async () => {
        if (run) await destroy(run); // the clone the refused repair left attached to the helper
        delete process.env.OS_CLIENT_CONFIG_FILE;
    });

    it("the seed logs in as cloud-user, whose sudo -n needs no password; pw-user's asks for one; root logs in", async () => {
        const g = seed.snapMounter.guest;
        expect(g.user).toBe("cloud-user");
        const as = (user: string) => sshGuest("snap-mounter", "id -un; sudo -n id -un", 30_000, user);
        const cloud = await as("cloud-user");
        expect({ code: cloud.code, out: cloud.stdout.split("\n").filter(Boolean) }).toEqual({ code: 0, out: ["cloud-user", "root"] });
        const pw = await as(g.passwordSudoer!);
        expect(pw.code).toBe(1);
        expect(pw.stdout.trim()).toBe(g.passwordSudoer);
        expect(pw.stderr).toMatch(/sudo: a password is required/);
        const root = await as("root");
        expect({ code: root.code, out: root.stdout.split("\n").filter(Boolean) }).toEqual({ code: 0, out: ["root", "root"] });
        // the guest's accounts are its own: the host has neither user
        const { execFileSync } = await import("child_process");
        expect(() => execFileSync("id", ["cloud-user"], { stdio: "ignore" })).toThrow();
    });

    it("up with a helper user whose sudo asks for a password: the repair refuses, naming the user, host and fix", async () => {
        const user = seed.snapMounter.guest.passwordSudoer!;
        run = web1Incident(seed, "helper-password", "INC0052", { helper: helperConfig(seed, user), ...GIVE_BACK });
        let error: unknown;
        try {
            await up(run);
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(EngineRunError);
        const message = (error as Error).message;
        expect(message).toContain(`sudo on ${seed.snapMounter.guest.address} asks ${user} for a password`);
        expect(message).toContain('"sudo -n bash -s", which never asks');
        expect(message).toContain(`"${user} ALL=(ALL) NOPASSWD:ALL"`);
        expect(message).toContain("helper.sshUser to root");
        expect(message).not.toMatch(/without a valid report/);
        const steps = (error as EngineRunError).result.steps;
        expect(steps.filter((s) => s.error).map((s) => s.urn.split("::").pop())).toEqual([expect.stringMatching(/^INC0052.*-repair$/)]);
    });
});
