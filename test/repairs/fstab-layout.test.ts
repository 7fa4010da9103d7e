// The fstab action on the fstabs operators have (issue 9): a fixed line keeps its layout (the
// operator's column alignment, CRLF line ends), and a btrfs /home that is a subvolume of the root
// is re-pointed with / when the disk's filesystem has a new UUID, instead of being made optional.
// Before the fix: the nofail line was rejoined with tabs and the CRs of fixed lines were lost; the
// btrfs /home line got nofail (the boot then goes on with an empty /home).
import { randomUUID } from "crypto";
import { attachDisk, buildDisk, BuiltDisk, checkFs, readBtrfsFile, readRootFile } from "../support/disks";
import { testWithLoop } from "./fixtures";
import { explain, optsFor, runScript, ScriptRun } from "./run";

function repair(disk: BuiltDisk): ScriptRun {
    const att = attachDisk(disk.image, randomUUID());
    try {
        return runScript(optsFor(att, { actions: ["fstab"], mode: "repair" }));
    } finally {
        att.detach();
    }
}

describe("fstab lines the action fixes", () => {
    testWithLoop("keep their column alignment and CRLF line ends; untouched lines are byte-identical", () => {
        const foreign = randomUUID();
        const lines = [
            "# aligned by hand",
            `UUID=${foreign}   /           ext4   errors=remount-ro   0 1`,
            "/dev/vdb            /mnt/data   ext4   defaults            0 2",
            "/dev/vdc /mnt/c ext4",
            "proc                /proc       proc   defaults            0 0",
            "/dev/vdd1 /srv/www",
        ];
        const disk = buildDisk({ layout: "mbr-ext4", files: { "etc/fstab": lines.join("\r\n") + "\r\n" } });
        try {
            const run = repair(disk);
            if (!run.report.ok) throw new Error(explain(run));
            expect(run.report.actions[0]).toMatchObject({ name: "fstab", status: "changed" });
            const after = readRootFile(disk, "/etc/fstab")!;
            expect(after.split("\r\n")).toEqual([
                "# aligned by hand",
                `UUID=${disk.rootUuid}   /           ext4   errors=remount-ro   0 1`,
                "/dev/vdb            /mnt/data   ext4   defaults,nofail            0 2",
                "/dev/vdc /mnt/c ext4 defaults,nofail",
                "proc                /proc       proc   defaults            0 0",
                "# openstack-recovery disabled (malformed: only 2 field(s), at least 3 needed): /dev/vdd1 /srv/www",
                "",
            ]);
        } finally {
            disk.cleanup();
        }
    });

    testWithLoop("btrfs: a /home subvolume named by the root's old UUID is re-pointed like /, not made optional", () => {
        const disk = buildDisk({ layout: "btrfs-subvols", faults: ["wrong-root-uuid", "missing-device"] });
        try {
            const before = readBtrfsFile(disk, "/etc/fstab")!;
            const old = /^(UUID=\S+)\t\/\t/m.exec(before)![1];
            const run = repair(disk);
            if (!run.report.ok) throw new Error(explain(run));
            expect(run.report.root).toMatchObject({ fsType: "btrfs", uuid: disk.rootUuid });
            const after = readBtrfsFile(disk, "/etc/fstab")!;
            expect(after).toContain(`UUID=${disk.rootUuid}\t/\tbtrfs\tdefaults,subvol=@\t0\t0`);
            expect(after).toContain(`UUID=${disk.rootUuid}\t/home\tbtrfs\tdefaults,subvol=@home\t0\t0`);
            expect(after).not.toContain(old);
            // a device that really is elsewhere still gets nofail
            expect(after).toContain("/dev/vdb\t/mnt/data\text4\tdefaults,nofail\t0\t2");
            expect(readBtrfsFile(disk, "/README", "@home")).toBe("the @home subvolume\n");
            expect(checkFs(disk)).toMatchObject({ ok: true });
        } finally {
            disk.cleanup();
        }
    });
});
