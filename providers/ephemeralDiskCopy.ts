// Runbook 000 section A steps 2-7: copy the instance's ephemeral disk and its backing file from the
// compute host to a work directory on this machine.
//   scp heat-admin@compute-1:/var/lib/nova/instances/<uuid>/disk ./<uuid>-disk
//   file ./<uuid>-disk   -> has backing file (path /var/lib/nova/instances/_base/<hash>)
//   ls -l /var/lib/nova/instances/_base/<hash>   # already here from an earlier incident? then skip it
// Over SSH (directly, or through a jump host as the runbook goes through the director), with only
// reads on the compute host: `stat`, `sha256sum` and `cat`; nothing is ever written there. Each file
// arrives hashed while it streams and counts only when the compute host's own sha256sum agrees, so a
// cut-off transfer, a flipped byte or a disk that changed during the copy fails the step.
import { execFileSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { pipeline } from "stream/promises";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { runRemote, streamRemote, type JumpHost, type RemoteCommand } from "../clients/ssh";
import { checkInputs, diffBy, fileHash, hashingMeter, humanBytes, MODULE, parse, progress, Tagging, wire } from "./step";
import { StepProvider, type StepImplementation } from "./stub";

const SshTarget = z.object({
    host: z.string().min(1),
    port: z.number().int().positive().default(22),
    user: z.string().min(1),
    privateKeyFile: z.string().nullish(),
    hostKey: z.string().nullish(),
});

const Inputs = Tagging.extend({
    computeHost: SshTarget.extend({ jump: SshTarget.nullish() }),
    /** the instance's disk on the compute host: <instances_path>/<server id>/disk */
    diskPath: z.string().startsWith("/"),
    /** where the copies go on this machine; `<workDir>/_base` keeps backing files for later incidents */
    workDir: z.string().startsWith("/"),
    timeoutSeconds: z.number().positive().default(3600),
});
type Inputs = z.infer<typeof Inputs>;
const Outputs = Inputs.extend({
    /** this create's own directory (a replacement makes another, so the old one's delete never touches it) */
    copyDir: z.string().nullish(),
    overlayFile: z.string(),
    overlaySha256: z.string(),
    /** the backing path the overlay names, on the compute host */
    backingPath: z.string().nullable(),
    baseFile: z.string().nullable(),
    baseSha256: z.string().nullable(),
    /** this step copied the base (destroy deletes it); false: it was in the cache already (destroy keeps it) */
    baseCopied: z.boolean(),
    bytesCopied: z.number(),
    /** the compute host's key as it presented it (pin it with computeHost.hostKey) */
    hostKeyFingerprint: z.string(),
});
type Outputs = z.infer<typeof Outputs>;

interface SshTargetArgs {
    host: pulumi.Input<string>;
    port?: pulumi.Input<number>;
    user: pulumi.Input<string>;
    privateKeyFile?: pulumi.Input<string>;
    hostKey?: pulumi.Input<string>;
}

export interface EphemeralDiskCopyArgs {
    incident: pulumi.Input<string>;
    stack: pulumi.Input<string>;
    source?: pulumi.Input<string>;
    computeHost: pulumi.Input<SshTargetArgs & { jump?: pulumi.Input<SshTargetArgs> }>;
    diskPath: pulumi.Input<string>;
    workDir: pulumi.Input<string>;
    timeoutSeconds?: pulumi.Input<number>;
}

/** DELETE-ME copies, on this machine, of an ephemeral disk and its backing file. */
export class EphemeralDiskCopy extends pulumi.dynamic.Resource {
    declare readonly overlayFile: pulumi.Output<string>;
    declare readonly overlaySha256: pulumi.Output<string>;
    declare readonly baseFile: pulumi.Output<string | null>;
    declare readonly baseSha256: pulumi.Output<string | null>;
    declare readonly bytesCopied: pulumi.Output<number>;
    declare readonly hostKeyFingerprint: pulumi.Output<string>;

    constructor(name: string, args: EphemeralDiskCopyArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            new StepProvider("ephemeralDiskCopy"),
            name,
            {
                overlayFile: undefined,
                baseFile: undefined,
                baseSha256: undefined,
                bytesCopied: undefined,
                hostKeyFingerprint: undefined,
                ...args,
                logicalName: name,
            },
            opts,
            MODULE,
            "EphemeralDiskCopy",
        );
    }
}

