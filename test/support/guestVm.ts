// A real Linux guest for tests that need what this machine lacks (device-mapper, so real LVM;
// udev, so real /dev/disk/by-id links): the cached Debian 12 image of test/repairs/boot-image.sh
// booted under qemu TCG (direct kernel boot) on a throw-away qcow2 overlay, so the cache stays
// pristine.
//
// How the guest gets its job and gives results back, without touching its root filesystem:
// - the job is a bash script on a raw virtio disk with serial `osr-job`; the kernel command line
//   runs it with systemd.run= (systemd-run-generator) and powers off when it ends;
// - the job records results with `osr_result NAME CMD...` (exit code, stdout, stderr, base64);
//   on exit they are written to a second raw disk (serial `osr-out`) that the host reads after
//   qemu has exited, and validates with zod (GuestResultSchema);
// - `osr_hotplug NAME` prints a line on the serial console; the host then attaches the disk
//   `hotplug[NAME]` over QMP (blockdev-add + device_add virtio-blk-pci with its serial), as Nova
//   attaches a volume to a running helper; the job waits for its by-id link itself.
// The serial console (ttyS0) carries systemd's messages and the job's own progress lines; its tail
// is in every failure message.
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { z } from "zod";

export interface GuestDisk {
    file: string;
    /** The virtio serial (what udev's /dev/disk/by-id/virtio-<serial> link is named after; max 20 chars). */
    serial: string;
    format?: "raw" | "qcow2";
}

export interface GuestOptions {
    /** The bash body of the job, run as root in the guest after the preamble (osr_result, osr_hotplug). */
    job: string;
    /** Disks present at boot (after the root, the job and the result disk). */
    disks?: GuestDisk[];
    /** Disks the job asks for with `osr_hotplug NAME`. */
    hotplug?: Record<string, GuestDisk>;
    timeoutMs: number;
    memoryMiB?: number;
}

export const GuestResultSchema = z.object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/),
    rc: z.number().int(),
    stdout: z.string(),
    stderr: z.string(),
});
export type GuestResult = z.infer<typeof GuestResultSchema>;

export interface GuestRun {
    /** By name, in the order the job recorded them (a later result of the same name wins). */
    results: Map<string, GuestResult>;
    console: string;
    ms: number;
    /** What was hot-plugged, in order. */
    hotplugged: string[];
}

const has = (cmd: string) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;

/** Can a guest run here? (root for the image build, qemu, qemu-img, debootstrap) */
export function guestSupport(): { ok: true } | { ok: false; reason: string } {
    const missing = ["qemu-system-x86_64", "qemu-img", "debootstrap"].filter((c) => !has(c));
    if (missing.length) return { ok: false, reason: `${missing.join(", ")} not installed (test/repairs/install-deps.sh --boot)` };
    if (process.getuid && process.getuid() !== 0)
        return { ok: false, reason: "not root: the boot image is built with debootstrap as root" };
    return { ok: true };
}

/** The cached boot image directory (built once by test/repairs/boot-image.sh, ~5 min the first time). */
export function bootImage(): string {
    return execFileSync("bash", [path.join(__dirname, "../repairs/boot-image.sh")], {
        encoding: "utf8",
        timeout: 25 * 60_000,
        stdio: ["ignore", "pipe", "inherit"],
    }).trim();
}

const BEGIN = "OSR-RESULTS-BEGIN";
const END = "OSR-RESULTS-END";

/** The job's preamble: console output, the result helpers, results written out on every exit. */
function preamble(): string {
    return `#!/bin/bash
# the guest job (test/support/guestVm.ts); progress on the serial console
exec </dev/null >/dev/console 2>&1
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C
OSR_RESULTS=/run/osr-results
: >"$OSR_RESULTS"
osr_result() {   # NAME CMD...: run CMD, keep its exit code, stdout and stderr for the host
  local name=$1 rc; shift
  "$@" >/run/osr-out 2>/run/osr-err; rc=$?
  printf 'OSR-RESULT %s %s %s %s\\n' "$name" "$rc" "$(base64 -w0 </run/osr-out)" "$(base64 -w0 </run/osr-err)" >>"$OSR_RESULTS"
  echo "guest: $name rc=$rc"
  return $rc
}
osr_hotplug() {  # NAME: ask the host to attach the disk it knows by NAME
  echo "OSR-HOTPLUG $1"
}
osr_wait_for() { # PATH SECONDS: wait for a device node or link
  local i
  for ((i = 0; i < $2 * 2; i++)); do [ -e "$1" ] && return 0; sleep 0.5; done
  echo "guest: $1 did not appear within $2 s"; return 1
}
osr_finish() {
  { echo ${BEGIN}; cat "$OSR_RESULTS"; echo ${END}; } >/run/osr-results.out
  dd if=/run/osr-results.out of=/dev/disk/by-id/virtio-osr-out conv=fsync,notrunc status=none
  echo "guest: job done"
}
trap osr_finish EXIT
udevadm settle
echo "guest: job started"
`;
}

