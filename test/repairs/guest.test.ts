// The toolkit in a real Linux guest (test/support/guestVm.ts: Debian 12 under qemu TCG), for
// what this machine cannot do: device-mapper (a root on a real, activated logical volume) and
// udev (the disk found by its real /dev/disk/by-id/virtio-<serial> link). One boot:
// 1. the guest ("the helper") makes its own VG vg0 with a mounted LV, as a RHEL helper's root VG;
// 2. the clone (test/support/disks.ts "lvm" layout: VG vg0 too, root on LV vg0/root, its fstab
//    broken by two data volumes that are not there) is hot-plugged over QMP, as Nova attaches it;
// 3. the real repair script (buildRepairScript, repair mode) runs with `bash -s`; afterwards the
//    helper's vg0 is untouched, the clone's VG is vg0 again, nothing of the toolkit is mounted or
//    active, and the repaired fstab is read back from the LV through LVM;
// 4. a second disk with the same serial is hot-plugged: the script refuses to guess.
// 5. the clone's LV mounted on the helper: refused as in use, nothing changed.
// Two toolkit defects this test found (issue 9) are fixed and asserted: the clone's VG that udev
// auto-activates on attach is deactivated, not refused as "held by dm"; and the rename back works
// next to the helper's active VG of the same name (it used to fail with "/dev/vg0: already exists
// in filesystem", leaving the clone as osr_vg0, unbootable).
import { randomUUID } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { z } from "zod";
import { buildRepairScript, parseRepairReport } from "../../toolkit";
import { buildDisk, BuiltDisk, readExtFile, writeExtFile } from "../support/disks";
import { GuestRun, guestSupport, killGuests, resultOf, runGuest } from "../support/guestVm";
import { testWithLoop } from "./fixtures";

const support = guestSupport();
if (!support.ok) console.warn(`SKIPPED: toolkit in a guest (qemu, TCG): ${support.reason}`);
const testGuest = support.ok ? testWithLoop : test.skip;

afterAll(() => killGuests());

// `pvs/lvs --reportformat json`, only the fields asked for
const PvsSchema = z.object({
    report: z.array(z.object({ pv: z.array(z.object({ pv_name: z.string(), vg_name: z.string(), vg_uuid: z.string() })) })),
});
const LvsSchema = z.object({
    report: z.array(z.object({ lv: z.array(z.object({ vg_name: z.string(), lv_name: z.string(), lv_active: z.string() })) })),
});

function sparse(file: string, mib: number): string {
    fs.writeFileSync(file, "");
    fs.truncateSync(file, mib * 1048576);
    return file;
}

const b64 = (s: string) =>
    Buffer.from(s)
        .toString("base64")
        .replace(/(.{76})/g, "$1\n");

