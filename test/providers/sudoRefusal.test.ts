// DiskRepair as a user other than root runs `sudo -n bash -s`: when sudo wants a password (or is missing) the script
// never starts, and the step says so with the user, the host and the fix (the lab shows it for real:
// test/e2e/helperUser.test.ts).
import { sudoRefusal } from "../../providers/diskRepair";

describe("DiskRepair's sudo refusal", () => {
    it("sudo asks for a password: names the user, the host and both fixes", () => {
        const m = sudoRefusal("pw-user", "10.0.0.5", { code: 1, stdout: "", stderr: "sudo: a password is required\n" });
        expect(m).toContain("sudo on 10.0.0.5 asks pw-user for a password");
        expect(m).toContain('"pw-user ALL=(ALL) NOPASSWD:ALL"');
        expect(m).toContain("helper.sshUser to root");
    });
    it("no sudo on the helper", () => {
        expect(sudoRefusal("cloud-user", "h", { code: 127, stdout: "", stderr: "bash: line 1: sudo: command not found\n" })).toMatch(
            /cloud-user@h has no sudo/,
        );
    });
    it("the script ran (a report on stdout), or failed for another reason: no refusal", () => {
        expect(sudoRefusal("cloud-user", "h", { code: 1, stdout: '{"ok":false}', stderr: "sudo: a password is required" })).toBeNull();
        expect(sudoRefusal("cloud-user", "h", { code: 1, stdout: "", stderr: "mount: wrong fs type" })).toBeNull();
    });
});
