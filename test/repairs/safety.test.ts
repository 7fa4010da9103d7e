// The traps of a real helper: the device found by serial only (virtio and SCSI forms, a clear
// timeout), a disk that is in use refused, an XFS root with the helper's own UUID (nouuid), and
// LVM with the helper's VG name (vgimportclone, renamed back; activation needs device-mapper,
// which this machine lacks: tested as far as it goes).
import { execFileSync, spawnSync } from "child_process";
import { randomUUID } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { attachDisk, buildDisk, checkFs, readRootFile, sha256File } from "../support/disks";
import { syncAll, testWithLoop } from "./fixtures";
import { explain, optsFor, runScript } from "./run";

describe("finding the device", () => {
    test("no device with the serial: a clear error after the timeout, nothing else done", () => {
        const byId = fs.mkdtempSync(path.join(os.tmpdir(), "osr-byid-empty-"));
        try {
            const vol = randomUUID();
            const t0 = Date.now();
            const run = runScript({ volumeId: vol, byIdDir: byId, actions: ["fstab"], mode: "repair", deviceTimeoutSeconds: 2 });
            // not a speed check: the promise made to the operator is "waits at least this long"
            expect(Date.now() - t0).toBeGreaterThanOrEqual(2000);
            expect(run.status).toBe(1);
            expect(run.report.ok).toBe(false);
            expect(run.report.device).toBeNull();
            expect(run.report.error).toContain(`no disk with serial ${vol.slice(0, 20)} appeared in ${byId} within 2s`);
            expect(run.report.actions).toEqual([]);
        } finally {
            fs.rmSync(byId, { recursive: true });
        }
    });

    testWithLoop("the SCSI form (scsi-0QEMU_QEMU_HARDDISK_<full id>) is found too", () => {
        const disk = buildDisk({ layout: "mbr-ext4" });
        const vol = randomUUID();
        const att = attachDisk(disk.image, vol, { byIdName: `scsi-0QEMU_QEMU_HARDDISK_${vol}` });
        try {
            const run = runScript(optsFor(att, { actions: ["fstab"], mode: "report" }));
            expect(run.report.ok).toBe(true);
            expect(run.report.device).toEqual({ path: att.loop, link: att.link });
        } finally {
            att.detach();
            disk.cleanup();
        }
    });

    testWithLoop("two disks with the serial: refused, not guessed", () => {
        const disk = buildDisk({ layout: "mbr-ext4" });
        const att = attachDisk(disk.image, randomUUID());
        try {
            const other = ["/dev/loop7", "/dev/loop6"].find((d) => d !== att.loop)!;
            fs.symlinkSync(other, path.join(att.byIdDir, `scsi-0QEMU_QEMU_HARDDISK_${att.volumeId}`));
            const run = runScript(optsFor(att, { actions: ["fstab"], mode: "report" }));
            expect(run.report.ok).toBe(false);
            expect(run.report.error).toMatch(/matches more than one disk .*refusing to guess/);
        } finally {
            att.detach();
            disk.cleanup();
        }
    });

    testWithLoop("a disk with a mounted partition (the helper's own?) is refused", () => {
        const disk = buildDisk({ layout: "mbr-ext4", faults: ["missing-device"] });
        const att = attachDisk(disk.image, randomUUID());
        const mnt = fs.mkdtempSync(path.join(os.tmpdir(), "osr-inuse-"));
        execFileSync("mount", ["-o", "ro,noload", att.partitions[0], mnt]);
        try {
            const run = runScript(optsFor(att, { actions: ["fstab"], mode: "repair" }));
            expect(run.report.ok).toBe(false);
            expect(run.report.error).toMatch(/refusing: \/dev\/loop\d+p1 is mounted on this helper/);
        } finally {
            execFileSync("umount", [mnt]);
            fs.rmdirSync(mnt);
            att.detach();
            disk.cleanup();
        }
    });
});

