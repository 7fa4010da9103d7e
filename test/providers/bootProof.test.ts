// The BootProof step without a cloud that boots: how a console is read (the markers in
// toolkit/bootConsole.ts, on consoles as systemd and agetty print them), and the step against a fake
// Nova whose console grows between reads: a login prompt is proven, emergency mode fails with the
// lines that say why, a driver without a console log is refused with the way out.
import { impl as bootProof } from "../../providers/bootProof";
import { EMERGENCY, LOGIN, plainConsole, readConsole } from "../../toolkit/bootConsole";
import { FakeCloud, stackConfig } from "../support/fakeCloud";

const BOOTING = [
    "[    0.000000] Linux version 6.1.0-28-amd64 (debian-kernel@lists.debian.org)",
    "Begin: Loading essential drivers ... done.",
    "\x1b[0;32m  OK  \x1b[0m] Reached target \x1b[0;1;39mlocal-fs-pre.target\x1b[0m - Preparation for Local File Systems.",
].join("\r\n");
const EMERGENCY_TAIL = [
    "[\x1b[0;1;31m TIME \x1b[0m] Timed out waiting for device \x1b[0;1;39mdev-vdb.device\x1b[0m - /dev/vdb.",
    "[\x1b[0;1;33mDEPEND\x1b[0m] Dependency failed for \x1b[0;1;39mmnt-data.mount\x1b[0m - /mnt/data.",
    "[\x1b[0;1;33mDEPEND\x1b[0m] Dependency failed for \x1b[0;1;39mlocal-fs.target\x1b[0m - Local File Systems.",
    'You are in emergency mode. After logging in, type "journalctl -xb" to view',
    'system logs, "systemctl reboot" to reboot, "systemctl default" or "exit"',
    "to boot into default mode.",
    "Cannot open access to console, the root account is locked.",
    "See sulogin(8) man page for more details.",
    "",
    "Press Enter to continue.",
].join("\r\n");
const LOGIN_TAIL = ["Debian GNU/Linux 12 web-1 ttyS0", "", "web-1 login: "].join("\r\n");

describe("reading a boot console", () => {
    it("a login prompt: the prompt is the last evidence line", () => {
        const v = readConsole(`${BOOTING}\r\n${LOGIN_TAIL}`);
        expect(v.outcome).toBe("login");
        expect(v.evidence.at(-1)).toBe("web-1 login:");
        expect(v.evidence).toContain("Debian GNU/Linux 12 web-1 ttyS0");
    });

    it("emergency mode: the marker and the cause before it, without colour codes", () => {
        const v = readConsole(`${BOOTING}\r\n${EMERGENCY_TAIL}`);
        expect(v.outcome).toBe("emergency");
        expect(v.evidence).toContain("[ TIME ] Timed out waiting for device dev-vdb.device - /dev/vdb.");
        expect(v.evidence.some((l) => EMERGENCY.test(l))).toBe(true);
        expect(v.evidence.join("\n")).not.toMatch(/\x1b/);
    });

    it("emergency mode whose cause is screens above it (as on the lab's real boot): the cause lines come first", () => {
        const units = Array.from({ length: 30 }, (_, n) => `[  OK  ] Finished systemd-unit-${n}.service.`).join("\r\n");
        const [timedOut, dependMount, dependFs, ...marker] = EMERGENCY_TAIL.split("\r\n");
        const v = readConsole([BOOTING, timedOut, dependMount, dependFs, units, ...marker].join("\r\n"));
        expect(v.outcome).toBe("emergency");
        expect(v.evidence.slice(0, 3)).toEqual([
            "[ TIME ] Timed out waiting for device dev-vdb.device - /dev/vdb.",
            "[DEPEND] Dependency failed for mnt-data.mount - /mnt/data.",
            "[DEPEND] Dependency failed for local-fs.target - Local File Systems.",
        ]);
        expect(v.evidence.some((l) => EMERGENCY.test(l))).toBe(true);
        expect(v.evidence.filter((l) => /systemd-unit-/.test(l)).length).toBeLessThanOrEqual(8);
    });

    it("still booting: the console's last lines, no verdict", () => {
        expect(readConsole(BOOTING)).toEqual({ outcome: "booting", evidence: plainConsole(BOOTING).split("\n") });
        expect(readConsole("")).toEqual({ outcome: "booting", evidence: [] });
    });

    it("emergency mode after a login prompt (a reboot that failed) is emergency; a login after emergency is login", () => {
        expect(readConsole(`${LOGIN_TAIL}\r\n${BOOTING}\r\n${EMERGENCY_TAIL}`).outcome).toBe("emergency");
        expect(readConsole(`${EMERGENCY_TAIL}\r\n${BOOTING}\r\n${LOGIN_TAIL}`).outcome).toBe("login");
    });

    it("an operator's own prompt; a line that only mentions 'login:' is no prompt", () => {
        expect(readConsole("Welcome\nPlease sign in> ", { login: /sign in> ?$/ }).outcome).toBe("login");
        expect(readConsole("Started systemd-logind.service - User Login Management.\nlast login: never").outcome).toBe("booting");
        expect(LOGIN.test("web-1 login: ")).toBe(true);
    });
});

