// The lock is never replaced: its delete is the last step of a destroy, where the leftover sweep runs, so a
// change of server or stack name is refused at preview (Check), naming the property and what to do instead.
import { impl } from "../../providers/incidentLock";

const lock = { incident: "INC1234", stack: "organization/openstack-recovery/inc1234", logicalName: "INC1234-lock", serverId: "srv-a" };

describe("IncidentLock check", () => {
    it("accepts a first create and an unchanged lock", async () => {
        expect((await impl.check({}, lock)).failures ?? []).toEqual([]);
        expect((await impl.check({ ...lock, locked: true }, lock)).failures ?? []).toEqual([]);
    });

    it("refuses to move an incident stack to another server", async () => {
        const r = await impl.check(lock, { ...lock, serverId: "srv-b" });
        expect(r.failures).toEqual([
            {
                property: "serverId",
                reason: expect.stringMatching(
                    /this stack recovers server srv-a; to recover srv-b, use a stack of its own \(`pulumi stack init`\)/,
                ),
            },
        ]);
    });

    it("refuses a renamed stack (everything it made is tagged with the old name)", async () => {
        const r = await impl.check(lock, { ...lock, stack: "organization/openstack-recovery/other" });
        expect(r.failures?.[0]).toMatchObject({
            property: "stack",
            reason: expect.stringMatching(/tagged organization\/openstack-recovery\/inc1234; rename the stack back/),
        });
    });
});
