// The tag contract: what the stack lets go of is exactly its own keys, and a chain's things are
// told apart by the source tag.
import { ofChain, recoveryTags, withoutRecoveryTags } from "../../providers/tags";

const t = { incident: "INC1", stack: "org/p/s", logicalName: "INC1-web-1-port-0", source: "srv-a" };

describe("tags", () => {
    it("untagging removes the contract's keys and keeps an operator's own recovery-* tags", () => {
        const tags = ["team=db", "recovery-window=sunday", "plain", ...recoveryTags(t)];
        expect(withoutRecoveryTags(tags)).toEqual(["team=db", "recovery-window=sunday", "plain"]);
    });

    it("a chain owns what this stack tagged for its source server only", () => {
        const meta = { "recovery-stack": "org/p/s", "recovery-source": "srv-a" };
        expect(ofChain(meta, "org/p/s", "srv-a")).toBe(true);
        expect(ofChain(meta, "org/p/s", "srv-b")).toBe(false);
        expect(ofChain(meta, "org/p/other", "srv-a")).toBe(false);
    });
});
