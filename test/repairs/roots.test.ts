// Two filesystems that look like a root (issue 9): p1 an old root whose own fstab names it as /,
// p2 the root that boots. The toolkit must repair the one the bootloader boots (root= in its
// grub.cfg), or the one on the partition with the bootable flag, and refuse when nothing says
// which, listing the candidates by partition, label and UUID and changing nothing.
// Before the rule, all three cases repaired p1 (the first partition) and reported ok.
import { randomUUID } from "crypto";
import { attachDisk, buildDisk, BuiltDisk, DiskSpec, readExtFile, sha256File } from "../support/disks";
import { syncAll, testWithLoop } from "./fixtures";
import { explain, optsFor, runScript, ScriptRun } from "./run";

function twoRoots(bootMark: DiskSpec["bootMark"]): BuiltDisk {
    return buildDisk({ layout: "two-roots", bootMark, faults: ["missing-device"] });
}

function repair(disk: BuiltDisk): ScriptRun {
    const att = attachDisk(disk.image, randomUUID());
    try {
        return runScript(optsFor(att, { actions: ["fstab"], mode: "repair" }));
    } finally {
        att.detach();
    }
}

const oldRoot = (disk: BuiltDisk) => disk.partitions.find((p) => p.role === "old-root")!;

describe("two roots, the first partition is not the one that boots", () => {
    for (const [mark, why] of [
        ["grub", /the one the bootloader boots \(root=\)/],
        ["flag", /its partition has the bootable flag/],
    ] as const) {
        testWithLoop(`marked by ${mark}: p2 is repaired, p1 is left alone`, () => {
            const disk = twoRoots(mark);
            try {
                const oldFstab = readExtFile(disk.image, oldRoot(disk).startBytes, "/etc/fstab");
                const run = repair(disk);
                if (!run.report.ok) throw new Error(explain(run));
                expect(run.report.root).toMatchObject({ partition: 2, uuid: disk.rootUuid });
                expect(run.report.warnings.join("\n")).toMatch(why);
                expect(readExtFile(disk.image, disk.root.startBytes, "/etc/fstab")).toContain(
                    "/dev/vdb\t/mnt/data\text4\tdefaults,nofail\t0\t2",
                );
                expect(readExtFile(disk.image, oldRoot(disk).startBytes, "/etc/fstab")).toBe(oldFstab);
            } finally {
                disk.cleanup();
            }
        });
    }

    testWithLoop("nothing says which boots: refused, both listed by partition, label and UUID, disk byte-identical", () => {
        const disk = twoRoots("none");
        try {
            syncAll();
            const before = sha256File(disk.image);
            const run = repair(disk);
            syncAll();
            expect(run.report.ok).toBe(false);
            const err = run.report.error ?? "";
            expect(err).toMatch(/several filesystems look like a root and none is the one that boots/);
            expect(err).toContain(`partition 1, ext4 label=oldroot uuid=${oldRoot(disk).uuid}`);
            expect(err).toContain(`partition 2, ext4 label=cloudimg-rootfs uuid=${disk.rootUuid}`);
            expect(err).toMatch(/sfdisk --activate/);
            expect(sha256File(disk.image)).toBe(before);
        } finally {
            disk.cleanup();
        }
    });
});
