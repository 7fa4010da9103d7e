// Issue 12: a helper in another availability zone is not refused at preview (Nova attaches across
// zones by default); where the cloud forbids it ([cinder] cross_az_attach = False), Nova's refusal
// (nova/volume/cinder.py check_availability_zone -> InvalidVolume, HTTP 400) is said as what to do.
// Played by a fake Nova and Cinder: the lab's Nova allows the cross-zone attach.
import { attachAndWait } from "../../providers/ops";
import { fakeCloudSession } from "../support/fakeCloud";

describe("an attach across availability zones", () => {
    const { cloud, session } = fakeCloudSession();

    it("refused by Nova: the error keeps Nova's words and says to use a helper in the volume's zone", async () => {
        cloud.routes = (req) =>
            req.method === "POST"
                ? {
                      status: 400,
                      body: {
                          badRequest: {
                              code: 400,
                              message:
                                  "Invalid volume: Server and volumes are not in the same availability zone. Server is in: az2. Volumes are in: nova",
                          },
                      },
                  }
                : { status: 200, body: { volume: { id: "v1", status: "available", size: 1, bootable: "false", attachments: [] } } };
        await expect(attachAndWait(session(), "v1", "helper", "the helper", 5, () => undefined)).rejects.toThrow(
            /Server and volumes are not in the same availability zone[\s\S]*does not attach volumes across availability zones \(\[cinder\] cross_az_attach = False\): use a server in the volume's zone \(helper.server\)/,
        );
    });

    it("another 400 is passed on as it is", async () => {
        cloud.routes = (req) =>
            req.method === "POST"
                ? { status: 400, body: { badRequest: { code: 400, message: "Invalid volume: volume v1 is not available" } } }
                : { status: 200, body: { volume: { id: "v1", status: "available", size: 1, bootable: "false", attachments: [] } } };
        const p = attachAndWait(session(), "v1", "helper", "the helper", 5, () => undefined);
        await expect(p).rejects.toThrow(/volume v1 is not available/);
        await expect(p).rejects.not.toThrow(/cross_az_attach/);
    });
});
