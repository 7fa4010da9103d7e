// The engine hands Diff the recorded outputs as olds: what a ReservedPort records beyond its inputs
// (the port it ended up with, its addresses) must not look like a change on the next `up`.
import { impl } from "../../providers/reservedPort";

const tagging = { incident: "INC1234", stack: "organization/openstack-recovery/inc1234", logicalName: "rec-port-0" };
const defaults = { fence: true, retain: true, timeoutSeconds: 600, fixedIps: [] };
const found = { ipAddresses: ["10.251.0.10"], macAddress: "fa:16:3e:00:00:01", fenced: true };

describe("ReservedPort diff", () => {
    it("a takeover whose port Nova deleted (re-reserved in a port of our own) is no change on the next up", async () => {
        const inputs = { ...tagging, ...defaults, mode: "takeover", brokenServerId: "web-1", portId: "nova-port" };
        // what reserveInNewPort records: mode create, the new port
        const outs = {
            ...inputs,
            ...found,
            mode: "create",
            portId: "our-port",
            previousDeviceId: "web-1",
            previousDeviceOwner: "compute:nova",
            inputMode: "takeover",
            inputPortId: "nova-port",
        };
        await expect(impl.diff("our-port", outs, inputs)).resolves.toMatchObject({ changes: false, replaces: [] });
        // the operator pointing it at another port is still a replacement
        await expect(impl.diff("our-port", outs, { ...inputs, portId: "other" })).resolves.toMatchObject({
            changes: true,
            replaces: ["portId"],
        });
    });

    it("an address reserved in create mode is no change on the next up, also in a state written before inputMode", async () => {
        const inputs = {
            ...tagging,
            ...defaults,
            mode: "create",
            brokenServerId: "web-1",
            networkId: "net",
            fixedIps: [{ subnet_id: "sub", ip_address: "10.251.0.10" }],
        };
        const outs = {
            ...inputs,
            ...found,
            portId: "our-port",
            previousDeviceId: "",
            previousDeviceOwner: "",
            inputMode: "create",
            inputPortId: null,
        };
        await expect(impl.diff("our-port", outs, inputs)).resolves.toMatchObject({ changes: false });
        const { inputMode: _m, inputPortId: _p, ...older } = outs;
        await expect(impl.diff("our-port", older, inputs)).resolves.toMatchObject({ changes: false });
    });

    it("a port taken over as it was is no change", async () => {
        const inputs = { ...tagging, ...defaults, mode: "takeover", brokenServerId: "web-1", portId: "own-port" };
        const outs = { ...inputs, ...found, previousDeviceId: "web-1", previousDeviceOwner: "compute:nova" };
        await expect(impl.diff("own-port", outs, inputs)).resolves.toMatchObject({ changes: false });
    });
});
