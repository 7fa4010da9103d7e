// Benchmark: the two big transfers of the ephemeral recipe, each against the tool an operator would use
// instead, on the same files in the same run, alternating:
//   - the Glance upload: the ImageUpload step vs `openstack image create --file` (Debian's
//     python3-openstackclient), to the lab's Glance;
//   - the copy from the compute host: the EphemeralDiskCopy step vs `scp`, from compute-1.
// The files are filled with data (a random 64 MiB block repeated), not zeros. Each transfer runs in a
// process of its own, so its peak RSS is its own (the step: test/bench/step-run.js on the compiled package,
// process.resourceUsage;
// the tools: getrusage of the child, RUSAGE_CHILDREN). Nothing here asserts a time: `npm run bench` prints
// the table (and writes it to .lab/bench-transfer.md). BENCH_GIB=2,8 (the default) sets the sizes;
// the lab suite runs it on a small size only (test/e2e/benchmarks.test.ts).
import { execFileSync, spawnSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";
import { pinnedHostKey } from "../support/incident";
import { CLOUDS_YAML, LAB_DIR, REPO, requireLab } from "../support/lab";

jest.setTimeout(120 * 60_000);

const GiB = 1024 ** 3;
const SIZES = (process.env.BENCH_GIB ?? "2,8").split(",").map(Number);
const env = { ...process.env, OS_CLIENT_CONFIG_FILE: CLOUDS_YAML, OS_CLOUD: "lab-member", PYTHONWARNINGS: "ignore" };

/** a file of `bytes`, a random block repeated: data a store cannot skip or compress away */
function dataFile(file: string, bytes: number): void {
    const block = randomBytes(Math.min(64 * 1024 * 1024, bytes));
    const fd = fs.openSync(file, "w");
    for (let done = 0; done < bytes; done += block.length) fs.writeSync(fd, block, 0, Math.min(block.length, bytes - done));
    fs.closeSync(fd);
}

const Measured = z.object({ seconds: z.number(), maxRssMiB: z.number() });
type Measured = z.infer<typeof Measured>;

/** a command in a child, timed, with the child's peak RSS (python's getrusage of its children) */
function measured(cmd: string[]): Measured {
    const py = [
        "import json, resource, subprocess, sys, time",
        "t = time.monotonic()",
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)",
        "s = time.monotonic() - t",
        "if r.returncode: sys.stderr.write(r.stderr.decode()); sys.exit(r.returncode)",
        "print(json.dumps({'seconds': s, 'maxRssMiB': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))",
    ].join("\n");
    const r = spawnSync("python3", ["-c", py, ...cmd], { env, encoding: "utf8", maxBuffer: 1 << 24 });
    if (r.status !== 0) throw new Error(`${cmd.join(" ")} failed: ${r.stderr}`);
    return Measured.parse(JSON.parse(r.stdout));
}

/** a step's create (then delete) in its own process; the step's own timing of create, the process's peak RSS */
function stepRun(step: string, inputs: Record<string, unknown>): Measured {
    const r = spawnSync(process.execPath, [path.join(REPO, "test", "bench", "step-run.js"), step, JSON.stringify(inputs)], {
        env,
        encoding: "utf8",
        maxBuffer: 1 << 24,
    });
    if (r.status !== 0) throw new Error(`step ${step} failed: ${r.stderr}`);
    return Measured.parse(JSON.parse(r.stdout.trim().split("\n").at(-1)!));
}

const tag = { incident: "BENCH", stack: "organization/openstack-recovery/bench" };
const mibs = (bytes: number, m: Measured) => bytes / 1024 ** 2 / m.seconds;
const row = (what: string, bytes: number, ours: Measured, theirs: Measured, tool: string) =>
    `| ${what} | ${(bytes / GiB).toFixed(bytes < GiB ? 3 : 0)} GiB | ${mibs(bytes, ours).toFixed(0)} MiB/s, ${ours.maxRssMiB.toFixed(0)} MB | ${tool}: ${mibs(bytes, theirs).toFixed(0)} MiB/s, ${theirs.maxRssMiB.toFixed(0)} MB | ${(mibs(bytes, ours) / mibs(bytes, theirs)).toFixed(2)}x |`;

it("the Glance upload and the copy from the compute host, against openstack image create and scp", () => {
    const seed = requireLab();
    execFileSync(process.execPath, [path.join(REPO, "scripts", "build-lib.js")], { stdio: "ignore" }); // dist/, what step-run.js loads
    const h = seed.eph1.computeHost;
    const rows: string[] = [];
    const work = fs.mkdtempSync(path.join(LAB_DIR, "bench-"));
    // compute-1 sees its instances directory as /var/lib/nova/instances
    const remoteDir = fs.mkdtempSync(path.join(seed.eph1.hostInstancesDir, "bench-"));
    const remote = (f: string) => path.posix.join("/var/lib/nova/instances", path.basename(remoteDir), f);
    const known = path.join(work, "known_hosts");
    fs.writeFileSync(known, `${h.address} ${pinnedHostKey(seed, h)}\n`);
    try {
        for (const size of SIZES) {
            const bytes = Math.round(size * GiB);
            const file = path.join(remoteDir, `disk-${size}`);
            dataFile(file, bytes);
            // the upload: ours, then the CLI's, same file, same Glance
            const ours = stepRun("imageUpload", {
                ...tag,
                logicalName: `bench-upload-${size}`,
                file,
                name: `BENCH DELETE ME ${size} GiB`,
                diskFormat: "raw",
            });
            const id = `bench-cli-${size}-${Date.now()}`;
            const cli = measured([
                "openstack",
                "image",
                "create",
                "--disk-format",
                "raw",
                "--container-format",
                "bare",
                "--file",
                file,
                id,
            ]);
            execFileSync("openstack", ["image", "delete", id], { env });
            rows.push(row("Glance upload", bytes, ours, cli, "openstack image create --file"));
            // the copy from compute-1: ours, then scp, same file
            const copyDir = path.join(work, `copy-${size}`);
            const copy = stepRun("ephemeralDiskCopy", {
                ...tag,
                logicalName: `bench-copy-${size}`,
                computeHost: { host: h.address, port: h.port, user: h.user, privateKeyFile: h.keyPath, hostKey: pinnedHostKey(seed, h) },
                diskPath: remote(`disk-${size}`),
                workDir: copyDir,
            });
            const scp = measured([
                "scp",
                "-q",
                "-i",
                h.keyPath,
                "-o",
                `UserKnownHostsFile=${known}`,
                "-o",
                "StrictHostKeyChecking=yes",
                `${h.user}@${h.address}:${remote(`disk-${size}`)}`,
                path.join(work, `scp-${size}`),
            ]);
            fs.rmSync(path.join(work, `scp-${size}`), { force: true });
            rows.push(row("copy from the compute host", bytes, copy, scp, "scp"));
            fs.rmSync(file, { force: true });
        }
    } finally {
        fs.rmSync(remoteDir, { recursive: true, force: true });
        fs.rmSync(work, { recursive: true, force: true });
    }
    const table = [
        `Transfers on the lab (${new Date().toISOString().slice(0, 10)}, \`npm run bench -- test/bench/transfer.bench.ts\`, BENCH_GIB=${SIZES.join(",")}):`,
        "",
        "| transfer | size | the step: throughput, peak RSS | the tool: throughput, peak RSS | throughput ratio |",
        "|---|---|---|---|---|",
        ...rows,
    ].join("\n");
    console.log(table);
    fs.writeFileSync(path.join(LAB_DIR, "bench-transfer.md"), `${table}\n`);
    expect(rows).toHaveLength(2 * SIZES.length);
});