const gib = humanBytes;
const quote = (p: string) => `'${p.replace(/'/g, `'\\''`)}'`;

/** A create's own directory: its name says what it is, and that it goes; unique, so that a replacement
 *  (created before the old one is deleted) and the old one never share a file. */
const newCopyDir = (i: Pick<Inputs, "workDir" | "logicalName">) =>
    path.join(i.workDir, `${i.logicalName}.${randomBytes(3).toString("hex")}.DELETE-ME`);
const baseCache = (i: Pick<Inputs, "workDir">) => path.join(i.workDir, "_base");

function ssh(i: Inputs): Omit<RemoteCommand, "command" | "timeoutSeconds" | "stdin"> {
    const h = i.computeHost;
    const jump: JumpHost | undefined = h.jump ? { ...h.jump } : undefined;
    return { host: h.host, port: h.port, user: h.user, privateKeyFile: h.privateKeyFile, hostKey: h.hostKey, jump };
}

/** A read-only command on the compute host; its stdout, or an error that says where and why. */
async function onHost(i: Inputs, command: string, what: string): Promise<{ stdout: string; fingerprint: string }> {
    const r = await runRemote({ ...ssh(i), command, timeoutSeconds: i.timeoutSeconds });
    if (r.code !== 0)
        throw new Error(
            `${what} on ${i.computeHost.user}@${i.computeHost.host} failed (exit ${r.code}): ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`,
        );
    return { stdout: r.stdout, fingerprint: r.hostKeyFingerprint };
}

const StatLine = z.string().regex(/^\d+$/).transform(Number);
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);

async function remoteSize(i: Inputs, file: string): Promise<{ size: number; fingerprint: string }> {
    const r = await onHost(i, `stat -L -c %s -- ${quote(file)}`, `reading ${file}`);
    return { size: StatLine.parse(r.stdout.trim()), fingerprint: r.fingerprint };
}

/** The compute host's own sha256 of a file (its sha256sum, in a session of its own). */
async function remoteSha256(i: Inputs, file: string): Promise<string> {
    const r = await onHost(i, `sha256sum -- ${quote(file)}`, `hashing ${file}`);
    return Sha256.parse(r.stdout.trim().split(/\s/)[0]);
}

function freeBytes(dir: string): number {
    const out = execFileSync("df", ["-B1", "--output=avail", dir], { encoding: "utf8" });
    return Number(out.trim().split("\n").at(-1));
}

/** Stream one file from the compute host to `dest` (a .part first, renamed once the compute host's
 *  sha256sum agrees with what arrived). */
/** Stream one file from the compute host to `dest` while the host hashes it in a second session (both
 *  read it once; the page cache serves the second); renamed from its .part only when the hashes agree.
 *  Returns the sha256. */
async function fetch(i: Inputs, remote: string, expected: { size: number }, dest: string, log: (m: string) => void): Promise<string> {
    const theirs = remoteSha256(i, remote);
    theirs.catch(() => undefined); // awaited below
    // a part of this copy's own (two chains may fetch the same base at once), never opened twice
    const part = `${dest}.${process.pid}-${randomBytes(3).toString("hex")}.part`;
    const m = hashingMeter("sha256", expected.size, `copying ${remote}`, log);
    const meter = m.stream;
    const t0 = Date.now();
    // pipeline: a write that fails (a full disk) fails the transfer at once instead of stalling it
    const written = pipeline(meter, fs.createWriteStream(part, { mode: 0o600, flags: "wx" }));
    written.catch(() => undefined); // awaited below; seen here so an early failure is not unhandled
    try {
        const r = await Promise.race([
            streamRemote({ ...ssh(i), command: `cat -- ${quote(remote)}`, stdout: meter, timeoutSeconds: i.timeoutSeconds }),
            written.then(() => new Promise<never>(() => undefined)), // only its failure ends the race
        ]);
        await written;
        if (r.code === null || r.code === undefined)
            throw new Error(
                `the copy of ${remote} was cut off: the connection to the compute host closed after ${gib(m.bytes())} of ${gib(expected.size)}${r.signal ? ` (signal ${r.signal})` : ""}. Nothing was kept; run \`pulumi up\` again`,
            );
        if (r.code !== 0) throw new Error(`cat ${remote} on the compute host exited ${r.code}: ${r.stderr.trim()}`);
        const sum = m.hex();
        const got = m.bytes();
        const there = await theirs;
        if (got !== expected.size)
            throw new Error(
                `the copy of ${remote} was cut off: ${got} of ${expected.size} bytes arrived. Nothing was kept; run \`pulumi up\` again`,
            );
        if (sum !== there)
            throw new Error(
                `the copy of ${remote} is not what the compute host holds (sha256 ${sum.slice(0, 16)}... arrived, ${there.slice(0, 16)}... there): ` +
                    `corrupted in transfer, or the disk changed while it was copied (a running server writes it: stop it first, \`openstack server stop\`). Nothing was kept; run \`pulumi up\` again`,
            );
        fs.renameSync(part, dest);
        log(`copied ${remote} (${gib(got)}) in ${((Date.now() - t0) / 1000).toFixed(0)}s; sha256 matches the compute host's`);
        return sum;
    } catch (e) {
        fs.rmSync(part, { force: true });
        throw e;
    }
}

const fetching = new Map<string, Promise<unknown>>();

