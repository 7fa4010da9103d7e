// Issue 12: the runbook's own platform. The lab (Zed) is played as Train (RHOSP 16.2) by the API
// recorder in front of it: Nova's version document says 2.79, Cinder's 3.59, each answers 406 above
// that, and the catalog has no block-storage type. The web-1 recovery runs up and destroy through it
// as on the newest cloud; a key whose feature is newer than Train is refused at preview with both
// versions named, before anything changes.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { z } from "zod";
import { destroy, preview, up, type StackRun } from "../engine";
import { ApiRecorder, TRAIN } from "../support/apiRecorder";
import { ensureSeededIncident, GIVE_BACK, recordedClouds, reseed, web1Run } from "../support/incident";
import { requireLab, type Seed } from "../support/lab";
import { osc, oscExists } from "../support/oscli";

jest.setTimeout(15 * 60_000);

const minor = (header: string) => Number(header.split(" ")[1]!.split(".")[1]);

describe("on a cloud played as Train", () => {
    let seed: Seed;
    let recorder: ApiRecorder;
    let tmp: string;
    let run: (config?: Record<string, unknown>) => StackRun;

    beforeAll(async () => {
        seed = ensureSeededIncident(requireLab());
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "osr-train-"));
        recorder = await ApiRecorder.start("http://127.0.0.1:5000/v3", TRAIN);
        const clouds = recordedClouds(recorder, tmp);
        const stateDir = fs.mkdtempSync(path.join(tmp, "s-"));
        run = (config = {}) =>
            web1Run({
                seed,
                stack: "train",
                cloudsFile: clouds,
                stateDir,
                config: Object.fromEntries(
                    Object.entries({ incident: "INC0052", ...GIVE_BACK, ...config }).map(([k, v]) => [
                        `openstack-recovery:${k}`,
                        typeof v === "string" ? v : JSON.stringify(v),
                    ]),
                ),
            });
    });
    afterAll(async () => {
        await recorder?.stop();
        fs.rmSync(tmp, { recursive: true, force: true });
        reseed();
    });

    it("a feature newer than Train (replacement.hostname, Nova 2.90) is refused at preview naming both versions", async () => {
        recorder.reset();
        await expect(preview(run({ replacement: { hostname: "web-1" } }))).rejects.toThrow(
            /openstack-recovery:replacement.hostname: needs the compute API at microversion 2\.90; this cloud serves 2\.1 to 2\.79[\s\S]*fix: pulumi config rm --path replacement.hostname/,
        );
        expect(recorder.mutating()).toEqual([]);
    });

    it("up recovers web-1 with no call refused, every microversion within Train's", async () => {
        recorder.reset();
        const r = await up(run());
        expect(r.steps.filter((s) => s.error)).toEqual([]);
        const server = osc(["server", "show", String(r.outputs.newServerId)], z.object({ status: z.string() }));
        expect(server.status).toBe("ACTIVE");
        expect(recorder.calls.filter((c) => c.status === 406)).toEqual([]);
        const sent = recorder.calls.flatMap((c) => (c.microversion ? [c.microversion] : []));
        expect(sent.filter((h) => h.startsWith("volume ")).length).toBeGreaterThan(0);
        expect(sent.filter((h) => (h.startsWith("compute ") ? minor(h) > 79 : minor(h) > 59))).toEqual([]);
        expect(sent).toContain("volume 3.59"); // negotiated down from the client's 3.60
    });

    it("destroy gives web-1 its things back and leaves nothing of the stack's", async () => {
        const before = osc(["server", "list", "--name", "^web-1-recovered$"], z.array(z.object({ ID: z.string() })));
        const r = await destroy(run());
        expect(r.steps.filter((s) => s.error)).toEqual([]);
        for (const s of before) expect(oscExists("server", s.ID)).toBe(false);
        expect(recorder.calls.filter((c) => c.status === 406)).toEqual([]);
        const port = osc(["port", "show", seed.web1.portId], z.object({ device_id: z.string(), tags: z.array(z.string()).default([]) }));
        expect(port.device_id).toBe(seed.web1.serverId);
        expect(port.tags.filter((t) => t.startsWith("recovery-"))).toEqual([]);
    });
});