/** Minimal QMP client: one command at a time, answers matched in order (events skipped). */
class Qmp {
    private buf = "";
    private waiting: ((msg: Record<string, unknown>) => void)[] = [];
    private constructor(private sock: net.Socket) {
        sock.on("data", (d) => {
            this.buf += d.toString("utf8");
            let i: number;
            while ((i = this.buf.indexOf("\n")) >= 0) {
                const line = this.buf.slice(0, i).trim();
                this.buf = this.buf.slice(i + 1);
                if (!line) continue;
                const msg = JSON.parse(line) as Record<string, unknown>;
                if ("event" in msg) continue;
                this.waiting.shift()?.(msg);
            }
        });
    }
    static async connect(file: string): Promise<Qmp> {
        for (let i = 0; ; i++) {
            try {
                const sock = await new Promise<net.Socket>((resolve, reject) => {
                    const s = net.createConnection(file, () => resolve(s));
                    s.on("error", reject);
                });
                const q = new Qmp(sock);
                await q.next(); // the greeting
                await q.cmd("qmp_capabilities");
                return q;
            } catch (e) {
                if (i >= 50) throw e;
                await new Promise((r) => setTimeout(r, 100));
            }
        }
    }
    private next(): Promise<Record<string, unknown>> {
        return new Promise((resolve) => this.waiting.push(resolve));
    }
    async cmd(execute: string, args?: Record<string, unknown>): Promise<unknown> {
        const answer = this.next();
        this.sock.write(JSON.stringify(args ? { execute, arguments: args } : { execute }) + "\n");
        const msg = await answer;
        if ("error" in msg) throw new Error(`QMP ${execute}: ${JSON.stringify(msg.error)}`);
        return msg.return;
    }
    close(): void {
        this.sock.destroy();
    }
}

const running = new Set<ChildProcess>();
/** Kill every guest still running (for afterAll: a failed test must not leave qemu behind). */
export function killGuests(): void {
    for (const q of running) q.kill("SIGKILL");
    running.clear();
}

/** Parse the result disk's text (validated: a malformed line is an error, not a silent skip). */
export function parseGuestResults(text: string): Map<string, GuestResult> {
    const b = text.indexOf(BEGIN);
    const e = text.indexOf(END, b);
    if (b < 0 || e < 0) throw new Error("the guest's result disk holds no results (the job did not finish)");
    const out = new Map<string, GuestResult>();
    for (const line of text.slice(b + BEGIN.length, e).split("\n")) {
        if (!line.trim()) continue;
        // no trim: an empty stdout/stderr is an empty last field
        const m = /^OSR-RESULT (\S+) (-?\d+) (\S*) (\S*)$/.exec(line);
        if (!m) throw new Error(`malformed result line from the guest: ${line.slice(0, 200)}`);
        const r = GuestResultSchema.parse({
            name: m[1],
            rc: Number(m[2]),
            stdout: Buffer.from(m[3], "base64").toString("utf8"),
            stderr: Buffer.from(m[4], "base64").toString("utf8"),
        });
        out.set(r.name, r);
    }
    return out;
}

