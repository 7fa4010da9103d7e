// The stack config is one schema; each mistake is reported with the key and the command that fixes it.
import { checkBeforeLooking, ConfigError, parseConfig } from "../../stacks/config";

const base: Record<string, string> = {
    "openstack-recovery:incident": "INC1234",
    "openstack-recovery:server": "web-1",
    "openstack-recovery:helper": JSON.stringify({ server: "snap-mounter" }),
};
/** as the program calls it: a lookup, and every key the stack sets */
const parse = (over: Record<string, string | undefined>) => {
    const all: Record<string, string | undefined> = { ...base, ...over };
    return parseConfig(
        (k) => all[k],
        Object.keys(all).filter((k) => all[k] !== undefined),
    );
};

describe("stack config", () => {
    it("fills the defaults an operator expects", () => {
        const c = parse({});
        expect(c).toMatchObject({
            incident: "INC1234",
            server: "web-1",
            strategy: "auto",
            keepIp: true,
            helper: { server: "snap-mounter", sshUser: "root", sshPort: 22 },
            repair: { actions: ["fstab"], mode: "repair" },
            replacement: { moveDataVolumes: true, boot: true },
            retain: { server: true, port: true, rootVolume: true },
        });
    });

    it("takes booleans, addresses and objects as Pulumi stores them (JSON text)", () => {
        expect(parse({ "openstack-recovery:keepIp": "false" }).keepIp).toBe(false);
        expect(parse({ "openstack-recovery:keepIp": "10.251.0.10" }).keepIp).toBe("10.251.0.10");
        expect(parse({ "openstack-recovery:repair": JSON.stringify({ actions: ["fsck", "fstab"], mode: "report" }) }).repair).toMatchObject(
            { actions: ["fsck", "fstab"], mode: "report" },
        );
    });

    it("takes the operator's check command as is", () => {
        expect(parse({}).verify).toBeUndefined();
        const check = 'nc -z -w 5 "$RECOVERED_IP" 22';
        expect(parse({ "openstack-recovery:verify": check }).verify).toEqual({ command: check });
        expect(parse({ "openstack-recovery:verify": JSON.stringify({ command: check }) }).verify).toEqual({ command: check });
    });

    it.each([
        [
            { "openstack-recovery:incident": "INC 12!" },
            /openstack-recovery:incident: must be 3-40 letters[\s\S]*fix: pulumi config set incident INC1234/,
        ],
        [{ "openstack-recovery:incident": undefined }, /openstack-recovery:incident: required/],
        [{ "openstack-recovery:server": undefined }, /openstack-recovery:server: required[\s\S]*pulumi config set server/],
        [{ "openstack-recovery:helper": undefined }, /openstack-recovery:helper: required[\s\S]*pulumi config set --path helper.server/],
        [{ "openstack-recovery:helper": "{}" }, /openstack-recovery:helper.server: required/],
        [{ "openstack-recovery:keepIp": "maybe" }, /openstack-recovery:keepIp:[\s\S]*fix: pulumi config set keepIp true/],
        [
            { "openstack-recovery:replacement": JSON.stringify({ hostname: "web_1" }) },
            /openstack-recovery:replacement.hostname: must be a hostname/,
        ],
        [
            { "openstack-recovery:repair": JSON.stringify({ actions: ["reboot"] }) },
            /openstack-recovery:repair.actions.0:[\s\S]*fstab, fsck/,
        ],
        [
            { "openstack-recovery:verify": "[1]" },
            /openstack-recovery:verify: must be a command, or an object such as \{"command": "..."\}[\s\S]*fix: pulumi config set verify '<check command>'/,
        ],
        [
            { "openstack-recovery:verify": JSON.stringify({ command: "" }) },
            /openstack-recovery:verify.command: must not be empty[\s\S]*fix: pulumi config set verify/,
        ],
        [
            {
                "openstack-recovery:verify": JSON.stringify({ command: "true" }),
                "openstack-recovery:replacement": JSON.stringify({ boot: false }),
            },
            /openstack-recovery:verify: there is no replacement to check: replacement.boot is false[\s\S]*pulumi config rm verify/,
        ],
        [
            {
                "openstack-recovery:verify": JSON.stringify({ command: "true" }),
                "openstack-recovery:repair": JSON.stringify({ mode: "report" }),
            },
            /openstack-recovery:verify: there is no replacement to check: repair.mode is report/,
        ],
        // a misspelt key would otherwise be ignored, and the recovery go ahead with the default
        [
            { "openstack-recovery:keepip": "false" },
            /openstack-recovery:keepip: unknown key; did you mean keepIp\?[\s\S]*fix: pulumi config rm keepip; pulumi config set keepIp <value>/,
        ],
        [{ "openstack-recovery:retian": "{}" }, /openstack-recovery:retian: unknown key; did you mean retain\?/],
        [
            { "openstack-recovery:helper": JSON.stringify({ server: "snap-mounter", sshkeyfile: "k" }) },
            /openstack-recovery:helper.sshkeyfile: unknown key; did you mean helper.sshKeyFile\?[\s\S]*fix: pulumi config rm --path helper.sshkeyfile; pulumi config set --path helper.sshKeyFile <value>/,
        ],
        [
            { "openstack-recovery:retain": JSON.stringify({ servers: false }) },
            /openstack-recovery:retain.servers: unknown key; did you mean retain.server\?/,
        ],
        [
            { "openstack-recovery:timeouts": JSON.stringify({ boot: 60 }) },
            /openstack-recovery:timeouts.boot: unknown key \(known here: cloneSeconds, repairSeconds, bootSeconds\)/,
        ],
        [
            { "openstack-recovery:verify": JSON.stringify({ command: "true", comand: "x" }) },
            /openstack-recovery:verify.comand: unknown key; did you mean verify.command\?/,
        ],
        [{ "openstack-recovery:wibble": "1" }, /openstack-recovery:wibble: unknown key \(known here: incident, server, strategy, helper/],
    ])("rejects %j naming the key and the fix", (over, message) => {
        expect(() => parse(over)).toThrow(ConfigError);
        expect(() => parse(over)).toThrow(message);
    });

    it("checks a recipe's section before the server is looked at, as the program does before its first API call", () => {
        const check = (over: Record<string, string | undefined>) => {
            const all: Record<string, string | undefined> = { ...base, ...over };
            return () =>
                checkBeforeLooking(
                    (k) => all[k],
                    Object.keys(all).filter((k) => all[k] !== undefined),
                );
        };
        expect(check({})).not.toThrow();
        expect(check({ "openstack-recovery:retain": JSON.stringify({ rootvolume: false }) })).toThrow(
            /openstack-recovery:retain.rootvolume: unknown key; did you mean retain.rootVolume\?/,
        );
        expect(check({ "openstack-recovery:helper": undefined })).toThrow(/openstack-recovery:helper: required/);
        expect(check({ "openstack-recovery:strategy": "volume-backed", "openstack-recovery:helper": "{}" })).toThrow(
            /openstack-recovery:helper.server: required/,
        );
    });
});