describe("XFS root with the helper's UUID", () => {
    testWithLoop("a plain mount fails with a duplicate UUID; the script (nouuid) repairs it", () => {
        const uuid = randomUUID();
        const helper = buildDisk({ layout: "xfs-root", rootUuid: uuid });
        const disk = buildDisk({ layout: "xfs-root", rootUuid: uuid, faults: ["missing-device"] });
        const helperAtt = attachDisk(helper.image, randomUUID());
        const helperMnt = fs.mkdtempSync(path.join(os.tmpdir(), "osr-helper-root-"));
        execFileSync("mount", ["-t", "xfs", helperAtt.partitions[0], helperMnt]); // "the helper's root"
        const att = attachDisk(disk.image, randomUUID());
        const probe = fs.mkdtempSync(path.join(os.tmpdir(), "osr-probe-"));
        try {
            // the control: without nouuid the kernel refuses the clone
            const plain = spawnSync("mount", ["-t", "xfs", "-o", "ro,norecovery", att.partitions[0], probe], { encoding: "utf8" });
            if (plain.status === 0) execFileSync("umount", [probe]);
            expect(plain.status).not.toBe(0);
            const dmesg = spawnSync("dmesg", { encoding: "utf8" }).stdout ?? "";
            if (dmesg) expect(dmesg).toMatch(/duplicate UUID/i);
            const run = runScript(optsFor(att, { actions: ["fsck", "fstab"], mode: "repair" }));
            if (!run.report.ok) throw new Error(explain(run));
            expect(run.report.root?.uuid).toBe(uuid);
            expect(run.report.actions[1].status).toBe("changed");
        } finally {
            att.detach();
            execFileSync("umount", [helperMnt]);
            helperAtt.detach();
            fs.rmdirSync(helperMnt);
            fs.rmdirSync(probe);
            helper.cleanup();
        }
        try {
            expect(readRootFile(disk, "/etc/fstab")).toContain("defaults,nofail");
            expect(checkFs(disk).ok).toBe(true);
        } finally {
            disk.cleanup();
        }
    });
});

describe("LVM (no device-mapper here: activation fails, everything before and after it is tested)", () => {
    const lvmOk = spawnSync("sh", ["-c", "command -v lvm"]).status === 0;
    if (!lvmOk) console.warn("SKIPPED: LVM tests: lvm2 is not installed");
    const testLvm = lvmOk ? testWithLoop : test.skip;
    const vgOf = (pv: string) =>
        execFileSync("lvm", ["pvs", "--devices", pv, "--noheadings", "-o", "vg_name", pv], { encoding: "utf8" }).trim();

    testLvm("a VG named like the helper's is imported under another name, then renamed back", () => {
        const vg = `osrvg${process.pid}`;
        const disk = buildDisk({ layout: "lvm", vgName: vg, faults: ["missing-device"] });
        // "the helper's" VG of the same name, on another disk
        const helper = buildDisk({ layout: "lvm", vgName: vg });
        const helperAtt = attachDisk(helper.image, randomUUID());
        const att = attachDisk(disk.image, randomUUID());
        try {
            syncAll();
            const run = runScript(optsFor(att, { actions: ["fstab"], mode: "repair" }));
            const r = run.report;
            expect(r.lvm).toHaveLength(1);
            expect(r.lvm[0]).toMatchObject({ vg, importedAs: `osr_${vg}`, nameNow: vg, activated: false });
            expect(r.lvm[0].note).toMatch(/activation failed/);
            // no device-mapper: the root LV cannot be opened, and the script says exactly that
            expect(r.ok).toBe(false);
            expect(r.error).toMatch(
                /no root filesystem found on \/dev\/loop\d+: none of the filesystems that could be mounted holds \/etc\/fstab and \/etc\/os-release \(LVM: activation failed/,
            );
            expect(r.filesystems.map((f) => f.fsType)).toEqual(["ext4", "LVM2_member"]);
            expect(vgOf(att.partitions[1])).toBe(vg); // the guest's VG name is back
            expect(r.warnings.join("\n")).toMatch(/renamed back at the end, but its VG and PV UUIDs are new/);
        } finally {
            att.detach();
            helperAtt.detach();
            helper.cleanup();
            disk.cleanup();
        }
    });

    testLvm("without a clash the VG is not renamed, and report mode leaves the disk byte-identical", () => {
        const vg = `osrvg${process.pid}b`;
        const disk = buildDisk({ layout: "lvm", vgName: vg });
        const att = attachDisk(disk.image, randomUUID());
        try {
            syncAll();
            const before = sha256File(disk.image);
            const r = runScript(optsFor(att, { actions: ["fstab"], mode: "report" })).report;
            syncAll();
            expect(r.lvm[0]).toMatchObject({ vg, importedAs: null, nameNow: vg, activated: false });
            expect(sha256File(disk.image)).toBe(before);
        } finally {
            att.detach();
            disk.cleanup();
        }
    });
});
