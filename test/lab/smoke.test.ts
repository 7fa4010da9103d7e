// Smoke test of the lab cloud: what the providers and recipes rely on, checked the way a user
// would check it, with the real `openstack` CLI (test/support/oscli.ts) and by reading the
// volumes' data files and the helper guest over SSH. Needs `npm run lab:up && npm run lab:seed`.
// The tests run in order: the clone made in one is attached, detached and booted in the next.
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";
import { LAB_DIR, REPO, requireLab, sha256File, sshGuest, volumeFile, waitFor, type Seed } from "../support/lab";
import { osc, oscRun } from "../support/oscli";

jest.setTimeout(10 * 60_000);

const Token = z.object({ id: z.string(), project_id: z.string(), user_id: z.string() });
const Volume = z.object({
    id: z.string(),
    status: z.string(),
    size: z.number(),
    bootable: z.string(),
    attachments: z.array(z.object({ server_id: z.string(), device: z.string().nullable() })),
});
const Port = z.object({
    id: z.string(),
    device_id: z.string(),
    fixed_ips: z.array(z.object({ subnet_id: z.string(), ip_address: z.string() })),
});
const Server = z.object({ id: z.string(), status: z.string(), name: z.string() });
const Image = z.object({ id: z.string(), status: z.string(), size: z.number().nullable() });

const volume = (id: string) => osc(["volume", "show", id], Volume);
async function volumeStatus(id: string, want: string, timeoutMs = 60_000): Promise<z.infer<typeof Volume>> {
    return waitFor(
        `volume ${id} ${want}`,
        () => {
            const v = volume(id);
            if (v.status.startsWith("error")) throw new Error(`volume ${id} went ${v.status}`);
            return v.status === want ? v : undefined;
        },
        timeoutMs,
        1000,
    );
}

