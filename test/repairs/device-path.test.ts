// A disk named by its path (devicePath: an ephemeral or rescue disk, an image on a loop device)
// instead of found by serial (volumeId): the options name the disk exactly one way, the same
// repair comes out, and the same safety checks refuse a disk the helper uses.
import { execFileSync, spawnSync } from "child_process";
import { randomUUID } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { buildRepairScript, RepairReport, RepairScriptOptions, repairStateKey } from "../../toolkit";
import { attachDisk, AttachedDisk, BuiltDisk, buildDisk, checkFs, readRootFile, sha256File } from "../support/disks";
import { syncAll, testWithLoop } from "./fixtures";
import { explain, optsFor, runScript, ScriptRun } from "./run";

const VOL = "6a3a7ee8-47a4-4e4b-a4b2-13f2fe2d3a3c";
const common: Pick<RepairScriptOptions, "actions" | "mode"> = { actions: ["fstab"], mode: "repair" };

describe("naming the disk: volumeId or devicePath, exactly one", () => {
    const bad: [string, unknown, RegExp][] = [
        [
            "both volumeId and devicePath",
            { ...common, volumeId: VOL, devicePath: "/dev/vdb" },
            /devicePath: volumeId and devicePath are both set: name the disk one way only, by volumeId \(found by its serial\) or by devicePath/,
        ],
        [
            "neither volumeId nor devicePath",
            { ...common },
            /options: the disk is not named: set volumeId \(.*\) or devicePath \(.*\/dev\/vdb\)/,
        ],
        ["a relative devicePath", { ...common, devicePath: "vdb" }, /devicePath must be an absolute path of a block device on the helper/],
        [
            "a devicePath with ..",
            { ...common, devicePath: "/dev/../etc/passwd" },
            /devicePath must be an absolute path.*no "\." or "\.\." parts/,
        ],
        ["a devicePath with a newline", { ...common, devicePath: "/dev/vdb\n/dev/vda" }, /devicePath must be an absolute path/],
        ["a devicePath that is not a string", { ...common, devicePath: 3 }, /devicePath must be a string/],
        [
            "byIdDir with devicePath",
            { ...common, devicePath: "/dev/vdb", byIdDir: "/dev/disk/by-id" },
            /byIdDir: byIdDir is where a disk is searched for by serial \(volumeId\): drop it when the disk is named by devicePath/,
        ],
    ];
    test.each(bad)("rejects %s", (_name, opts, message) => {
        expect(() => buildRepairScript(opts as RepairScriptOptions)).toThrow(message);
    });

    test("a devicePath goes into the script as given; the volume id is empty; the helper files get a key of their own", () => {
        const { script } = buildRepairScript({ ...common, devicePath: "/dev/disk/by-path/pci-0000:00:05.0" });
        expect(script).toContain("OSR_DEVICE_PATH='/dev/disk/by-path/pci-0000:00:05.0'");
        expect(script).toContain("OSR_VOLUME_ID=''");
        expect(script).toContain("OSR_STATE_KEY='path-dev-disk-by-path-pci-0000-00-05.0'");
        expect(script).toContain("# disk /dev/disk/by-path/pci-0000:00:05.0, mode repair, actions: fstab");
        const syntax = spawnSync("bash", ["-n"], { input: script, encoding: "utf8" });
        expect(syntax.stderr).toBe("");
        expect(syntax.status).toBe(0);
        expect(repairStateKey({ devicePath: "/dev/vdb" })).toBe("path-dev-vdb");
        expect(repairStateKey({ volumeId: VOL })).toBe(VOL);
    });

    test("a volumeId script names no path, and its helper files are still named by the volume id", () => {
        const { script } = buildRepairScript({ ...common, volumeId: VOL });
        expect(script).toContain("OSR_DEVICE_PATH=''");
        expect(script).toContain(`OSR_STATE_KEY='${VOL}'`);
        expect(script).toContain(`# volume ${VOL}, mode repair, actions: fstab`);
    });

    test("the driver is inlined as one section, in its parts' fixed order", () => {
        const { script } = buildRepairScript({ ...common, volumeId: VOL });
        const parts = script.split("\n").filter((l) => /^# (========|--------) /.test(l));
        expect(parts).toEqual([
            "# ======== driver.sh",
            "# -------- driver/device.sh",
            "# -------- driver/filesystems.sh",
            "# -------- driver/lvm.sh",
            "# -------- driver/view.sh",
            "# -------- driver/report.sh",
            "# -------- driver/main.sh",
            "# ======== actions/fstab.sh",
        ]);
    });
});

describe("devicePath on the helper: checked before anything is touched", () => {
    test("a path that never appears: a clear error after the timeout, nothing else done", () => {
        const missing = path.join(os.tmpdir(), `osr-no-such-disk-${randomUUID()}`);
        const t0 = Date.now();
        const run = runScript({ ...common, devicePath: missing, deviceTimeoutSeconds: 1 });
        expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
        expect(run.status).toBe(1);
        expect(run.report.ok).toBe(false);
        expect(run.report.device).toBeNull();
        expect(run.report.error).toContain(`no disk at devicePath ${missing} within 1s`);
        expect(run.report.actions).toEqual([]);
    });

    test("an image file that is not attached as a loop device: refused, the file untouched", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "osr-file-"));
        const file = path.join(dir, "disk.img");
        fs.writeFileSync(file, Buffer.alloc(1024 * 1024));
        try {
            const before = sha256File(file);
            const run = runScript({ ...common, devicePath: file, deviceTimeoutSeconds: 1 });
            expect(run.report.ok).toBe(false);
            expect(run.report.error).toMatch(/devicePath .*disk\.img is not a block device.*losetup/);
            expect(run.report.actions).toEqual([]);
            expect(sha256File(file)).toBe(before);
        } finally {
            fs.rmSync(dir, { recursive: true });
        }
    });
});

