// A private OpenSSH server on 127.0.0.1 for tests: its own host and client keys and config in a
// temp dir, a random free port, root login with the key only, no PAM. Nothing under /etc is
// touched (sshd insists on /run/sshd, its privilege-separation directory, which is created).
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";

export interface TestSshd {
    host: string;
    port: number;
    user: string;
    privateKeyPath: string;
    /** "ssh-ed25519 AAAA…" of the server, for host-key pinning. */
    hostPublicKey: string;
    dir: string;
    pid: number;
    stop(): Promise<void>;
}

function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once("error", reject);
        s.listen(0, "127.0.0.1", () => {
            const addr = s.address();
            const port = typeof addr === "object" && addr ? addr.port : 0;
            s.close(() => resolve(port));
        });
    });
}

function canConnect(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const c = net.connect(port, "127.0.0.1");
        c.once("connect", () => {
            c.destroy();
            resolve(true);
        });
        c.once("error", () => resolve(false));
    });
}

/** Is an sshd binary there to start? (openssh-server) */
export function sshdAvailable(): { ok: true } | { ok: false; reason: string } {
    if (!fs.existsSync("/usr/sbin/sshd"))
        return { ok: false, reason: "/usr/sbin/sshd is missing (apt-get install openssh-server; see test/repairs/install-deps.sh)" };
    if (process.getuid && process.getuid() !== 0) return { ok: false, reason: "not root: the test sshd logs in as root" };
    return { ok: true };
}

export async function startSshd(): Promise<TestSshd> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "osr-sshd-"));
    fs.chmodSync(dir, 0o700);
    const hostKey = path.join(dir, "host_ed25519");
    const clientKey = path.join(dir, "client_ed25519");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "osr-test-host", "-f", hostKey]);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "osr-test-client", "-f", clientKey]);
    fs.copyFileSync(`${clientKey}.pub`, path.join(dir, "authorized_keys"));
    fs.chmodSync(path.join(dir, "authorized_keys"), 0o600);
    const port = await freePort();
    const config = [
        `Port ${port}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${hostKey}`,
        `PidFile ${dir}/sshd.pid`,
        `AuthorizedKeysFile ${dir}/authorized_keys`,
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PubkeyAuthentication yes",
        "UsePAM no",
        "StrictModes no",
        "PrintMotd no",
        "ClientAliveInterval 0",
        "LogLevel VERBOSE",
        "",
    ].join("\n");
    fs.writeFileSync(path.join(dir, "sshd_config"), config);
    fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
    execFileSync("/usr/sbin/sshd", ["-t", "-f", path.join(dir, "sshd_config")]);
    // -D: stay in the foreground as our child, so stop() kills exactly this process
    const child = spawn("/usr/sbin/sshd", ["-D", "-f", path.join(dir, "sshd_config"), "-E", path.join(dir, "sshd.log")], {
        stdio: "ignore",
    });
    const pid = child.pid ?? 0;
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(port))) {
        if (child.exitCode !== null || Date.now() > deadline) {
            const log = fs.existsSync(path.join(dir, "sshd.log")) ? fs.readFileSync(path.join(dir, "sshd.log"), "utf8") : "";
            child.kill();
            throw new Error(`sshd did not start on 127.0.0.1:${port}: ${log.slice(-500)}`);
        }
        await new Promise((r) => setTimeout(r, 50));
    }
    const hostPublicKey = fs.readFileSync(`${hostKey}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    return {
        host: "127.0.0.1",
        port,
        user: "root",
        privateKeyPath: clientKey,
        hostPublicKey,
        dir,
        pid,
        stop: async () => {
            if (child.exitCode === null) {
                const exited = new Promise<void>((r) => child.once("exit", () => r()));
                child.kill("SIGTERM");
                await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
            }
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}
