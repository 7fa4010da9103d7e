// Run one command on a host over SSH (ssh2): runRemote feeds a script on stdin and collects the
// output; streamRemote pipes stdin from and stdout to streams, with backpressure, for transfers too
// large to hold in memory (a disk image). The private key is read when the command runs (from a file
// path or the SSH agent), so it is never an input, never in state. The host key is pinned when the
// operator gives it, otherwise recorded and reported.
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Readable, Writable } from "stream";

export interface RemoteCommand {
    host: string;
    port: number;
    user: string;
    /** a private key file; default: the SSH agent, then ~/.ssh/id_ed25519, id_ecdsa, id_rsa */
    privateKeyFile?: string | null;
    /** pinned host key: an OpenSSH public key line ("ssh-ed25519 AAAA...") or a "SHA256:..." fingerprint */
    hostKey?: string | null;
    command: string;
    stdin?: string;
    timeoutSeconds: number;
    /** each stderr line as it arrives (progress of the remote script) */
    onStderrLine?: (line: string) => void;
    /** reach the host through this one (`ssh -J`): the runbook reaches compute nodes through the director */
    jump?: JumpHost | null;
}

export interface JumpHost {
    host: string;
    port: number;
    user: string;
    privateKeyFile?: string | null;
    hostKey?: string | null;
}

export interface RemoteResult {
    code: number | null;
    signal?: string;
    stdout: string;
    stderr: string;
    /** SHA256 fingerprint of the host key the server presented, as `ssh-keygen -lf` prints it */
    hostKeyFingerprint: string;
}

