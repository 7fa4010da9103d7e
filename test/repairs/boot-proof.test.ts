// The proof that a repair makes a disk boot: a real minimal Debian 12 (debootstrap, cached by
// test/repairs/boot-image.sh), its fstab broken the way the runbook's incidents are (a data
// volume that is not there), booted with qemu-system-x86_64 under TCG (no KVM here; direct
// kernel boot), the serial console read: before the repair it ends in emergency mode, after the
// repair script ran on the disk it reaches a login prompt.
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import { randomUUID } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { EMERGENCY, LOGIN } from "../../toolkit/bootConsole";
import { attachDisk, readExtFile, writeExtFile } from "../support/disks";
import { testWithLoop } from "./fixtures";
import { explain, optsFor, runScript } from "./run";

const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const missing = ["qemu-system-x86_64", "debootstrap", "debugfs"].filter((c) => !has(c));
if (missing.length) console.warn(`SKIPPED: boot proof: ${missing.join(", ")} not installed (test/repairs/install-deps.sh --boot)`);
const testBoot = missing.length ? test.skip : testWithLoop;

interface Boot {
    outcome: "emergency" | "login" | "timeout" | "exited";
    ms: number;
    console: string;
}

function boot(dir: string, disk: string, uuid: string, timeoutMs: number): Promise<Boot> {
    const args = [
        "-accel",
        "tcg,thread=multi",
        "-cpu",
        "max",
        "-smp",
        "2",
        "-m",
        "1024",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "stdio",
        "-no-reboot",
        "-kernel",
        path.join(dir, "vmlinuz"),
        "-initrd",
        path.join(dir, "initrd.img"),
        // a short device timeout for both boots: a missing disk fails in 20 s, not 90 s
        "-append",
        `root=UUID=${uuid} ro console=ttyS0 systemd.default_timeout_start_sec=20 systemd.default_device_timeout_sec=20 systemd.show_status=1`,
        "-drive",
        `file=${disk},format=raw,if=virtio,cache=unsafe`,
        "-nic",
        "none",
    ];
    const t0 = Date.now();
    return new Promise((resolve) => {
        const q: ChildProcess = spawn("qemu-system-x86_64", args, { stdio: ["pipe", "pipe", "pipe"] });
        let out = "";
        let done = false;
        const finish = (outcome: Boot["outcome"]) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            q.kill("SIGKILL");
            resolve({ outcome, ms: Date.now() - t0, console: out });
        };
        const timer = setTimeout(() => finish("timeout"), timeoutMs);
        const onData = (d: Buffer) => {
            out += d.toString("utf8");
            if (EMERGENCY.test(out)) finish("emergency");
            else if (LOGIN.test(out)) finish("login");
        };
        q.stdout?.on("data", onData);
        q.stderr?.on("data", onData);
        q.on("exit", () => finish("exited"));
    });
}

describe("boot proof (qemu, TCG)", () => {
    testBoot(
        "a broken fstab ends in emergency mode; after the repair the same disk reaches a login prompt",
        async () => {
            const t0 = Date.now();
            const dir = execFileSync("bash", [path.join(__dirname, "boot-image.sh")], {
                encoding: "utf8",
                timeout: 25 * 60_000,
                stdio: ["ignore", "pipe", "inherit"],
            }).trim();
            const built = Date.now() - t0;
            const uuid = fs.readFileSync(path.join(dir, "root-uuid"), "utf8").trim();
            const work = fs.mkdtempSync(path.join(os.tmpdir(), "osr-boot-"));
            const disk = path.join(work, "disk.raw");
            try {
                execFileSync("cp", ["--sparse=always", path.join(dir, "disk.raw"), disk]);
                const offset = 1048576;
                const fstab = readExtFile(disk, offset, "/etc/fstab") ?? "";
                writeExtFile(disk, offset, "/etc/fstab", `${fstab}/dev/vdb\t/mnt/data\text4\tdefaults\t0\t2\n`);

                const before = await boot(dir, disk, uuid, 8 * 60_000);
                if (before.outcome !== "emergency")
                    throw new Error(`expected emergency mode, got ${before.outcome}:\n${before.console.slice(-3000)}`);

                const att = attachDisk(disk, randomUUID());
                let repairMs = 0;
                try {
                    const run = runScript(optsFor(att, { actions: ["fsck", "fstab"], mode: "repair" }));
                    repairMs = run.ms;
                    if (!run.report.ok) throw new Error(explain(run));
                    expect(run.report.actions[1].status).toBe("changed");
                } finally {
                    att.detach();
                }
                expect(readExtFile(disk, offset, "/etc/fstab")).toContain("/dev/vdb\t/mnt/data\text4\tdefaults,nofail\t0\t2");

                const after = await boot(dir, disk, uuid, 8 * 60_000);
                if (after.outcome !== "login")
                    throw new Error(`expected a login prompt, got ${after.outcome}:\n${after.console.slice(-3000)}`);
                console.log(
                    `boot proof: image ${built} ms (cached after the first build), broken boot -> emergency in ${before.ms} ms, ` +
                        `repair ${repairMs} ms, repaired boot -> login prompt in ${after.ms} ms`,
                );
            } finally {
                fs.rmSync(work, { recursive: true, force: true });
            }
        },
        45 * 60_000,
    );
});