/** Run `f` for one base file at a time in this process (the engine runs two chains' copies at once). */
function onePerBase(file: string, f: () => Promise<void>): Promise<void> {
    const before = fetching.get(file) ?? Promise.resolve();
    const mine = before.catch(() => undefined).then(f);
    fetching.set(file, mine);
    void mine.finally(() => fetching.get(file) === mine && fetching.delete(file)).catch(() => undefined);
    return mine;
}

const BackingInfo = z.object({ "backing-filename": z.string().optional(), format: z.string() });

export const impl: StepImplementation = {
    async check(_olds, news) {
        return checkInputs(Inputs, news);
    },

    async diff(_id, olds, news) {
        return diffBy(olds, news, {
            replaceOn: ["diskPath", "workDir", "incident", "stack"],
            updateOn: ["computeHost", "timeoutSeconds"],
        });
    },

    async create(raw) {
        const i = parse(Inputs, raw, "EphemeralDiskCopy inputs");
        const log = progress("EphemeralDiskCopy", i);
        const dir = newCopyDir(i);
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        fs.mkdirSync(baseCache(i), { recursive: true, mode: 0o700 });
        let baseFile: string | null = null;
        let baseCopied = false;
        try {
            const disk = await remoteSize(i, i.diskPath);
            log(`${i.diskPath} on ${i.computeHost.host}: ${gib(disk.size)} (host key ${disk.fingerprint})`);
            // room for the copy and, later, the merged image (at most overlay + base): checked before a byte moves
            const free = freeBytes(dir);
            if (free < 2 * disk.size)
                throw new Error(
                    `${dir} has ${gib(free)} free; the copy of ${i.diskPath} needs ${gib(disk.size)} and the merged image as much again plus the base. Set ephemeral.workDir to a filesystem with at least ${gib(2 * disk.size)} free (and the base's size again)`,
                );
            const overlayFile = path.join(dir, "disk");
            const overlaySha256 = await fetch(i, i.diskPath, disk, overlayFile, log);
            let bytes = disk.size;
            const info = BackingInfo.parse(
                JSON.parse(execFileSync("qemu-img", ["info", "--output=json", overlayFile], { encoding: "utf8" })),
            );
            const backingPath = info["backing-filename"] ?? null;
            let baseSha256: string | null = null;
            if (backingPath) {
                const base = await remoteSize(i, backingPath);
                const cached = path.join(baseCache(i), path.basename(backingPath));
                baseFile = cached;
                // one fetch of a base at a time in this process: a second chain waits, then finds it cached
                await onePerBase(cached, async () => {
                    // runbook step 6: an earlier incident's copy of the same base serves again, if its bytes are the same
                    if (fs.existsSync(cached)) {
                        const [there, here] = await Promise.all([remoteSha256(i, backingPath), fileHash("sha256", cached)]);
                        if (there === here) {
                            log(`${cached} is already here with the same sha256: not copied again`);
                            baseSha256 = here;
                            return;
                        }
                    }
                    const room = freeBytes(baseCache(i));
                    if (room < 2 * base.size)
                        throw new Error(
                            `${baseCache(i)} has ${gib(room)} free; the base ${backingPath} needs ${gib(base.size)} and the merged image up to as much again. Free space there or set ephemeral.workDir elsewhere`,
                        );
                    baseSha256 = await fetch(i, backingPath, base, cached, log);
                    baseCopied = true;
                    bytes += base.size;
                });
            }
            const outs: Outputs = {
                ...i,
                copyDir: dir,
                overlayFile,
                overlaySha256,
                backingPath,
                baseFile,
                baseSha256,
                baseCopied,
                bytesCopied: bytes,
                hostKeyFingerprint: disk.fingerprint,
            };
            return { id: overlayFile, outs: wire(outs) };
        } catch (e) {
            // nothing of a failed create stays: its directory, and a base it copied itself
            fs.rmSync(dir, { recursive: true, force: true });
            if (baseCopied && baseFile) fs.rmSync(baseFile, { force: true });
            throw new Error(`${i.logicalName}: ${(e as Error).message}`);
        }
    },

    async read(id, props) {
        const o = parse(Outputs, props, "EphemeralDiskCopy state");
        if (!fs.existsSync(o.overlayFile)) return { id: "", props: {} };
        return { id, props: wire(o) };
    },

    async update(_id, olds, news) {
        const o = parse(Outputs, olds, "EphemeralDiskCopy state");
        const i = parse(Inputs, news, "EphemeralDiskCopy inputs");
        return { outs: wire({ ...o, ...i }) };
    },

    async delete(_id, props) {
        const o = parse(Outputs, props, "EphemeralDiskCopy state");
        const log = progress("EphemeralDiskCopy", o);
        // only what this step wrote: its own directory, and the base if it copied it
        const dir = o.copyDir ?? path.dirname(o.overlayFile);
        fs.rmSync(dir, { recursive: true, force: true });
        if (o.baseCopied && o.baseFile) fs.rmSync(o.baseFile, { force: true });
        log(`deleted ${dir}${o.baseCopied && o.baseFile ? ` and ${o.baseFile}` : ""}`);
    },
};