/** The guest's job (bash, after guestVm's preamble). */
function job(short: string, repair: string, busy: string, dup: string): string {
    return `
SHORT=${short}
CLONE=/dev/disk/by-id/virtio-$SHORT
HPV=/dev/disk/by-id/virtio-osr-helper-pv
# the state checks see every disk, whatever the guest's LVM devices file says
ALL=(--config 'devices { use_devicesfile = 0 }')
state() {
  osr_result "pvs_$1" pvs "\${ALL[@]}" --reportformat json -o pv_name,vg_name,vg_uuid
  osr_result "lvs_$1" lvs "\${ALL[@]}" --reportformat json -a -o vg_name,lv_name,lv_active
  osr_result "dm_$1" dmsetup ls
  osr_result "mounts_$1" findmnt -rn -o SOURCE,TARGET
}
helper_vg() (   # the helper's own root-like VG: vg0, an LV in use
  set -e
  pvcreate -y "$HPV"
  vgcreate vg0 "$HPV"
  lvcreate -y -L 16m -n own vg0
  mkfs.ext4 -q /dev/vg0/own
  mkdir -p /srv/own
  mount /dev/vg0/own /srv/own
)
fstab_back() (  # the clone's LV through LVM again (only its PV visible: two vg0 exist)
  p=$(readlink -f "$CLONE-part2")
  trap 'umount /mnt/clone 2>/dev/null; vgchange -an --devices "$p" vg0 >&2' EXIT
  set -e
  vgchange -ay --devices "$p" vg0 >&2
  mkdir -p /mnt/clone
  mount -o ro /dev/mapper/vg0-root /mnt/clone
  cp /mnt/clone/var/lib/openstack-recovery/backup/etc/fstab /run/back-backup
  cat /mnt/clone/etc/fstab
)
osr_result lvmconf lvmconfig --typeconfig full devices/use_devicesfile activation/auto_activation_volume_list global/event_activation
osr_result helper_vg helper_vg || exit 1
state helper

osr_hotplug clone
osr_wait_for "$CLONE" 120 || exit 1
udevadm settle; sleep 2; udevadm settle   # udev's LVM event activation, if any, has run
osr_result clone_dev readlink -f "$CLONE"
state before
base64 -d >/run/repair.sh <<'OSR_EOF'
${b64(repair)}
OSR_EOF
base64 -d >/run/busy.sh <<'OSR_EOF'
${b64(busy)}
OSR_EOF
# as DiskRepair does right after the attach: the clone as udev left it
osr_result repair bash -c 'bash -s </run/repair.sh'
state after
osr_result fstab_back fstab_back
osr_result backup_back cat /run/back-backup
# the clone's root LV mounted on the helper (as if someone were using it): refused, nothing changed
busy() (
  p=$(readlink -f "$CLONE-part2")
  set -e
  vgchange -ay --devices "$p" vg0 >&2
  mkdir -p /mnt/busy
  mount -o ro "$(lvs --devices "$p" --noheadings -o lv_path vg0/root | tr -d ' ')" /mnt/busy
)
osr_result busy busy
osr_result busy_run bash -c 'bash -s </run/busy.sh'
osr_result busy_mounts findmnt -rn -o SOURCE,TARGET /mnt/busy
umount /mnt/busy; vgchange -an --devices "$(readlink -f "$CLONE-part2")" vg0 >&2

osr_hotplug clone2
for i in $(seq 120); do [ "$(grep -ls "$SHORT" /sys/block/*/serial | wc -l)" -ge 2 ] && break; sleep 0.5; done
udevadm settle
osr_result serials grep -s . /sys/block/vd*/serial
base64 -d >/run/dup.sh <<'OSR_EOF'
${b64(dup)}
OSR_EOF
osr_result dup bash -c 'bash -s </run/dup.sh'
state dup
`;
}

function pvsOf(run: GuestRun, name: string) {
    return PvsSchema.parse(JSON.parse(resultOf(run, name).stdout)).report[0].pv;
}
function lvsOf(run: GuestRun, name: string) {
    return LvsSchema.parse(JSON.parse(resultOf(run, name).stdout)).report[0].lv;
}