export function fingerprint(keyBlob: Buffer): string {
    return `SHA256:${crypto.createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The fingerprint a pinned host key stands for. */
export function pinnedFingerprint(hostKey: string): string {
    const k = hostKey.trim();
    if (k.startsWith("SHA256:")) return k;
    const blob = k.split(/\s+/)[1];
    if (!blob) throw new Error(`hostKey "${k.slice(0, 40)}" is neither an OpenSSH public key line nor a SHA256: fingerprint`);
    return fingerprint(Buffer.from(blob, "base64"));
}

function authOptions(privateKeyFile?: string | null): { privateKey?: Buffer; agent?: string } {
    if (privateKeyFile) {
        const file = privateKeyFile.replace(/^~(?=\/)/, os.homedir());
        if (!fs.existsSync(file)) throw new Error(`SSH private key ${file} does not exist: set helper.sshKeyFile to a readable key`);
        return { privateKey: fs.readFileSync(file) };
    }
    if (process.env.SSH_AUTH_SOCK) return { agent: process.env.SSH_AUTH_SOCK };
    for (const name of ["id_ed25519", "id_ecdsa", "id_rsa"]) {
        const file = path.join(os.homedir(), ".ssh", name);
        if (fs.existsSync(file)) return { privateKey: fs.readFileSync(file) };
    }
    throw new Error("no SSH key: set helper.sshKeyFile, or run an ssh-agent (SSH_AUTH_SOCK), or create ~/.ssh/id_ed25519");
}

/** A command whose stdin comes from a stream and whose stdout goes to one, never buffered here. */
export interface StreamingCommand extends Omit<RemoteCommand, "stdin"> {
    stdin?: Readable;
    stdout: Writable;
}

export interface StreamResult extends Omit<RemoteResult, "stdout"> {
    /** bytes written to `stdout` */
    bytes: number;
}

/** Like runRemote, with stdout piped to `c.stdout` (which is ended) and stdin from `c.stdin`. */
export async function streamRemote(c: StreamingCommand): Promise<StreamResult> {
    let bytes = 0;
    const r = await exec(c, (stream, done) => {
        stream.on("data", (d: Buffer) => {
            bytes += d.length;
            // backpressure: a slow writer pauses the SSH channel instead of filling memory
            if (!c.stdout.write(d)) {
                stream.pause();
                c.stdout.once("drain", () => stream.resume());
            }
        });
        c.stdout.once("error", done);
        // pipe() forwards neither a source's error nor a stuck one: fail the command instead of hanging to its timeout
        c.stdin?.once("error", (e) => done(new Error(`stdin of "${c.command}": ${e.message}`)));
        if (c.stdin) c.stdin.pipe(stream);
        else stream.end();
    }).catch((e: unknown) => {
        c.stdin?.unpipe();
        c.stdout.destroy(e instanceof Error ? e : new Error(String(e))); // a partial transfer is never left looking complete
        throw e;
    });
    await new Promise<void>((resolve, reject) => {
        c.stdout.once("error", reject);
        c.stdout.end(resolve);
    });
    return { ...r, bytes };
}

export async function runRemote(c: RemoteCommand): Promise<RemoteResult> {
    let stdout = "";
    const r = await exec(c, (stream) => {
        stream.on("data", (d: Buffer) => (stdout += d.toString()));
        stream.end(c.stdin ?? "");
    });
    return { ...r, stdout };
}

type Channel = import("ssh2").ClientChannel;

/** One command on one connection; `io` wires the channel's stdin and stdout, stderr is read here. */
function exec(
    c: Omit<RemoteCommand, "stdin">,
    io: (stream: Channel, fail: (e: Error) => void) => void,
): Promise<Omit<RemoteResult, "stdout">> {
    // ssh2 is required here, not at module top, so nothing heavy loads where it is not used
    const { Client } = require("ssh2") as typeof import("ssh2");
    const expected = c.hostKey ? pinnedFingerprint(c.hostKey) : undefined;
    return new Promise<Omit<RemoteResult, "stdout">>((resolve, reject) => {
        const conn = new Client();
        let seen = "";
        let stderr = "";
        let partial = "";
        let settled = false;
        const finish = (err: Error | undefined, r?: Omit<RemoteResult, "stdout">) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            conn.end();
            if (err) reject(err);
            else resolve(r!);
        };
        const timer = setTimeout(
            () => finish(new Error(`${c.user}@${c.host}:${c.port}: "${c.command}" did not finish in ${c.timeoutSeconds}s`)),
            c.timeoutSeconds * 1000,
        );
        conn.on("ready", () => {
            conn.exec(c.command, (err, stream) => {
                if (err) return finish(err);
                stream.stderr.on("data", (d: Buffer) => {
                    stderr += d.toString();
                    partial += d.toString();
                    const lines = partial.split("\n");
                    partial = lines.pop() ?? "";
                    for (const l of lines) if (l.trim()) c.onStderrLine?.(l);
                });
                stream.on("close", (code: number | null, signal?: string) => {
                    if (partial.trim()) c.onStderrLine?.(partial);
                    finish(undefined, { code, signal, stderr, hostKeyFingerprint: seen });
                });
                io(stream, (e) => finish(e));
            });
        });
        conn.on("error", (e) =>
            finish(
                new Error(
                    `SSH to ${c.user}@${c.host}:${c.port} failed: ${e.message}${seen && expected && seen !== expected ? ` (host key ${seen} is not the pinned ${expected})` : ""}`,
                ),
            ),
        );
        const target = {
            host: c.host,
            port: c.port,
            username: c.user,
            readyTimeout: 30_000,
            ...authOptions(c.privateKeyFile),
            hostVerifier: (key: Buffer) => {
                seen = fingerprint(key);
                return expected === undefined || seen === expected;
            },
        };
        if (!c.jump) return conn.connect(target);
        // `ssh -J`: a channel from the jump host to the target carries the target's own SSH session,
        // so the target's host key and our key are checked end to end, the jump host sees only bytes
        const j = c.jump;
        const jumpExpected = j.hostKey ? pinnedFingerprint(j.hostKey) : undefined;
        let jumpSeen = "";
        const via = new Client();
        conn.on("close", () => via.end());
        via.on("error", (e) =>
            finish(
                new Error(
                    `SSH to the jump host ${j.user}@${j.host}:${j.port} failed: ${e.message}${jumpSeen && jumpExpected && jumpSeen !== jumpExpected ? ` (host key ${jumpSeen} is not the pinned ${jumpExpected})` : ""}`,
                ),
            ),
        );
        via.on("ready", () =>
            via.forwardOut("127.0.0.1", 0, c.host, c.port, (err, sock) => {
                if (err) return finish(new Error(`the jump host ${j.host} could not reach ${c.host}:${c.port}: ${err.message}`));
                conn.connect({ ...target, sock });
            }),
        );
        via.connect({
            host: j.host,
            port: j.port,
            username: j.user,
            readyTimeout: 30_000,
            ...authOptions(j.privateKeyFile ?? c.privateKeyFile),
            hostVerifier: (key: Buffer) => {
                jumpSeen = fingerprint(key);
                return jumpExpected === undefined || jumpSeen === jumpExpected;
            },
        });
    });
}