/** Boot the guest, run the job, serve its hot-plug requests, and return what it recorded. */
export async function runGuest(o: GuestOptions): Promise<GuestRun> {
    const dir = bootImage();
    const uuid = fs.readFileSync(path.join(dir, "root-uuid"), "utf8").trim();
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "osr-guest-"));
    try {
        const overlay = path.join(work, "root.qcow2");
        execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-b", path.join(dir, "disk.raw"), "-F", "raw", overlay]);
        const job = path.join(work, "job.raw");
        const body = `${preamble()}\n${o.job}\nexit 0\n`;
        // bash reads the script from the disk and stops at `exit`, before the zero padding
        fs.writeFileSync(job, body);
        fs.truncateSync(job, Math.ceil((body.length + 1) / 1048576) * 1048576);
        const out = path.join(work, "out.raw");
        fs.writeFileSync(out, "");
        fs.truncateSync(out, 16 * 1048576);
        const qmpSock = path.join(work, "qmp.sock");
        const drive = (d: GuestDisk, i: string) => [
            "-drive",
            `file=${d.file},format=${d.format ?? "raw"},if=none,id=${i},cache=unsafe`,
            "-device",
            `virtio-blk-pci,drive=${i},serial=${d.serial}`,
        ];
        const run = `/bin/sh -c 'udevadm settle; exec /bin/bash /dev/disk/by-id/virtio-osr-job'`;
        const args = [
            ...["-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "2", "-m", String(o.memoryMiB ?? 1024)],
            ...["-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot", "-nic", "none"],
            ...["-qmp", `unix:${qmpSock},server=on,wait=off`],
            ...["-kernel", path.join(dir, "vmlinuz"), "-initrd", path.join(dir, "initrd.img")],
            "-append",
            [
                `root=UUID=${uuid} ro console=ttyS0 loglevel=4`,
                `systemd.run="${run}"`,
                "systemd.run_success_action=poweroff systemd.run_failure_action=poweroff",
                "systemd.default_timeout_start_sec=30 systemd.show_status=1",
            ].join(" "),
            ...drive({ file: overlay, serial: "osr-guest-root", format: "qcow2" }, "root"),
            ...drive({ file: job, serial: "osr-job" }, "job"),
            ...drive({ file: out, serial: "osr-out" }, "out"),
            ...(o.disks ?? []).flatMap((d, i) => drive(d, `disk${i}`)),
        ];
        const t0 = Date.now();
        const q = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "pipe", "pipe"] });
        running.add(q);
        let con = "";
        const hotplugged: string[] = [];
        let failure: string | null = null;
        let qmp: Qmp | null = null;
        let seen = 0;
        let plugging = Promise.resolve();
        const tail = () => con.slice(-4000);
        const exited = new Promise<string>((resolve) => {
            const timer = setTimeout(() => {
                failure = `the guest did not finish within ${o.timeoutMs / 1000} s`;
                q.kill("SIGKILL");
            }, o.timeoutMs);
            q.on("exit", (code, sig) => {
                clearTimeout(timer);
                running.delete(q);
                resolve(`qemu exited (${sig ?? code})`);
            });
        });
        const onData = (d: Buffer) => {
            con += d.toString("utf8");
            const re = /OSR-HOTPLUG (\S+)\r?\n/g;
            re.lastIndex = seen;
            let m: RegExpExecArray | null;
            while ((m = re.exec(con))) {
                seen = re.lastIndex;
                const name = m[1];
                plugging = plugging
                    .then(async () => {
                        const disk = o.hotplug?.[name];
                        if (!disk) throw new Error(`the job asked for disk "${name}", which is not in hotplug`);
                        qmp ??= await Qmp.connect(qmpSock);
                        const node = `hp-${hotplugged.length}`;
                        await qmp.cmd("blockdev-add", {
                            "node-name": node,
                            driver: disk.format ?? "raw",
                            cache: { "no-flush": true },
                            file: { driver: "file", filename: disk.file },
                        });
                        await qmp.cmd("device_add", { driver: "virtio-blk-pci", id: `${node}-dev`, drive: node, serial: disk.serial });
                        hotplugged.push(name);
                        con += `\n[host] hot-plugged ${name} (${disk.serial})\n`;
                    })
                    .catch((e: Error) => {
                        failure = `hot-plug of ${name} failed: ${e.message}`;
                        q.kill("SIGKILL");
                    });
            }
        };
        q.stdout?.on("data", onData);
        q.stderr?.on("data", onData);
        const how = await exited;
        (qmp as Qmp | null)?.close();
        const ms = Date.now() - t0;
        if (failure) throw new Error(`${failure}\n--- guest console (tail) ---\n${tail()}`);
        let results: Map<string, GuestResult>;
        try {
            results = parseGuestResults(fs.readFileSync(out, "utf8").replace(/\0+$/, ""));
        } catch (e) {
            throw new Error(`${(e as Error).message}; ${how} after ${ms} ms\n--- guest console (tail) ---\n${tail()}`);
        }
        return { results, console: con, ms, hotplugged };
    } finally {
        fs.rmSync(work, { recursive: true, force: true });
    }
}

/** A result the job must have recorded (with the console tail when it did not). */
export function resultOf(run: GuestRun, name: string): GuestResult {
    const r = run.results.get(name);
    if (!r)
        throw new Error(`the guest recorded no result "${name}" (has: ${[...run.results.keys()].join(", ")})\n${run.console.slice(-3000)}`);
    return r;
}
