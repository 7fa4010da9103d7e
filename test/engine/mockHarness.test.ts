// test/support/mockHarness.ts: the graph a program registers, as seen by the (wrapped) mock monitor.
import * as pulumi from "@pulumi/pulumi";
import { installMocks, isSecretOutput, outputOf, settle } from "../support/mockHarness";
import { Group, Thing } from "./toy";

describe("mock harness", () => {
    it("records parents, dependsOn, property dependencies, options and wire-form inputs", async () => {
        const h = await installMocks({
            state: (a) => (a.type.startsWith("pulumi-nodejs:dynamic") ? { thingId: `${a.name}-thing` } : undefined),
        });
        const g = new Group("grp");
        const a = new Thing(
            "a",
            { dir: "/nonexistent", name: "alpha", size: 1, token: pulumi.secret("t0k") },
            { parent: g, additionalSecretOutputs: ["apiToken"], protect: true },
        );
        const b = new Thing(
            "b",
            { dir: "/nonexistent", name: "beta", size: 2, ref: a.thingId },
            { parent: g, dependsOn: [g], retainOnDelete: true, deleteBeforeReplace: true },
        );
        g.done({});
        expect(await outputOf(b.thingId)).toBe("b-thing");
        await settle();

        const ra = h.get("a");
        const rb = h.get("b");
        expect(ra.type).toBe("pulumi-nodejs:dynamic/toy:Thing");
        expect(ra.parent).toBe(h.get("grp").urn);
        expect(ra).toMatchObject({ protect: true, additionalSecretOutputs: ["apiToken"], custom: true });
        expect(typeof ra.inputs["__provider"]).toBe("string");
        expect(ra.inputs["token"]).toEqual({ "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: "t0k" });
        expect(rb.propertyDependencies["ref"]).toEqual([ra.urn]);
        // dependsOn a component means "on its custom descendants": the SDK sends a (b's sibling), not grp itself
        expect(rb.dependencies).toEqual([ra.urn]);
        expect(rb).toMatchObject({ retainOnDelete: true, deleteBeforeReplace: true });
        expect(h.get("grp").custom).toBe(false);
        // additionalSecretOutputs is applied by the engine (step_executor.go), not by setMocks: plain mocks leave the
        // output non-secret, the stand-in makes it secret (engine.test.ts, secrets test)
        expect(await isSecretOutput(a.apiToken)).toBe(false);
    });

    it("in a preview, outputOf gives undefined for unknowns instead of hanging", async () => {
        await installMocks({ preview: true });
        const plain = pulumi.output("x").apply((x) => x);
        const known = await outputOf(plain);
        expect(known).toBe("x");
        const computed = new Thing("c", { dir: "/nonexistent", name: "c", size: 1 });
        // the default mock returns the inputs as the state, so `thingId` (not an input) is absent: unknown in a preview
        expect(await outputOf(computed.thingId)).toBeUndefined();
    });
});
