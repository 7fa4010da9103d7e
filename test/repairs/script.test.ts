// The TypeScript boundary: option validation names the field and the fix, the script is
// deterministic and valid bash, and parseRepairReport refuses garbage with a clear message.
import { spawnSync } from "child_process";
import { buildRepairScript, parseRepairReport, REPAIR_ACTIONS, RepairScriptOptions, REPORT_BEGIN, REPORT_END } from "../../toolkit";

const VOL = "6a3a7ee8-47a4-4e4b-a4b2-13f2fe2d3a3c";
const base: RepairScriptOptions = { volumeId: VOL, actions: ["fstab"], mode: "repair" };

describe("buildRepairScript options", () => {
    const bad: [string, unknown, RegExp][] = [
        ["a volume name instead of an id", { ...base, volumeId: "vol-clone-inc1234" }, /volumeId must be a Cinder volume id.*not its name/],
        ["an unknown action", { ...base, actions: ["fstab", "reboot"] }, /actions\.1: unknown action "reboot": use one of fstab, fsck/],
        ["no action", { ...base, actions: [] }, /actions is empty/],
        ["an action twice", { ...base, actions: ["fstab", "fstab"] }, /actions\.1: action "fstab" is listed twice/],
        ["custom without a script", { ...base, actions: ["custom"] }, /customScript: actions has "custom" but customScript is empty/],
        ["a script without custom", { ...base, customScript: "true" }, /customScript is set but actions has no "custom"/],
        ["a bad mode", { ...base, mode: "dry-run" }, /mode must be "repair" or "report"/],
        ["a bad policy", { ...base, fstabPolicy: "delete" }, /fstabPolicy must be "nofail" \(default\) or "comment"/],
        ["a bad timeout", { ...base, deviceTimeoutSeconds: 0 }, /deviceTimeoutSeconds must be at least 1/],
        ["a relative by-id dir", { ...base, byIdDir: "by-id" }, /byIdDir must be an absolute path/],
        ["an unknown option", { ...base, force: true }, /force/],
    ];
    test.each(bad)("rejects %s", (_name, opts, message) => {
        expect(() => buildRepairScript(opts as RepairScriptOptions)).toThrow(message);
    });

    test("same options, same text and sha256; other options, other sha256", () => {
        const a = buildRepairScript({ ...base, actions: ["fsck", "fstab"] });
        const b = buildRepairScript({ ...base, actions: ["fsck", "fstab"] });
        expect(a).toEqual(b);
        expect(a.sha256).toMatch(/^[0-9a-f]{64}$/);
        expect(buildRepairScript({ ...base, actions: ["fstab", "fsck"] }).sha256).not.toBe(a.sha256);
        expect(buildRepairScript({ ...base, actions: ["fsck", "fstab"], mode: "report" }).sha256).not.toBe(a.sha256);
    });

    test("inlines only the chosen actions, and the options as bash values", () => {
        const { script } = buildRepairScript({
            ...base,
            actions: ["fstab", "custom"],
            customScript: "echo 'it''s' $HOME",
            fstabPolicy: "comment",
        });
        expect(script).toContain("# ======== actions/fstab.sh");
        expect(script).toContain("# ======== actions/custom.sh");
        expect(script).not.toContain("# ======== actions/grub.sh");
        expect(script).toContain(`OSR_VOLUME_ID='${VOL}'`);
        expect(script).toContain("OSR_FSTAB_POLICY='comment'");
        expect(script).toContain(`OSR_CUSTOM_SCRIPT_B64='${Buffer.from("echo 'it''s' $HOME").toString("base64")}'`);
    });

    test("the generated script with every action is valid bash (and shellcheck-clean when installed)", () => {
        const { script } = buildRepairScript({ ...base, actions: [...REPAIR_ACTIONS], customScript: "true" });
        const syntax = spawnSync("bash", ["-n"], { input: script, encoding: "utf8" });
        expect(syntax.stderr).toBe("");
        expect(syntax.status).toBe(0);
        if (spawnSync("sh", ["-c", "command -v shellcheck"]).status === 0) {
            const sc = spawnSync("shellcheck", ["-s", "bash", "-"], { input: script, encoding: "utf8" });
            expect(sc.stdout).toBe("");
        } else {
            console.warn("shellcheck not installed: lint of the generated script skipped");
        }
    });
});

describe("parseRepairReport", () => {
    const good = {
        version: 1,
        volumeId: VOL,
        mode: "report",
        ok: true,
        error: null,
        device: { path: "/dev/vdb", link: `/dev/disk/by-id/virtio-${VOL.slice(0, 20)}` },
        filesystems: [],
        root: null,
        lvm: [],
        actions: [
            {
                name: "fstab",
                status: "unchanged",
                changed: false,
                wouldChange: false,
                summary: "fine",
                details: [],
                backup: null,
                backups: [],
                diffs: [],
                error: null,
            },
        ],
        warnings: [],
    };
    const wrap = (body: string) => `some noise\nosr: progress\n${REPORT_BEGIN}\n${body}\n${REPORT_END}\nmotd after\n`;

    test("finds the report among other output; null optional fields become undefined", () => {
        const r = parseRepairReport(wrap(JSON.stringify(good)));
        expect(r.actions[0].name).toBe("fstab");
        expect(r.error).toBeUndefined();
        expect(r.actions[0].backup).toBeUndefined();
    });

    test("takes the last report when there are several", () => {
        const r = parseRepairReport(wrap(JSON.stringify({ ...good, ok: false })) + wrap(JSON.stringify(good)));
        expect(r.ok).toBe(true);
    });

    test.each([
        ["empty output", "", /no repair report in the output: .*the output is empty/],
        ["output without the marker", "bash: line 1: sudo: command not found\n", /no repair report.*sudo: command not found/],
        ["a report cut off", `${REPORT_BEGIN}\n{"version":1`, /never comes: the output was cut off/],
        ["not JSON", wrap("{not json"), /not valid JSON/],
        [
            "a wrong shape",
            wrap(JSON.stringify({ ...good, actions: [{ ...good.actions[0], status: "maybe" }] })),
            /expected shape: actions\.0\.status/,
        ],
        ["an unknown action", wrap(JSON.stringify({ ...good, actions: [{ ...good.actions[0], name: "rm-rf" }] })), /actions\.0\.name/],
        ["a missing field", wrap(JSON.stringify({ ...good, ok: undefined })), /expected shape: ok/],
    ])("rejects %s", (_name, out, message) => {
        expect(() => parseRepairReport(out)).toThrow(message);
    });
});