describe("toolkit in a guest (qemu, TCG, real udev and LVM)", () => {
    let disk: BuiltDisk | undefined;
    let work: string | undefined;
    afterAll(() => {
        disk?.cleanup();
        if (work) fs.rmSync(work, { recursive: true, force: true });
    });

    testGuest(
        "LVM root on a VG named like the helper's: found by its by-id link, imported as osr_vg0, repaired, renamed back; a second disk with the serial is refused",
        async () => {
            const volumeId = randomUUID();
            const short = volumeId.slice(0, 20);
            disk = buildDisk({ layout: "lvm", vgName: "vg0", faults: ["missing-device"] });
            // a data volume by UUID that is not attached either (the runbook's usual incident)
            const dataUuid = randomUUID();
            const fstab = `${disk.fstab}UUID=${dataUuid}\t/srv/data\txfs\tdefaults\t0\t2\n`;
            writeExtFile(disk.image, disk.rootOffsetBytes, "/etc/fstab", fstab);
            work = fs.mkdtempSync(path.join(os.tmpdir(), "osr-guest-test-"));
            const helperPv = sparse(path.join(work, "helper-pv.raw"), 64);
            const dupDisk = sparse(path.join(work, "dup.raw"), 16);

            const repair = buildRepairScript({ volumeId, actions: ["fstab"], mode: "repair", deviceTimeoutSeconds: 60 }).script;
            const busy = buildRepairScript({ volumeId, actions: ["fstab"], mode: "repair", deviceTimeoutSeconds: 60 }).script;
            const dup = buildRepairScript({ volumeId, actions: ["fstab"], mode: "report", deviceTimeoutSeconds: 10 }).script;
            const run = await runGuest({
                job: job(short, repair, busy, dup),
                disks: [{ file: helperPv, serial: "osr-helper-pv" }],
                hotplug: { clone: { file: disk.image, serial: short }, clone2: { file: dupDisk, serial: short } },
                timeoutMs: 15 * 60_000,
            });
            // OSR_GUEST_DUMP=FILE keeps everything the guest recorded, for debugging
            if (process.env.OSR_GUEST_DUMP)
                fs.writeFileSync(
                    process.env.OSR_GUEST_DUMP,
                    JSON.stringify({ results: [...run.results.values()], console: run.console }, null, 2),
                );
            const ctx = (name: string) => {
                const r = resultOf(run, name);
                return `${name}: rc ${r.rc}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
            };
            console.log(`guest: ${run.ms} ms (boot, helper VG, hot-plug, repair, checks, power-off); ${ctx("lvmconf")}`);
            expect(run.hotplugged).toEqual(["clone", "clone2"]);
            if (resultOf(run, "helper_vg").rc !== 0) throw new Error(ctx("helper_vg"));
            const helperVg = pvsOf(run, "pvs_helper").find((p) => p.vg_name === "vg0");
            expect(helperVg).toBeDefined();
            const helperPvName = helperVg!.pv_name;
            const cloneDev = resultOf(run, "clone_dev").stdout.trim();
            // the clone is not the first disk: root, job, result, helper PV come before it
            expect(cloneDev).toMatch(/^\/dev\/vd[e-z]$/);

            // before: two VGs named vg0, and udev's LVM event activation (Debian's and RHEL's default,
            // event_activation=1) has already activated the clone's vg0/root: a dm name next to the
            // helper's vg0-own does not clash, the duplicate VG name does not stop it
            const before = pvsOf(run, "pvs_before");
            const clonePv = before.find((p) => p.pv_name.startsWith(cloneDev));
            expect(clonePv).toMatchObject({ vg_name: "vg0" });
            expect(clonePv!.vg_uuid).not.toBe(helperVg!.vg_uuid);
            const autoActivated = lvsOf(run, "lvs_before").some((l) => l.lv_name === "root" && l.lv_active === "active");

            // the repair as DiskRepair runs it, right after the attach
            const rep = resultOf(run, "repair");
            const report = parseRepairReport(rep.stdout);
            if (!report.ok) throw new Error(`${JSON.stringify(report, null, 2)}\n--- stderr ---\n${rep.stderr}`);
            expect(report.device).toEqual({ path: cloneDev, link: `/dev/disk/by-id/virtio-${short}` });
            expect(report.warnings.some((w) => w.includes("renamed to osr_vg0"))).toBe(true);
            expect(report.root).toMatchObject({ lv: "vg0/root", fsType: "ext4", uuid: disk.rootUuid });
            const fstabAction = report.actions.find((a) => a.name === "fstab")!;
            expect(fstabAction.status).toBe("changed");
            // udev had activated the clone's VG on attach: the toolkit deactivated it (it was the
            // clone's own, unused) instead of refusing the disk as "held by dm"
            if (autoActivated) expect(rep.stderr).toMatch(/lvm: VG vg0 of this disk was active .*deactivated it/);
            else console.warn("udev did not auto-activate the clone's VG in this guest: the deactivation was not exercised");

            // after: nothing of the toolkit mounted, only the helper's LV active
            expect(lvsOf(run, "lvs_after").filter((l) => l.lv_active === "active")).toEqual([
                { vg_name: "vg0", lv_name: "own", lv_active: "active" },
            ]);
            expect(resultOf(run, "dm_after").stdout.trim().split("\n")).toEqual([expect.stringMatching(/^vg0-own\s/)]);
            const mounts = resultOf(run, "mounts_after").stdout;
            expect(mounts).not.toMatch(/openstack-recovery|osr_|vg0-root/);
            expect(mounts.split("\n").filter((l) => l.startsWith(cloneDev))).toEqual([]);
            expect(mounts).toMatch(/^\/dev\/mapper\/vg0-own \/srv\/own$/m);

            // the clone's VG named vg0 again (with a new UUID: vgimportclone), the helper's vg0 as it was,
            // though the helper's vg0 is active (/dev/vg0 exists)
            expect(report.warnings.filter((w) => w.startsWith("cleanup:"))).toEqual([]);
            expect(rep.stderr).toContain("lvm: renamed osr_vg0 back to vg0");
            expect(report.lvm).toEqual([{ vg: "vg0", importedAs: "osr_vg0", nameNow: "vg0", activated: true, note: null }]);
            const renamed = pvsOf(run, "pvs_after");
            expect(renamed.find((p) => p.pv_name === helperPvName)).toEqual(helperVg);
            const cloneAfter = renamed.find((p) => p.pv_name === clonePv!.pv_name);
            expect(cloneAfter?.vg_name).toBe("vg0");
            expect(cloneAfter?.vg_uuid).not.toBe(clonePv!.vg_uuid);
            expect(renamed.filter((p) => p.vg_name.startsWith("osr_"))).toEqual([]);

            // the repaired fstab, read back from the LV in the guest (through LVM) and on the host (at its offset)
            const back = resultOf(run, "fstab_back");
            if (back.rc !== 0) throw new Error(ctx("fstab_back"));
            expect(back.stdout).toContain("/dev/mapper/vg0-root\t/\text4\tdefaults,errors=remount-ro\t0\t1");
            expect(back.stdout).toContain("/dev/vdb\t/mnt/data\text4\tdefaults,nofail\t0\t2");
            expect(back.stdout).toContain(`UUID=${dataUuid}\t/srv/data\txfs\tdefaults,nofail\t0\t2`);
            expect(resultOf(run, "backup_back").stdout).toBe(fstab);
            expect(readExtFile(disk.image, disk.rootOffsetBytes, "/etc/fstab")).toBe(back.stdout);

            // the clone's LV mounted on the helper: refused before anything is changed
            if (resultOf(run, "busy").rc !== 0) throw new Error(ctx("busy"));
            const busyReport = parseRepairReport(resultOf(run, "busy_run").stdout);
            expect(busyReport.ok).toBe(false);
            expect(busyReport.error).toMatch(
                new RegExp(`^refusing: ${cloneDev}2 is held by dm-\\d+: LV vg0-root of this disk is mounted on the helper$`),
            );
            expect(resultOf(run, "busy_mounts").stdout).toMatch(/^\/dev\/mapper\/vg0-root \/mnt\/busy$/m);
            expect(readExtFile(disk.image, disk.rootOffsetBytes, "/etc/fstab")).toBe(back.stdout);

            // a second disk with the same serial: refused, nothing touched
            const dupRun = resultOf(run, "dup");
            const dupReport = parseRepairReport(dupRun.stdout);
            expect(dupReport.ok).toBe(false);
            expect(dupReport.error).toMatch(new RegExp(`serial ${short} matches more than one disk.*refusing to guess`));
            expect(pvsOf(run, "pvs_dup").find((p) => p.pv_name === clonePv!.pv_name)).toEqual(cloneAfter);
            expect(resultOf(run, "dm_dup").stdout.trim().split("\n")).toEqual([expect.stringMatching(/^vg0-own\s/)]);
        },
        25 * 60_000,
    );
});
