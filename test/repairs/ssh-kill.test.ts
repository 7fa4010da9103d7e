// The SSH session dies in the middle of an action (the operator's laptop sleeps, the network
// drops): the script must notice, stop the action, unmount everything and leave what it already
// wrote, with its backup, in place. Run through a real sshd with ssh2, as DiskRepair does.
import { randomUUID } from "crypto";
import * as fs from "fs";
import { Client } from "ssh2";
import { buildRepairScript, parseRepairReport, REPORT_BEGIN, REPORT_END } from "../../toolkit";
import { attachDisk, buildDisk, checkFs, mountsOf, readExtFile } from "../support/disks";
import { sshdAvailable, startSshd, TestSshd } from "../support/sshd";
import { testWithLoop } from "./fixtures";

const sshd = sshdAvailable();
if (!sshd.ok) console.warn(`SKIPPED: SSH tests: ${sshd.reason}`);
const testSsh = sshd.ok ? testWithLoop : test.skip;

function connect(s: TestSshd): Promise<Client> {
    return new Promise((resolve, reject) => {
        const c = new Client();
        c.once("ready", () => resolve(c));
        c.once("error", reject);
        c.connect({
            host: s.host,
            port: s.port,
            username: s.user,
            privateKey: fs.readFileSync(s.privateKeyPath),
            hostVerifier: (key: Buffer) => key.toString("base64") === s.hostPublicKey.split(" ")[1],
        });
    });
}

async function waitFor(what: string, cond: () => boolean, ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (!cond()) {
        if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

describe("SSH session killed mid-action", () => {
    testSsh(
        "the disk ends unmounted, the action is stopped, the earlier backup is in place",
        async () => {
            const disk = buildDisk({ layout: "separate-boot", faults: ["missing-device"] });
            const att = attachDisk(disk.image, randomUUID());
            const server = await startSshd();
            const marker = `/tmp/osr-ssh-kill-${process.pid}`;
            try {
                const { script } = buildRepairScript({
                    volumeId: att.volumeId,
                    byIdDir: att.byIdDir,
                    actions: ["fstab", "custom"],
                    mode: "repair",
                    heartbeatSeconds: 1,
                    // slow, and leaves a trace if it is NOT stopped
                    customScript: `echo custom-started >&2\nsleep 60\ntouch ${marker}\n`,
                });
                const client = await connect(server);
                let stderr = "";
                const t0 = Date.now();
                await new Promise<void>((resolve, reject) => {
                    client.exec("bash -s", (err, stream) => {
                        if (err) return reject(err);
                        stream.stderr.on("data", (d: Buffer) => {
                            stderr += d.toString();
                            if (stderr.includes("custom-started")) resolve();
                        });
                        stream.on("close", () => reject(new Error(`script ended before the custom action started:\n${stderr}`)));
                        stream.end(script);
                    });
                });
                expect(mountsOf([att.loop, ...att.partitions]).length).toBeGreaterThan(0); // mid-action: mounted
                client.destroy(); // the connection dies: no EOF, no exit status, nothing
                await waitFor("the disk to be unmounted", () => mountsOf([att.loop, ...att.partitions]).length === 0, 30_000);
                const unmountedAfter = Date.now() - t0;
                // the helper keeps a copy of the report (written after the cleanup): it says why it stopped
                const saved = `/var/lib/openstack-recovery/reports/${att.volumeId}.json`;
                await waitFor("the report copy on the helper", () => fs.existsSync(saved), 10_000);
                const last = parseRepairReport(`${REPORT_BEGIN}\n${fs.readFileSync(saved, "utf8")}${REPORT_END}\n`);
                fs.rmSync(saved);
                expect(last.volumeId).toBe(att.volumeId);
                expect(last.error).toMatch(/interrupted by SIG(TERM|HUP|PIPE) during action custom/);
                expect(last.actions[0].status).toBe("changed");
                console.log(`session killed; disk unmounted ${unmountedAfter} ms after start; report: ${last.error}`);
            } finally {
                await server.stop();
                att.detach();
            }
            try {
                expect(fs.existsSync(marker)).toBe(false); // the custom script was stopped, not left to finish
                expect(readExtFile(disk.image, disk.rootOffsetBytes, "/var/lib/openstack-recovery/backup/etc/fstab")).toBe(disk.fstab);
                expect(readExtFile(disk.image, disk.rootOffsetBytes, "/etc/fstab")).toContain("defaults,nofail");
                expect(checkFs(disk).ok).toBe(true);
            } finally {
                disk.cleanup();
            }
        },
        90_000,
    );
});
