// The lab cloud (test/lab, `npm run lab:up && npm run lab:seed`) as the tests see it: where its
// files are, what the seed created (.lab/seed.json, validated), and SSH into its guests.
// Lab tests call requireLab() first: without a running, seeded lab they fail with a message that
// says what to run, instead of passing silently.
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";

export const REPO = path.resolve(__dirname, "..", "..");
export const LAB_DIR = path.join(REPO, ".lab");
export const CLOUDS_YAML = path.join(LAB_DIR, "clouds.yaml");
export const SEED_JSON = path.join(LAB_DIR, "seed.json");

/** The lab's hypervisor takes this many seconds more for every boot (test/lab/lab_virt.py); undefined: at once again. */
export function slowBoots(seconds: number | undefined): void {
    const file = path.join(LAB_DIR, "state", "nova", "boot-delay");
    if (seconds === undefined) fs.rmSync(file, { force: true });
    else fs.writeFileSync(file, String(seconds));
}
export const LAB_HINT = "run `npm run lab:up && npm run lab:seed` (as root, on Debian/Ubuntu)";

/** Processes `lab:up` starts; each records its pid in .lab/run/<name>.pid. */
export const LAB_PROCESSES = [
    "epmd",
    "rabbitmq",
    "mariadb",
    "keystone",
    "placement",
    "glance-api",
    "neutron-server",
    "cinder-api",
    "cinder-scheduler",
    "cinder-volume",
    "nova-api",
    "nova-conductor",
    "nova-scheduler",
    "nova-compute",
    "guest-snap-mounter",
    "guest-compute-1",
] as const;

const guestSchema = z.object({
    name: z.string(),
    /** The guest's own address (its network namespace); for snap-mounter = the server's fixed IP. */
    address: z.string(),
    port: z.number().int(),
    /** Who logs in: snap-mounter's default user `cloud-user` (passwordless sudo, as on a cloud image), else root.
     *  Root logs in too, with the same key. */
    user: z.string().min(1),
    /** A user whose sudo asks for a password (snap-mounter only): what a recovery must refuse clearly. */
    passwordSudoer: z.string().min(1).optional(),
    keyPath: z.string(),
    knownHosts: z.string(),
});
export type LabGuest = z.infer<typeof guestSchema>;

const ref = z.object({ id: z.string(), name: z.string() });

export const seedSchema = z.object({
    version: z.literal(1),
    createdAt: z.string(),
    clouds: z.object({ file: z.string(), admin: z.literal("lab-admin"), member: z.literal("lab-member") }),
    project: z.object({ id: z.string(), name: z.literal("incidents") }),
    availabilityZone: z.string(),
    /** Cinder's export dir: volume <id> is the raw file volume-<id> in it. */
    cinderExportDir: z.string(),
    knownHosts: z.string(),
    network: z.object({ id: z.string(), name: z.string(), subnetId: z.string(), cidr: z.string(), gateway: z.string() }),
    images: z.object({ base: ref, web1Root: ref }),
    keypair: z.string(),
    /** The fstab line of the seeded fault (web-1's root volume, eph-1's overlay). */
    badFstabLine: z.string(),
    web1: z.object({
        serverId: z.string(),
        name: z.literal("web-1"),
        portId: z.string(),
        fixedIp: z.string(),
        rootVolumeId: z.string(),
        rootVolumeFile: z.string(),
        /** sha256 of the root volume's file right after seeding. */
        rootVolumeSha256: z.string().regex(/^[0-9a-f]{64}$/),
        rootPartitionOffset: z.number().int(),
        rootFsLabel: z.string(),
        dataVolumes: z.array(z.object({ id: z.string(), name: z.string(), marker: z.string() })).length(2),
    }),
    snapMounter: z.object({
        serverId: z.string(),
        name: z.literal("snap-mounter"),
        portId: z.string(),
        fixedIp: z.string(),
        guest: guestSchema,
    }),
    eph1: z.object({
        serverId: z.string(),
        name: z.literal("eph-1"),
        portId: z.string(),
        fixedIp: z.string(),
        imageId: z.string(),
        /** Paths as the compute host (the compute-1 guest) sees them. */
        instanceDir: z.string(),
        diskPath: z.string(),
        basePath: z.string(),
        baseSha256: z.string().regex(/^[0-9a-f]{64}$/),
        /** The same directory as seen from this machine. */
        hostInstancesDir: z.string(),
        computeHost: guestSchema,
    }),
});
export type Seed = z.infer<typeof seedSchema>;