/** A copy of a built disk (same bytes, same UUIDs): two runs on the same starting point. */
function copyOf(disk: BuiltDisk): BuiltDisk {
    const image = `${disk.image}.copy`;
    execFileSync("cp", ["--sparse=always", disk.image, image]);
    return { ...disk, image, cleanup: () => fs.rmSync(image, { force: true }) };
}

/** The report with the loop device's name taken out (the two runs use different loop devices). */
function withoutDevice(r: RepairReport, att: AttachedDisk): unknown {
    const name = path.basename(att.loop);
    return JSON.parse(
        JSON.stringify({ ...r, volumeId: "", device: null })
            .split(name)
            .join("LOOP"),
    );
}

function withDisk<T>(disk: BuiltDisk, fn: (att: AttachedDisk) => T): T {
    const att = attachDisk(disk.image, randomUUID());
    try {
        return fn(att);
    } finally {
        att.detach();
    }
}

describe("a disk found by path is repaired exactly as one found by serial", () => {
    testWithLoop("the same repair, report and result on the disk (a bad fstab line fixed), by serial and by /dev/loopN", () => {
        const disk = buildDisk({ layout: "mbr-ext4", faults: ["missing-device", "malformed-line"] });
        const copy = copyOf(disk);
        try {
            const actions: Pick<RepairScriptOptions, "actions" | "mode"> = { actions: ["fsck", "fstab"], mode: "repair" };
            let bySerialAtt: AttachedDisk | undefined;
            const bySerial: ScriptRun = withDisk(disk, (att) => {
                bySerialAtt = att;
                return runScript(optsFor(att, actions));
            });
            let byPathAtt: AttachedDisk | undefined;
            const byPath: ScriptRun = withDisk(copy, (att) => {
                byPathAtt = att;
                return runScript({ ...actions, devicePath: att.loop, deviceTimeoutSeconds: 5 });
            });
            if (!bySerial.report.ok) throw new Error(explain(bySerial));
            if (!byPath.report.ok) throw new Error(explain(byPath));
            expect(byPath.report.device).toEqual({ path: byPathAtt!.loop, link: byPathAtt!.loop });
            expect(byPath.report.volumeId).toBe("");
            expect(bySerial.report.device).toEqual({ path: bySerialAtt!.loop, link: bySerialAtt!.link });
            // everything else in the report is the same: the filesystems, the root, each action's
            // status, details, diffs and backups
            expect(withoutDevice(byPath.report, byPathAtt!)).toEqual(withoutDevice(bySerial.report, bySerialAtt!));
            const fstab = byPath.report.actions[1];
            expect(fstab).toMatchObject({ name: "fstab", status: "changed", backup: "/var/lib/openstack-recovery/backup/etc/fstab" });
            // and the same on the disks, read back from the images
            const fixed = readRootFile(copy, "/etc/fstab");
            expect(fixed).toBe(readRootFile(disk, "/etc/fstab"));
            expect(fixed).toContain("/dev/vdb\t/mnt/data\text4\tdefaults,nofail\t0\t2");
            expect(fixed).toMatch(
                /^# openstack-recovery disabled \(malformed: only 2 field\(s\), at least 3 needed\): \/dev\/vdc1 \/srv\/www$/m,
            );
            expect(readRootFile(copy, "/var/lib/openstack-recovery/backup/etc/fstab")).toBe(disk.fstab);
            expect(checkFs(copy).ok).toBe(true);
        } finally {
            copy.cleanup();
            disk.cleanup();
        }
    });

    testWithLoop(
        "a path outside /dev that links to the disk (like /dev/disk/by-path/…): found through the link; report mode writes nothing",
        () => {
            const disk = buildDisk({ layout: "gpt-cloud", faults: ["missing-device"] });
            try {
                syncAll();
                const before = sha256File(disk.image);
                const run = withDisk(disk, (att) => {
                    const r = runScript({ actions: ["fstab"], mode: "report", devicePath: att.link, deviceTimeoutSeconds: 5 });
                    expect(r.report.device).toEqual({ path: att.loop, link: att.link });
                    return r;
                });
                if (!run.report.ok) throw new Error(explain(run));
                expect(run.report.root?.uuid).toBe(disk.rootUuid);
                expect(run.report.actions[0].status).toBe("would-change");
                syncAll();
                expect(sha256File(disk.image)).toBe(before);
            } finally {
                disk.cleanup();
            }
        },
    );
});

