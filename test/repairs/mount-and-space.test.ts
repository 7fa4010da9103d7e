// Disks that cannot be written or mounted as they are (issue 9): a truly full root, a filesystem
// larger than its partition, a root the kernel refuses to mount. Each must fail with a message
// that says why (the numbers, the kernel's own reason) and what to do, leave the disk
// byte-identical, and a requested fsck must still run when the root cannot be found before it.
// Before the fix: the full root failed with "backup of /etc/fstab failed" while the fstab summary
// still said "1 fstab line(s) fixed", and the disk's superblock had changed; the other two said
// only "no filesystem ... holds /etc/fstab", and fsck never ran.
import { randomUUID } from "crypto";
import {
    attachDisk,
    breakBlockBitmap,
    buildDisk,
    BuiltDisk,
    checkFs,
    fillRootFs,
    readExtFile,
    sha256File,
    shrinkFirstPartition,
} from "../support/disks";
import { syncAll, testWithLoop } from "./fixtures";
import { explain, optsFor, runScript, ScriptRun } from "./run";

function repair(disk: BuiltDisk, actions: string[]): ScriptRun {
    const att = attachDisk(disk.image, randomUUID());
    try {
        return runScript(optsFor(att, { actions: actions as never, mode: "repair" }));
    } finally {
        att.detach();
    }
}

/** The run fails, says `why`, and the image is byte-identical. */
function expectRefusedUnchanged(disk: BuiltDisk, actions: string[], why: RegExp): ScriptRun {
    syncAll();
    const before = sha256File(disk.image);
    const run = repair(disk, actions);
    syncAll();
    expect(run.report.ok).toBe(false);
    expect(run.report.error ?? "").toMatch(why);
    expect(sha256File(disk.image)).toBe(before);
    return run;
}

describe("disks that cannot be written or mounted as they are", () => {
    testWithLoop("a truly full root: refused before anything is mounted read-write, with the space needed and the fix", () => {
        const disk = buildDisk({ layout: "mbr-ext4", faults: ["missing-device"] });
        try {
            fillRootFs(disk);
            const run = expectRefusedUnchanged(
                disk,
                ["fstab"],
                /not enough space to write the repair: \/ \(\/dev\/\S+ \(partition 1, ext4/,
            );
            expect(run.report.error).toMatch(/has \d+ KiB free, the changes and their backups need about \d+ KiB/);
            expect(run.report.error).toMatch(/Nothing was written.*openstack volume extend/);
            const fstab = run.report.actions.find((a) => a.name === "fstab")!;
            expect(fstab.status).toBe("failed");
            expect(fstab.summary).toMatch(/^nothing written: /);
            expect(fstab.summary).not.toMatch(/fixed/);
        } finally {
            disk.cleanup();
        }
    });

    testWithLoop("a filesystem larger than its partition: named with both sizes and the fix, nothing mounted or written", () => {
        const disk = buildDisk({ layout: "mbr-ext4", faults: ["missing-device"] });
        try {
            shrinkFirstPartition(disk, 64 * 1024 * 1024);
            const run = expectRefusedUnchanged(
                disk,
                ["fstab", "fsck"],
                /its ext4 filesystem is \d+ bytes but partition 1, which holds it, is 67108864 bytes .*grow the partition back to at least \d+ bytes/,
            );
            expect(run.report.warnings.join("\n")).toMatch(/not mounted, and nothing is written to it/);
        } finally {
            disk.cleanup();
        }
    });

    testWithLoop("a root the kernel refuses to mount: the kernel's reason is in the error", () => {
        const disk = buildDisk({ layout: "mbr-ext4", faults: ["missing-device"] });
        try {
            breakBlockBitmap(disk);
            const run = expectRefusedUnchanged(disk, ["fstab"], /partition 1, ext4 label=cloudimg-rootfs uuid=\S+\) cannot be mounted: /);
            expect(run.report.error).toMatch(
                /the kernel says: EXT4-fs \(\S+\): .*Block bitmap for group 0 not in group.*group descriptors corrupted/,
            );
            expect(run.report.error).not.toMatch(/dmesg\(1\)/);
        } finally {
            disk.cleanup();
        }
    });

    testWithLoop("the same root with actions [fstab, fsck]: fsck runs first, then the root is found and fstab fixed", () => {
        const disk = buildDisk({ layout: "mbr-ext4", faults: ["missing-device"] });
        try {
            breakBlockBitmap(disk);
            const run = repair(disk, ["fstab", "fsck"]);
            if (!run.report.ok) throw new Error(explain(run));
            expect(run.report.actions.map((a) => [a.name, a.status])).toEqual([
                ["fstab", "changed"],
                ["fsck", "changed"],
            ]);
            expect(run.report.warnings.join("\n")).toMatch(/cannot be mounted: .*running fsck first, then looking for the root again/);
            expect(readExtFile(disk.image, disk.rootOffsetBytes, "/etc/fstab")).toContain(
                "/dev/vdb\t/mnt/data\text4\tdefaults,nofail\t0\t2",
            );
            expect(checkFs(disk)).toMatchObject({ ok: true });
        } finally {
            disk.cleanup();
        }
    });
});