/** Start time of a process (field 22 of /proc/PID/stat), or null if it is gone or a zombie. */
function procStart(pid: number): string | null {
    try {
        const fields = fs
            .readFileSync(`/proc/${pid}/stat`, "utf8")
            .replace(/^.*\) /s, "")
            .split(" ");
        return fields[0] === "Z" ? null : fields[19];
    } catch {
        return null;
    }
}

/** The recorded process runs. Pid files hold "PID START", so a reused pid does not count. */
function pidAlive(name: string): boolean {
    try {
        const [pid, start] = fs
            .readFileSync(path.join(LAB_DIR, "run", `${name}.pid`), "utf8")
            .trim()
            .split(/\s+/);
        return start !== undefined && procStart(Number(pid)) === start;
    } catch {
        return false;
    }
}

/** Why the lab is not usable, or null when it runs and is seeded. */
export function labProblem(): string | null {
    if (!fs.existsSync(CLOUDS_YAML)) return `no lab at ${LAB_DIR}`;
    const dead = LAB_PROCESSES.filter((n) => !pidAlive(n));
    if (dead.length) return `lab processes not running: ${dead.join(", ")}`;
    if (!fs.existsSync(SEED_JSON)) return "the lab is not seeded";
    const parsed = seedSchema.safeParse(JSON.parse(fs.readFileSync(SEED_JSON, "utf8")));
    if (!parsed.success) return `${SEED_JSON} does not match the expected shape: ${parsed.error.message}`;
    return null;
}

/** Is the lab up and seeded? */
export function labAvailable(): boolean {
    return labProblem() === null;
}

/** The seed, validated. Throws when it is missing or malformed. */
export function readSeed(): Seed {
    return seedSchema.parse(JSON.parse(fs.readFileSync(SEED_JSON, "utf8")));
}

/** For a lab test's beforeAll: the seed, or an error that says what to run. */
export function requireLab(): Seed {
    const problem = labProblem();
    if (problem) throw new Error(`the lab cloud is not available (${problem}): ${LAB_HINT}`);
    return readSeed();
}

/** The raw file that holds volume `volumeId`'s data (cinder's NFS driver on a local dir). */
/** Whether the lab's compute driver really boots web-1 and its replacements (qemu TCG, test/lab/lab_virt.py "real
 *  boots"): the seed found the boot image (test/repairs/boot-image.sh) and named its cache. */
export const labBootsForReal = (): boolean => fs.existsSync(path.join(LAB_DIR, "state", "nova", "boot-image"));

export function volumeFile(volumeId: string, seed: Seed = readSeed()): string {
    return path.join(seed.cinderExportDir, `volume-${volumeId}`);
}

/** One implementation for the whole test suite. */
export { sha256File } from "./disks";

export interface CommandResult {
    code: number;
    stdout: string;
    stderr: string;
}

/** The seeded guests by name: "snap-mounter" (the helper) and "compute-1" (eph-1's host). */
export function guest(name: string, seed: Seed = readSeed()): LabGuest {
    if (name === seed.snapMounter.guest.name) return seed.snapMounter.guest;
    if (name === seed.eph1.computeHost.name) return seed.eph1.computeHost;
    throw new Error(`no lab guest named ${name}`);
}

/** Run `cmd` as root in a guest over SSH (key + pinned host key from the seed; `user` to log in as
 * another, e.g. the guest's own `user`). Never throws for a non-zero exit: look at `code`. */
export function sshGuest(name: string, cmd: string, timeoutMs = 30_000, user = "root"): Promise<CommandResult> {
    const g = guest(name);
    const args = [
        "-F",
        "/dev/null",
        "-i",
        g.keyPath,
        "-p",
        String(g.port),
        "-o",
        `UserKnownHostsFile=${g.knownHosts}`,
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
        `${user}@${g.address}`,
        cmd,
    ];
    return new Promise((resolve) => {
        execFile("ssh", args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
            const code = err ? (typeof err.code === "number" ? err.code : 255) : 0;
            resolve({ code, stdout: String(stdout), stderr: String(stderr) });
        });
    });
}

/** Poll `probe` until it returns a value other than undefined, or fail after `timeoutMs`. */
export async function waitFor<T>(
    what: string,
    probe: () => Promise<T | undefined> | T | undefined,
    timeoutMs = 60_000,
    intervalMs = 500,
): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await probe();
        if (value !== undefined) return value;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await new Promise((r) => setTimeout(r, intervalMs));
    }
}