describe("devicePath keeps the safety checks", () => {
    testWithLoop("a disk with a mounted partition (the helper's own?) is refused, nothing written", () => {
        const disk = buildDisk({ layout: "mbr-ext4", faults: ["missing-device"] });
        const att = attachDisk(disk.image, randomUUID());
        const mnt = fs.mkdtempSync(path.join(os.tmpdir(), "osr-inuse-"));
        execFileSync("mount", ["-o", "ro,noload", att.partitions[0], mnt]);
        try {
            const run = runScript({ ...common, devicePath: att.loop, deviceTimeoutSeconds: 5 });
            expect(run.status).toBe(1);
            expect(run.report.ok).toBe(false);
            expect(run.report.error).toMatch(/refusing: \/dev\/loop\d+p1 is mounted on this helper/);
            expect(run.report.filesystems).toEqual([]);
            expect(run.report.actions).toEqual([]);
        } finally {
            execFileSync("umount", [mnt]);
            fs.rmdirSync(mnt);
            att.detach();
        }
        try {
            expect(readRootFile(disk, "/etc/fstab")).toBe(disk.fstab);
        } finally {
            disk.cleanup();
        }
    });

    testWithLoop("a mounted whole disk is refused too", () => {
        const disk = buildDisk({ layout: "mbr-ext4" });
        const mnt = fs.mkdtempSync(path.join(os.tmpdir(), "osr-inuse-"));
        // a loop device holding just the root filesystem (no partition table), mounted whole
        const whole = execFileSync("losetup", ["-f", "--show", "-r", "-o", String(disk.root.startBytes), disk.image], {
            encoding: "utf8",
        }).trim();
        execFileSync("mount", ["-o", "ro,noload", whole, mnt]);
        try {
            const run = runScript({ ...common, devicePath: whole, deviceTimeoutSeconds: 5 });
            expect(run.report.ok).toBe(false);
            expect(run.report.error).toContain(`refusing: ${whole} is mounted on this helper`);
            expect(run.report.actions).toEqual([]);
        } finally {
            execFileSync("umount", [mnt]);
            spawnSync("losetup", ["-d", whole]);
            fs.rmdirSync(mnt);
            disk.cleanup();
        }
    });

    testWithLoop("a partition is refused: the whole disk must be named", () => {
        const disk = buildDisk({ layout: "mbr-ext4", faults: ["missing-device"] });
        const att = attachDisk(disk.image, randomUUID());
        try {
            const run = runScript({ ...common, devicePath: att.partitions[0], deviceTimeoutSeconds: 5 });
            expect(run.report.ok).toBe(false);
            expect(run.report.error).toMatch(/refusing: devicePath \/dev\/loop\d+p1 is a partition .*not a whole disk/);
            expect(run.report.actions).toEqual([]);
        } finally {
            att.detach();
        }
        try {
            expect(readRootFile(disk, "/etc/fstab")).toBe(disk.fstab);
        } finally {
            disk.cleanup();
        }
    });
});