describe("lab cloud smoke", () => {
    let seed: Seed;
    const tag = `smoke-${process.pid}`;
    const created = { volumes: [] as string[], servers: [] as string[], ports: [] as string[], images: [] as string[] };
    let cloneId = "";
    let byId = "";
    let guestDevice = "";
    let portId = "";
    const SMOKE_IP = "10.251.0.50";

    beforeAll(() => {
        seed = requireLab();
    });

    afterAll(() => {
        // best effort, in dependency order; each item may already be gone
        const quiet = (args: string[]) => {
            try {
                oscRun(args);
            } catch {
                /* already gone */
            }
        };
        if (created.servers.length) quiet(["server", "delete", "--wait", ...created.servers]);
        for (const id of created.volumes) {
            try {
                oscRun(["server", "remove", "volume", seed.snapMounter.serverId, id]);
            } catch {
                /* not attached */
            }
        }
        for (const id of created.volumes) {
            try {
                const v = volume(id);
                if (v.status === "in-use") continue;
            } catch {
                continue;
            }
            quiet(["volume", "delete", id]);
        }
        if (created.ports.length) quiet(["port", "delete", ...created.ports]);
        if (created.images.length) quiet(["image", "delete", ...created.images]);
    });

    test("the admin and the ordinary member both get a token", () => {
        const admin = osc(["token", "issue"], Token, { cloud: "lab-admin" });
        const member = osc(["token", "issue"], Token, { cloud: "lab-member" });
        expect(admin.id).not.toEqual(member.id);
        expect(member.project_id).toBe(seed.project.id);
        expect(admin.project_id).not.toBe(seed.project.id);
    });

    test("web-1's in-use root volume clones with its data (sparse copy)", async () => {
        const root = volume(seed.web1.rootVolumeId);
        expect(root.status).toBe("in-use");
        expect(root.attachments.map((a) => a.server_id)).toContain(seed.web1.serverId);
        const clone = osc(
            ["volume", "create", "--source", root.id, "--size", String(root.size), "--property", `lab-smoke=${tag}`, `${tag}-clone`],
            Volume,
        );
        created.volumes.push(clone.id);
        cloneId = clone.id;
        await volumeStatus(clone.id, "available");

        const sourceFile = volumeFile(root.id, seed);
        const cloneFile = volumeFile(clone.id, seed);
        expect(sha256File(cloneFile)).toBe(sha256File(sourceFile));
        expect(sha256File(sourceFile)).toBe(seed.web1.rootVolumeSha256);
        const st = fs.statSync(cloneFile);
        expect(st.size).toBe(root.size * 1024 ** 3);
        // sparse: the clone holds no more than its source's data (web-1's bootable Debian: ~0.9 GB of 2 GiB)
        expect(st.blocks * 512).toBeLessThan(st.size / 2);
        expect(st.blocks).toBeLessThanOrEqual(fs.statSync(sourceFile).blocks * 1.01 + 2048);
    });

    test("attached to snap-mounter, the clone shows up in its guest by its by-id link, with the bad fstab", async () => {
        expect(cloneId).not.toBe("");
        byId = `/dev/disk/by-id/virtio-${cloneId.slice(0, 20)}`;
        oscRun(["server", "add", "volume", seed.snapMounter.serverId, cloneId]);
        const v = await volumeStatus(cloneId, "in-use");
        expect(v.attachments.map((a) => a.server_id)).toEqual([seed.snapMounter.serverId]);

        const device = await waitFor(
            "the by-id link in the guest",
            async () => {
                const r = await sshGuest("snap-mounter", `readlink -e ${byId}`);
                return r.code === 0 ? r.stdout.trim() : undefined;
            },
            15_000,
        );
        expect(device).toMatch(/^\/dev\/loop\d+$/);
        guestDevice = device;

        // what the helper would do: find the root partition and read its fstab, without mounting
        const part1 = `${byId}-part1`;
        const blk = await sshGuest("snap-mounter", `blkid -o export ${part1}`);
        expect(blk.stdout).toContain("TYPE=ext4");
        expect(blk.stdout).toContain(`LABEL=${seed.web1.rootFsLabel}`);
        const fstab = await sshGuest("snap-mounter", `debugfs -R 'cat /etc/fstab' ${part1}`);
        expect(fstab.code).toBe(0);
        expect(fstab.stdout).toContain(seed.badFstabLine);
        // the same through the whole disk with an offset, as in the runbook
        const viaOffset = await sshGuest("snap-mounter", `debugfs -R 'cat /etc/fstab' '${byId}?offset=${seed.web1.rootPartitionOffset}'`);
        expect(viaOffset.stdout).toContain(seed.badFstabLine);

        // the link is the guest's, not the host's
        expect(fs.existsSync(byId)).toBe(false);
    });

    test("after detach the device is gone from the guest and the loop device is released", async () => {
        oscRun(["server", "remove", "volume", seed.snapMounter.serverId, cloneId]);
        await volumeStatus(cloneId, "available");
        await waitFor(
            "the by-id link to disappear",
            async () => {
                const r = await sshGuest("snap-mounter", `test -e ${byId}; echo $?`);
                return r.stdout.trim() === "1" ? true : undefined;
            },
            15_000,
        );
        const node = await sshGuest("snap-mounter", `ls ${guestDevice} ${guestDevice}p1 ${byId}-part1 2>/dev/null | wc -l`);
        expect(node.stdout.trim()).toBe("0");
        const loops = fs
            .readdirSync("/sys/block")
            .filter((d) => d.startsWith("loop"))
            .filter((d) => {
                try {
                    return fs.readFileSync(`/sys/block/${d}/loop/backing_file`, "utf8").trim() === volumeFile(cloneId, seed);
                } catch {
                    return false;
                }
            });
        expect(loops).toEqual([]);
    });

    test("eph-1's disk sits on compute-1: qcow2 overlay on its _base file, the bad fstab in the overlay only", async () => {
        const e = seed.eph1;
        const info = await sshGuest("compute-1", `qemu-img info --output=json ${e.diskPath}`);
        expect(info.code).toBe(0);
        const disk = z.object({ format: z.string(), "backing-filename": z.string() }).parse(JSON.parse(info.stdout));
        expect(disk.format).toBe("qcow2");
        expect(disk["backing-filename"]).toBe(e.basePath); // the compute host's absolute path
        const base = await sshGuest("compute-1", `sha256sum ${e.basePath}`);
        expect(base.stdout.split(" ")[0]).toBe(e.baseSha256);
        // read the fstab through the overlay chain (a raw copy on the compute host), and in the base
        const raw = path.join(LAB_DIR, `tmp-smoke-${process.pid}.raw`);
        const merged = await sshGuest(
            "compute-1",
            `qemu-img convert -f qcow2 -O raw ${e.diskPath} ${raw} && debugfs -R 'cat /etc/fstab' '${raw}?offset=${seed.web1.rootPartitionOffset}'; rm -f ${raw}`,
        );
        expect(merged.stdout).toContain(seed.badFstabLine);
        const clean = await sshGuest("compute-1", `debugfs -R 'cat /etc/fstab' '${e.basePath}?offset=${seed.web1.rootPartitionOffset}'`);
        expect(clean.stdout).toContain("LABEL=cloudimg-rootfs");
        expect(clean.stdout).not.toContain(seed.badFstabLine);
        // and nowhere else: this machine's own /var/lib/nova/instances has no such disk
        expect(fs.existsSync(e.diskPath)).toBe(false);
    });

    test("an image uploaded to Glance downloads byte for byte", () => {
        const dir = fs.mkdtempSync(path.join(LAB_DIR, "tmp-smoke-"));
        try {
            const file = path.join(dir, "upload.raw");
            fs.writeFileSync(file, crypto.randomBytes(8 << 20));
            const { id } = osc(
                [
                    "image",
                    "create",
                    "--disk-format",
                    "raw",
                    "--container-format",
                    "bare",
                    "--file",
                    file,
                    "--property",
                    `lab-smoke=${tag}`,
                    `${tag}-image`,
                ],
                z.object({ id: z.string() }),
            );
            created.images.push(id);
            const img = osc(["image", "show", id], Image); // create's own output predates the upload
            expect(img.status).toBe("active");
            expect(img.size).toBe(8 << 20);
            const back = path.join(dir, "download.raw");
            oscRun(["image", "save", "--file", back, img.id]);
            expect(sha256File(back)).toBe(sha256File(file));
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("a port created with a fixed IP has exactly that IP", () => {
        const port = osc(
            [
                "port",
                "create",
                "--network",
                seed.network.id,
                "--fixed-ip",
                `subnet=${seed.network.subnetId},ip-address=${SMOKE_IP}`,
                `${tag}-port`,
            ],
            Port,
        );
        created.ports.push(port.id);
        portId = port.id;
        expect(port.fixed_ips).toEqual([{ subnet_id: seed.network.subnetId, ip_address: SMOKE_IP }]);
        expect(port.device_id).toBe("");
    });

    test("a server boots from the cloned volume with that port and becomes ACTIVE", () => {
        expect(cloneId && portId).toBeTruthy();
        oscRun(["volume", "set", "--bootable", cloneId]);
        expect(volume(cloneId).bootable).toBe("true");
        const server = osc(
            [
                "server",
                "create",
                "--flavor",
                "m1.tiny",
                "--volume",
                cloneId,
                "--nic",
                `port-id=${portId}`,
                "--availability-zone",
                seed.availabilityZone,
                "--property",
                `lab-smoke=${tag}`,
                "--wait",
                `${tag}-server`,
            ],
            Server,
        );
        created.servers.push(server.id);
        expect(server.status).toBe("ACTIVE");
        expect(osc(["port", "show", portId], Port).device_id).toBe(server.id);
        expect(volume(cloneId).attachments.map((a) => a.server_id)).toEqual([server.id]);
        // a port made outside Nova survives its server
        oscRun(["server", "delete", "--wait", server.id]);
        created.servers.splice(created.servers.indexOf(server.id), 1);
        const after = osc(["port", "show", portId], Port);
        expect(after.device_id).toBe("");
        expect(after.fixed_ips[0].ip_address).toBe(SMOKE_IP);
    });
    // the demo runs lab:up on a lab that may run already: a running guest keeps its accounts (its bind mounts
    // hold its private /etc; rewriting it once left the helper with no sudoers at all)
    test("lab:up on the running lab keeps the helper's passwordless sudoer", async () => {
        const user = seed.snapMounter.guest.user;
        const sudo = () => sshGuest("snap-mounter", "sudo -n id -un", 30_000, user);
        expect((await sudo()).stdout.trim()).toBe("root");
        execFileSync("bash", [path.join(REPO, "test", "lab", "lab.sh"), "up"], { stdio: "ignore", timeout: 600_000 });
        const after = await sudo();
        expect({ code: after.code, stdout: after.stdout.trim(), stderr: after.stderr.trim() }).toEqual({
            code: 0,
            stdout: "root",
            stderr: "",
        });
    });
});