describe("the BootProof step against a fake Nova", () => {
    const cloud = new FakeCloud();
    let env: { config: (key: string) => string | undefined };
    let consoles: (string | number)[] = [];
    let asked: unknown[] = [];
    beforeAll(async () => {
        await cloud.start();
        env = { config: stackConfig(cloud.url) };
    });
    afterAll(() => cloud.stop());
    beforeEach(() => {
        asked = [];
        cloud.routes = (req, body) => {
            if (req.method === "POST" && req.url === "/compute/v2.1/servers/srv-1/action") {
                asked.push(JSON.parse(body));
                // each read: the next console in the list (the last one stays), or an HTTP status
                const next = consoles.length > 1 ? consoles.shift()! : consoles[0]!;
                if (typeof next === "number")
                    return { status: next, body: { conflictingRequest: { message: `answer ${next}`, code: next } } };
                return { status: 200, body: { output: next } };
            }
            return { status: 404, body: { itemNotFound: { message: "no route" } } };
        };
    });
    const inputs = {
        incident: "INC1",
        stack: "o/p/s",
        logicalName: "INC1-web-1-boot",
        serverId: "srv-1",
        serverName: "web-1-recovered",
        timeoutSeconds: 30,
    };

    it("reads the console until the login prompt: its lines are the outputs", async () => {
        consoles = [409, BOOTING, `${BOOTING}\r\n${LOGIN_TAIL}`];
        const r = await bootProof.create(inputs, env);
        expect(r.id).toBe("boot-proof-srv-1");
        expect(r.outs).toMatchObject({ outcome: "login", serverId: "srv-1" });
        expect((r.outs as { evidence: string[] }).evidence.at(-1)).toBe("web-1 login:");
        expect(asked[0]).toEqual({ "os-getConsoleOutput": { length: 500 } });
        expect(asked).toHaveLength(3);
    }, 30_000);

    it("emergency mode fails the create with the console lines that say why", async () => {
        consoles = [`${BOOTING}\r\n${EMERGENCY_TAIL}`];
        await expect(bootProof.create(inputs, env)).rejects.toThrow(
            /web-1-recovered \(srv-1\) is ACTIVE but its boot ended in emergency mode[\s\S]*Timed out waiting for device dev-vdb\.device[\s\S]*You are in emergency mode/,
        );
    });

    it("a driver without a console log (501) is refused with the way out", async () => {
        consoles = [501];
        await expect(bootProof.create(inputs, env)).rejects.toThrow(/keeps no console log[\s\S]*bootProof\.enabled false/);
    });

    it("a console that never ends the boot times out with its last lines", async () => {
        consoles = [BOOTING];
        await expect(bootProof.create({ ...inputs, timeoutSeconds: 1 }, env)).rejects.toThrow(
            /neither a login prompt nor emergency mode on its console within 1s[\s\S]*Reached target local-fs-pre\.target/,
        );
    }, 30_000);

    it("check refuses a login pattern that is no regular expression; a new server is proven again", async () => {
        const bad = await bootProof.check({}, { ...inputs, loginPattern: "login: (" });
        expect(bad.failures?.map((f) => f.property)).toEqual(["loginPattern"]);
        const ok = await bootProof.check({}, inputs);
        expect(ok.inputs).toMatchObject({ consoleLines: 500, timeoutSeconds: 30 });
        const d = await bootProof.diff("x", { ...inputs, consoleLines: 500 }, { ...inputs, consoleLines: 500, serverId: "srv-2" });
        expect(d.replaces).toEqual(["serverId"]);
    });
});
