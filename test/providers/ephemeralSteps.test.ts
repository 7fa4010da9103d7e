// The copy and the merge of an ephemeral disk on real qcow2 chains (qemu-img, qemu-io) and a real sshd as
// the compute host: the merged image holds exactly what the guest saw (the overlay's writes over the base),
// the compute host's files are only read, a base already cached with the same sha256 is not copied again,
// a copy that fails leaves nothing, and a raw base whose data looks like a qcow2 header is read as raw
// (probing it would open a "backing file" of the guest's choosing on this machine).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { impl as flatten } from "../../providers/diskFlatten";
import { impl as copy } from "../../providers/ephemeralDiskCopy";
import { faultProxy } from "../support/faultProxy";
import { sshdAvailable, startSshd, type TestSshd } from "../support/sshd";

const available = sshdAvailable();
if (!available.ok) console.warn(`SKIPPED: ephemeral copy tests: ${available.reason}`);
const sshTest = available.ok ? test : test.skip;

const env = { config: () => undefined };
const sha256 = (f: string) => execFileSync("sha256sum", [f], { encoding: "utf8" }).split(" ")[0];
const qemuImg = (...args: string[]) => execFileSync("qemu-img", args, { encoding: "utf8" });
const tag = { incident: "INC9", stack: "org/p/s" };

