// The stack config is one schema; each mistake is reported with the key and the command that fixes it.
import { ConfigError, parseConfig } from "../../stacks/config";

const base: Record<string, string> = {
    "openstack-recovery:incident": "INC1234",
    "openstack-recovery:server": "web-1",
    "openstack-recovery:helper": JSON.stringify({ server: "snap-mounter" }),
};
const parse = (over: Record<string, string | undefined>) => parseConfig((k) => ({ ...base, ...over })[k]);

describe("stack config", () => {
    it("fills the defaults an operator expects", () => {
        const c = parse({});
        expect(c).toMatchObject({
            incident: "INC1234", server: "web-1", strategy: "auto", keepIp: true,
            helper: { server: "snap-mounter", sshUser: "root", sshPort: 22 },
            repair: { actions: ["fstab"], mode: "repair" },
            replacement: { moveDataVolumes: true, boot: true },
            retain: { server: true, port: true, rootVolume: true },
        });
    });

    it("takes booleans, addresses and objects as Pulumi stores them (JSON text)", () => {
        expect(parse({ "openstack-recovery:keepIp": "false" }).keepIp).toBe(false);
        expect(parse({ "openstack-recovery:keepIp": "10.251.0.10" }).keepIp).toBe("10.251.0.10");
        expect(parse({ "openstack-recovery:repair": JSON.stringify({ actions: ["fsck", "fstab"], mode: "report" }) }).repair).toMatchObject({ actions: ["fsck", "fstab"], mode: "report" });
    });

    it.each([
        [{ "openstack-recovery:incident": "INC 12!" }, /openstack-recovery:incident: must be 3-40 letters[\s\S]*fix: pulumi config set incident INC1234/],
        [{ "openstack-recovery:incident": undefined }, /openstack-recovery:incident: required/],
        [{ "openstack-recovery:server": undefined }, /openstack-recovery:server: required[\s\S]*pulumi config set server/],
        [{ "openstack-recovery:helper": undefined }, /openstack-recovery:helper: required[\s\S]*pulumi config set --path helper.server/],
        [{ "openstack-recovery:helper": "{}" }, /openstack-recovery:helper.server: required/],
        [{ "openstack-recovery:keepIp": "maybe" }, /openstack-recovery:keepIp:[\s\S]*fix: pulumi config set keepIp true/],
        [{ "openstack-recovery:repair": JSON.stringify({ actions: ["reboot"] }) }, /openstack-recovery:repair.actions.0:[\s\S]*fstab, fsck/],
    ])("rejects %j naming the key and the fix", (over, message) => {
        expect(() => parse(over)).toThrow(ConfigError);
        expect(() => parse(over)).toThrow(message);
    });
});
