// Every layout x every fault, repaired by the script on a loop-attached disk, then checked by
// reading the result from the image (debugfs, or a read-only mount for XFS) and by e2fsck -fn /
// xfs_repair -n.
import { randomUUID } from "crypto";
import { attachDisk, BuiltDisk, buildDisk, checkFs, Fault, Layout, readExtFile, readRootFile } from "../support/disks";
import { testWithLoop } from "./fixtures";
import { explain, optsFor, runScript, ScriptRun } from "./run";

const LAYOUTS: Layout[] = ["mbr-ext4", "gpt-cloud", "separate-boot", "xfs-root"];
const FAULTS: Fault[] = ["missing-device", "wrong-root-uuid", "malformed-line", "dirty-journal"];

function repair(disk: BuiltDisk, policy?: "comment" | "nofail"): ScriptRun {
    const att = attachDisk(disk.image, randomUUID());
    try {
        return runScript(optsFor(att, { actions: ["fsck", "fstab"], mode: "repair", fstabPolicy: policy }));
    } finally {
        att.detach();
    }
}

function expectFixed(disk: BuiltDisk, fault: Fault, fstab: string): void {
    switch (fault) {
        case "missing-device":
            expect(fstab).toContain("/dev/vdb\t/mnt/data\text4\tdefaults,nofail\t0\t2");
            break;
        case "wrong-root-uuid":
            expect(fstab).toMatch(new RegExp(`^UUID=${disk.rootUuid}\\t/\\t`, "m"));
            break;
        case "malformed-line":
            expect(fstab).toMatch(
                /^# openstack-recovery disabled \(malformed: only 2 field\(s\), at least 3 needed\): \/dev\/vdc1 \/srv\/www$/m,
            );
            break;
        case "dirty-journal":
            expect(readExtFile(disk.image, disk.rootOffsetBytes, "/etc/osr-journal-marker")).toMatch(/^after-replay\n/);
            break;
    }
}

describe.each(LAYOUTS)("layout %s", (layout) => {
    for (const fault of FAULTS) {
        if (layout === "xfs-root" && fault === "dirty-journal") continue; // an ext4 fault
        testWithLoop(`fault ${fault}: repaired, read back, filesystem clean`, () => {
            const disk = buildDisk({ layout, faults: [fault] });
            try {
                const run = repair(disk);
                const r = run.report;
                if (!r.ok) throw new Error(explain(run));
                expect(r.root?.uuid).toBe(disk.rootUuid);
                expect(r.root?.partition).toBe(disk.root.number);
                expect(r.root?.fsType).toBe(disk.root.fsType);
                const [fsck, fstab] = r.actions;
                // a dirty journal is replayed by the driver before anything reads the disk (so the
                // fsck action finds nothing left), and the report says so
                expect(fsck.status).toBe("unchanged");
                if (fault === "dirty-journal") expect(r.warnings.join("\n")).toMatch(/the ext journal needed recovery .*replayed/);
                expect(fstab.status).toBe(fault === "dirty-journal" ? "unchanged" : "changed");
                if (fault !== "dirty-journal") expect(fstab.backup).toBe("/var/lib/openstack-recovery/backup/etc/fstab");
                const after = readRootFile(disk, "/etc/fstab") ?? "";
                expectFixed(disk, fault, after);
                if (fault !== "dirty-journal") expect(readRootFile(disk, "/var/lib/openstack-recovery/backup/etc/fstab")).toBe(disk.fstab);
                const check = checkFs(disk);
                if (!check.ok) throw new Error(check.output);
                if (layout === "separate-boot") {
                    const boot = disk.partitions.find((p) => p.role === "boot")!;
                    expect(r.filesystems.find((f) => f.partition === boot.number)?.mountPoint).toBe("/boot");
                    expect(checkFs(disk, boot.startBytes, "ext4").ok).toBe(true);
                }
                if (layout === "gpt-cloud") {
                    expect(r.filesystems.map((f) => f.partition)).toEqual([1, 14, 15]);
                }
            } finally {
                disk.cleanup();
            }
        });
    }
});

describe("fstab policy", () => {
    testWithLoop("comment: an entry whose device is not on this disk is commented out", () => {
        const disk = buildDisk({ layout: "mbr-ext4", faults: ["missing-device"] });
        try {
            const run = repair(disk, "comment");
            expect(run.report.ok).toBe(true);
            expect(readRootFile(disk, "/etc/fstab")).toMatch(
                /^# openstack-recovery disabled \(device not on this disk\): \/dev\/vdb\t\/mnt\/data/m,
            );
        } finally {
            disk.cleanup();
        }
    });

    testWithLoop("all faults at once on the separate-boot layout", () => {
        const disk = buildDisk({ layout: "separate-boot", faults: FAULTS });
        try {
            const run = repair(disk);
            expect(run.report.ok).toBe(true);
            const fstab = readRootFile(disk, "/etc/fstab") ?? "";
            for (const f of FAULTS) expectFixed(disk, f, fstab);
            expect(fstab).toMatch(/^UUID=[0-9a-f-]+\t\/boot\text4\tdefaults\t0\t2$/m); // /boot is on this disk: untouched
            expect(checkFs(disk).ok).toBe(true);
        } finally {
            disk.cleanup();
        }
    });
});
