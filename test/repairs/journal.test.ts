// A dirty ext4 journal holding the last fstab change (issue 9): the state of a disk whose
// hypervisor died right after the edit that broke the boot. The guest's kernel replays the journal
// at the next boot and sees the edit; the toolkit must read the same, with the default actions
// (fstab alone, fstab before fsck), in repair mode and in report mode (which must still leave the
// disk byte-identical).
import { randomUUID } from "crypto";
import {
    attachDisk,
    buildDisk,
    BuiltDisk,
    checkFs,
    extNeedsRecovery,
    journalFirstBlock,
    readExtFile,
    sha256File,
    writeExtFile,
} from "../support/disks";
import { syncAll, testWithLoop } from "./fixtures";
import { explain, optsFor, runScript } from "./run";

const dataUuid = "0b8a3c5e-2f4d-4e6a-9c1b-7d2e5f8a1c3b";
// before the crash: the data volume's line is commented out; the committed edit (in the journal
// only) turns it on, for a volume that is not attached and without nofail: the boot blocks
const commented = `#UUID=${dataUuid}\t/srv/data\txfs\tdefaults\t0\t2\n`;
const active = ` UUID=${dataUuid}\t/srv/data\txfs\tdefaults\t0\t2\n`; // same length: the inode's size holds

function crashedAfterEdit(): BuiltDisk {
    const disk = buildDisk({ layout: "mbr-ext4", faults: [] });
    const before = readExtFile(disk.image, disk.rootOffsetBytes, "/etc/fstab")!;
    // the image's fstab with the commented line added, in the main filesystem
    writeExtFile(disk.image, disk.rootOffsetBytes, "/etc/fstab", before + commented);
    journalFirstBlock(disk.image, disk.rootOffsetBytes, "/etc/fstab", before + active);
    return disk;
}

const needsRecovery = (disk: BuiltDisk) => extNeedsRecovery(disk.image, disk.rootOffsetBytes);

describe("a dirty journal holding the last fstab change", () => {
    for (const actions of [["fstab"], ["fstab", "fsck"]] as const) {
        testWithLoop(
            `repair with actions [${actions.join(", ")}]: the journal is replayed first, and the journal's line gets nofail`,
            () => {
                const disk = crashedAfterEdit();
                const att = attachDisk(disk.image, randomUUID());
                let run;
                try {
                    expect(needsRecovery(disk)).toBe(true);
                    // what a noload read sees: the state before the crash (the line commented out)
                    expect(readExtFile(disk.image, disk.rootOffsetBytes, "/etc/fstab")).toContain(commented);
                    run = runScript(optsFor(att, { actions: [...actions], mode: "repair" }));
                } finally {
                    att.detach();
                }
                try {
                    const r = run.report;
                    if (!r.ok) throw new Error(explain(run));
                    expect(r.actions[0]).toMatchObject({ name: "fstab", status: "changed" });
                    expect(r.warnings.join("\n")).toMatch(/the ext journal needed recovery .*replayed before reading the filesystem/);
                    expect(needsRecovery(disk)).toBe(false);
                    const fstab = readExtFile(disk.image, disk.rootOffsetBytes, "/etc/fstab")!;
                    // (the line's leading blank is layout: issue 9's "fixed lines keep their layout" is tested apart)
                    expect(fstab).toMatch(new RegExp(`^ ?UUID=${dataUuid}\t/srv/data\txfs\tdefaults,nofail\t0\t2$`, "m"));
                    expect(fstab).not.toContain(commented);
                    expect(checkFs(disk)).toMatchObject({ ok: true });
                } finally {
                    disk.cleanup();
                }
            },
        );
    }

    testWithLoop("report mode shows the diff repair writes, and leaves the disk byte-identical (journal still dirty)", () => {
        const disk = crashedAfterEdit();
        const att = attachDisk(disk.image, randomUUID());
        try {
            syncAll();
            const before = sha256File(disk.image);
            const report = runScript(optsFor(att, { actions: ["fstab"], mode: "report" }));
            syncAll();
            expect(sha256File(disk.image)).toBe(before);
            expect(needsRecovery(disk)).toBe(true);
            const r = report.report;
            if (!r.ok) throw new Error(explain(report));
            expect(r.actions[0]).toMatchObject({ name: "fstab", status: "would-change" });
            expect(r.warnings.join("\n")).toMatch(/replayed before reading the filesystem, and undone at the end \(report mode\)/);
            const diff = r.actions[0].diffs.find((d) => d.path === "/etc/fstab")!.diff;
            expect(diff).toContain(`- UUID=${dataUuid}\t/srv/data\txfs\tdefaults\t0\t2`);
            expect(diff).toMatch(new RegExp(`^\\+ ?UUID=${dataUuid}\t/srv/data\txfs\tdefaults,nofail\t0\t2$`, "m"));

            // and repair writes exactly that
            const repair = runScript(optsFor(att, { actions: ["fstab"], mode: "repair" }));
            if (!repair.report.ok) throw new Error(explain(repair));
            expect(repair.report.actions[0].diffs.find((d) => d.path === "/etc/fstab")!.diff).toBe(diff);
        } finally {
            att.detach();
            disk.cleanup();
        }
    });
});