describe("EphemeralDiskCopy and DiskFlatten", () => {
    let sshd: TestSshd;
    let tmp: string;
    let host: string; // the "compute host's" instances directory (the sshd runs here, as root)
    const target = () => ({
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        privateKeyFile: sshd.privateKeyPath,
        hostKey: sshd.hostPublicKey,
    });

    beforeAll(async () => {
        if (!available.ok) return;
        sshd = await startSshd();
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "osr-eph-steps-"));
        host = path.join(tmp, "instances");
        fs.mkdirSync(path.join(host, "_base"), { recursive: true });
        fs.mkdirSync(path.join(host, "srv-1"));
        // a raw base with data in it, and an overlay that changed some of it (as a guest writes)
        const base = path.join(host, "_base", "b1");
        qemuImg("create", "-f", "raw", base, "16M");
        execFileSync("qemu-io", ["-f", "raw", "-c", "write -P 0x11 0 8M", base]);
        const disk = path.join(host, "srv-1", "disk");
        qemuImg("create", "-f", "qcow2", "-F", "raw", "-b", base, disk);
        execFileSync("qemu-io", ["-f", "qcow2", "-c", "write -P 0x22 1M 64k", disk]);
    });
    afterAll(async () => {
        if (!available.ok) return;
        await sshd.stop();
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    sshTest(
        "copy then merge: the merged image is what the guest saw, with no backing file; the compute host's files are unchanged",
        async () => {
            const disk = path.join(host, "srv-1", "disk");
            const base = path.join(host, "_base", "b1");
            const before = [sha256(disk), sha256(base)];
            const work = path.join(tmp, "work-1");
            const c = await copy.create(
                { ...tag, logicalName: "c1", computeHost: target(), diskPath: disk, workDir: work, timeoutSeconds: 60 },
                env,
            );
            const outs = c.outs as Record<string, unknown>;
            expect(outs).toMatchObject({ backingPath: base, baseCopied: true, baseSha256: before[1], overlaySha256: before[0] });
            expect(path.dirname(String(outs.baseFile))).toBe(path.join(work, "_base"));
            const m = await flatten.create(
                { ...tag, logicalName: "m1", overlayFile: outs.overlayFile, baseFile: outs.baseFile, timeoutSeconds: 60 },
                env,
            );
            const merged = String((m.outs as Record<string, unknown>).mergedFile);
            expect(JSON.parse(qemuImg("info", "--output=json", merged))["backing-filename"]).toBeUndefined();
            // the guest's view, byte for byte: the original chain (still intact on the "host") against the merged image
            expect(qemuImg("compare", "-f", "qcow2", "-F", "qcow2", disk, merged)).toMatch(/Images are identical/);
            expect([sha256(disk), sha256(base)]).toEqual(before);
            // a second incident on the same base: found in the cache, not copied again
            const c2 = await copy.create(
                { ...tag, logicalName: "c2", computeHost: target(), diskPath: disk, workDir: work, timeoutSeconds: 60 },
                env,
            );
            expect(c2.outs).toMatchObject({ baseCopied: false, bytesCopied: fs.statSync(disk).size });
            // each delete removes its own files only
            await flatten.delete(m.id, m.outs!, env);
            await copy.delete(c2.id, c2.outs!, env);
            expect(fs.existsSync(String(outs.overlayFile))).toBe(true);
            await copy.delete(c.id, c.outs!, env);
            expect(fs.readdirSync(work).filter((f) => f !== "_base")).toEqual([]);
            expect(fs.readdirSync(path.join(work, "_base"))).toEqual([]);
        },
    );

    sshTest("a copy that fails (no such disk on the host) leaves no file and says where", async () => {
        const work = path.join(tmp, "work-2");
        await expect(
            copy.create(
                {
                    ...tag,
                    logicalName: "c3",
                    computeHost: target(),
                    diskPath: path.join(host, "nope", "disk"),
                    workDir: work,
                    timeoutSeconds: 60,
                },
                env,
            ),
        ).rejects.toThrow(/c3: reading .*nope\/disk on root@127\.0\.0\.1 failed/);
        expect(fs.readdirSync(work).filter((f) => f !== "_base")).toEqual([]);
    });

    it.each(["cut", "flip"] as const)("a copy whose connection is %s half-way through the base fails and leaves no file", async (mode) => {
        if (!available.ok) return;
        // between us and the compute host: SSH's own integrity check turns a flipped byte into a dead connection
        const proxy = await faultProxy({ targetPort: sshd.port, mode, at: 8 * 1024 * 1024, direction: "down" });
        const work = path.join(tmp, `work-${mode}`);
        try {
            await expect(
                copy.create(
                    {
                        ...tag,
                        logicalName: `c-${mode}`,
                        computeHost: { ...target(), port: Number(new URL(proxy.url).port) },
                        diskPath: path.join(host, "srv-1", "disk"),
                        workDir: work,
                        timeoutSeconds: 60,
                    },
                    env,
                ),
            ).rejects.toThrow(
                mode === "cut" ? /c-cut: the copy of .*_base\/b1 was cut off/ : /c-flip: .*(SSH|integrity|MAC|bad packet|Invalid|cut off)/i,
            );
            expect(proxy.faults()).toBeGreaterThanOrEqual(1);
            const left = fs.readdirSync(work, { recursive: true }) as string[];
            expect(left.filter((f) => fs.statSync(path.join(work, f)).isFile())).toEqual([]);
        } finally {
            await proxy.close();
        }
    });

    sshTest("a raw base whose data starts like a qcow2 header naming a backing file is merged as raw data", async () => {
        const dir = path.join(tmp, "trap");
        fs.mkdirSync(dir);
        // a guest wrote a qcow2 header (pointing at a file of this machine) at the start of its raw disk
        const header = path.join(dir, "header.qcow2");
        qemuImg("create", "-f", "qcow2", "-F", "raw", "-b", "/etc/hostname", header, "1M");
        const base = path.join(dir, "base");
        qemuImg("create", "-f", "raw", base, "4M");
        execFileSync("dd", [`if=${header}`, `of=${base}`, "conv=notrunc", "status=none"]);
        const overlay = path.join(dir, "disk");
        qemuImg("create", "-f", "qcow2", "-F", "raw", "-b", base, overlay);
        const m = await flatten.create({ ...tag, logicalName: "m2", overlayFile: overlay, baseFile: base, timeoutSeconds: 60 }, env);
        const merged = String((m.outs as Record<string, unknown>).mergedFile);
        // the merged disk holds the base's bytes as data: 4 MiB, its first bytes the "header" the guest wrote
        expect((m.outs as Record<string, unknown>).virtualSize).toBe(4 * 1024 * 1024);
        const raw = path.join(dir, "merged.raw");
        qemuImg("convert", "-f", "qcow2", "-O", "raw", merged, raw);
        expect(fs.readFileSync(raw).subarray(0, 4).toString("latin1")).toBe("QFI\xfb");
    });
});
