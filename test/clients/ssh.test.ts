// The SSH client's streaming call, through a real sshd: a transfer larger than anything it may hold in
// memory arrives byte for byte, both ways, with a slow writer on the receiving end.
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { PassThrough, Readable, Writable } from "stream";
import { runRemote, streamRemote } from "../../clients/ssh";
import { sshdAvailable, startSshd, type TestSshd } from "../support/sshd";

const available = sshdAvailable();
if (!available.ok) console.warn(`SKIPPED: SSH tests: ${available.reason}`);
const sshTest = available.ok ? test : test.skip;

const sha = (file: string) => crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");

describe("clients/ssh streamRemote", () => {
    let server: TestSshd;
    let tmp: string;
    const target = () => ({
        host: server.host,
        port: server.port,
        user: server.user,
        privateKeyFile: server.privateKeyPath,
        hostKey: server.hostPublicKey,
    });
    beforeAll(async () => {
        if (!available.ok) return;
        server = await startSshd();
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "osr-ssh-stream-"));
    });
    afterAll(async () => {
        if (!available.ok) return;
        await server.stop();
        fs.rmSync(tmp, { recursive: true, force: true });
    });

    sshTest("a 48 MiB file goes up through stdin and comes back through stdout unchanged", async () => {
        const src = path.join(tmp, "src.bin");
        fs.writeFileSync(src, crypto.randomBytes(48 << 20));
        const dst = path.join(tmp, "dst.bin");
        const r = await streamRemote({
            ...target(),
            command: "cat",
            stdin: fs.createReadStream(src),
            stdout: fs.createWriteStream(dst),
            timeoutSeconds: 120,
        });
        expect(r.code).toBe(0);
        expect(r.bytes).toBe(48 << 20);
        expect(sha(dst)).toBe(sha(src));
    });

    sshTest("a slow writer pauses the channel instead of the client buffering: every byte arrives", async () => {
        let received = 0;
        let pending = 0;
        let maxPending = 0;
        const slow = new Writable({
            highWaterMark: 1 << 20,
            write(chunk: Buffer, _enc, done) {
                pending += chunk.length;
                maxPending = Math.max(maxPending, pending);
                setTimeout(() => {
                    received += chunk.length;
                    pending -= chunk.length;
                    done();
                }, 2);
            },
        });
        const r = await streamRemote({ ...target(), command: "head -c 33554432 /dev/zero", stdout: slow, timeoutSeconds: 120 });
        expect(r.code).toBe(0);
        expect(received).toBe(32 << 20);
        // what waits in the writer stays near its high-water mark, far below the 32 MiB sent
        expect(maxPending).toBeLessThan(8 << 20);
    });

    sshTest("a command that fails reports its exit status and stderr; runRemote still collects stdout", async () => {
        const out = new PassThrough();
        out.resume();
        const r = await streamRemote({ ...target(), command: "echo oops >&2; exit 3", stdout: out, timeoutSeconds: 30 });
        expect(r.code).toBe(3);
        expect(r.stderr).toContain("oops");
        const b = await runRemote({ ...target(), command: "cat; echo done", stdin: "hello\n", timeoutSeconds: 30 });
        expect([b.code, b.stdout]).toEqual([0, "hello\ndone\n"]);
    });

    sshTest("a source that fails mid-transfer fails the call at once, and the destination is destroyed, not ended", async () => {
        let sent = 0;
        const failing = new Readable({
            read() {
                if (sent >= 4 << 20) return this.destroy(new Error("disk read error"));
                sent += 1 << 20;
                this.push(Buffer.alloc(1 << 20));
            },
        });
        const out = new PassThrough();
        out.resume();
        await expect(streamRemote({ ...target(), command: "cat", stdin: failing, stdout: out, timeoutSeconds: 60 })).rejects.toThrow(
            /stdin of "cat": disk read error/, // not the 60 s timeout
        );
        expect([out.destroyed, out.writableFinished]).toEqual([true, false]);
    });
});

describe("clients/ssh through a jump host (ssh -J)", () => {
    let jump: TestSshd;
    let target: TestSshd;
    beforeAll(async () => {
        if (!available.ok) return;
        [jump, target] = await Promise.all([startSshd(), startSshd()]);
        // the target trusts the jump host's client key too: one key for both hops, as an operator's agent would have
        fs.appendFileSync(path.join(target.dir, "authorized_keys"), fs.readFileSync(`${jump.privateKeyPath}.pub`));
    });
    afterAll(async () => {
        if (!available.ok) return;
        await Promise.all([jump.stop(), target.stop()]);
    });
    const via = () => ({
        host: target.host,
        port: target.port,
        user: target.user,
        privateKeyFile: jump.privateKeyPath,
        hostKey: target.hostPublicKey,
        jump: { host: jump.host, port: jump.port, user: jump.user, hostKey: jump.hostPublicKey },
        timeoutSeconds: 30,
    });

    sshTest("the command runs on the target, reached through the jump host, both host keys checked", async () => {
        const r = await runRemote({ ...via(), command: "echo $SSH_CONNECTION" });
        expect(r.code).toBe(0);
        // it ran on the target; the jump host logged our login first
        expect(r.stdout.trim().split(" ")[3]).toBe(String(target.port));
        expect(fs.readFileSync(path.join(jump.dir, "sshd.log"), "utf8")).toMatch(/Accepted publickey for root/); // we logged in there first
    });

    sshTest("a jump host whose key is not the pinned one stops before the target is reached", async () => {
        await expect(runRemote({ ...via(), jump: { ...via().jump, hostKey: target.hostPublicKey }, command: "true" })).rejects.toThrow(
            /jump host root@127\.0\.0\.1:\d+ failed[\s\S]*is not the pinned/,
        );
    });
});
