// The rehearsal's arguments (`npm run demo -- [--recipe NAME] [SERVER | --host HOST]`), parsed without a cloud.
import { DemoArgsError, demoTarget, demoUsage, parseDemoArgs } from "../support/demoArgs";
import { RECIPES } from "../../recipes/registry";

const STRATEGIES = RECIPES.map((r) => r.strategy);
const parse = (...argv: string[]) => parseDemoArgs(argv, STRATEGIES);
const target = (...argv: string[]) => demoTarget(parse(...argv), STRATEGIES);
const known = ["auto", ...STRATEGIES].join(", ");

/** The DemoArgsError the arguments give (fails the test when they give none). */
function refusal(f: () => unknown): DemoArgsError {
    try {
        f();
    } catch (e) {
        expect(e).toBeInstanceOf(DemoArgsError);
        return e as DemoArgsError;
    }
    throw new Error("accepted");
}

describe("npm run demo's arguments", () => {
    it("none: web-1 with recipe auto, today's rehearsal", () => {
        expect(parse()).toEqual({ recipe: "auto", server: "web-1" });
        expect(target()).toEqual({ server: "web-1", recipe: "auto" });
    });

    it("--recipe volume-backed web-1, in either order and as --recipe=NAME", () => {
        expect(STRATEGIES).toContain("volume-backed");
        expect(target("--recipe", "volume-backed", "web-1")).toEqual({ server: "web-1", recipe: "volume-backed" });
        expect(target("web-1", "--recipe=volume-backed")).toEqual({ server: "web-1", recipe: "volume-backed" });
        expect(target("eph-1")).toEqual({ server: "eph-1", recipe: "auto" }); // the stack's preview decides
    });

    it("an unknown recipe is refused, naming it and listing the known ones", () => {
        const e = refusal(() => parse("--recipe", "nope", "web-1"));
        expect(e.message).toMatch(/^unknown recipe "nope" \(--recipe nope\)/);
        expect(e.message).toContain(`recipes: ${known}`);
        expect(e.exitCode).toBe(2);
        expect(refusal(() => parse("--recipe")).message).toMatch(/^--recipe needs a NAME/);
        expect(refusal(() => parse("--recipe", "--host", "h")).message).toMatch(/^--recipe needs a NAME/);
    });

    it("SERVER with --host is refused", () => {
        expect(refusal(() => parse("web-1", "--host", "h")).message).toMatch(/^SERVER "web-1" and --host h: give one or the other/);
        expect(refusal(() => parse("--host=h", "eph-1")).message).toMatch(/^SERVER "eph-1" and --host h/);
        expect(refusal(() => parse("web-1", "eph-1")).message).toMatch(/^one SERVER at a time \(got "web-1" and "eph-1"\)/);
    });

    it("--host h parses, and is refused as not built: no recipe of this version recovers a whole host", () => {
        expect(parse("--host", "h")).toEqual({ recipe: "auto", host: "h" });
        const e = refusal(() => target("--host", "h"));
        expect(e.message).toMatch(new RegExp(`^no recipe of this version recovers a whole host \\(--host h\\); recipes: ${known}`));
        expect(e.exitCode).toBe(2);
        expect(refusal(() => target("--recipe", "volume-backed", "--host", "h")).message).toMatch(/whole host \(--host h\)/);
    });

    it("an unknown flag is refused, naming it", () => {
        const e = refusal(() => parse("--recipes", "volume-backed"));
        expect(e.message).toMatch(/^unknown option "--recipes"/);
        expect(e.message).toContain(`recipes: ${known}`);
        expect(refusal(() => parse("-x")).message).toMatch(/^unknown option "-x"/);
    });

    it("--help asks for the usage, which lists every recipe", () => {
        expect(parse("web-1", "--help")).toMatchObject({ help: true });
        expect(parse("-h")).toMatchObject({ help: true });
        const usage = demoUsage(STRATEGIES, Object.fromEntries(RECIPES.map((r) => [r.strategy, r.summary])));
        expect(usage).toMatch(/^usage: npm run demo -- \[--recipe NAME\] \[SERVER \| --host HOST\]/);
        for (const r of RECIPES) expect(usage).toContain(`  ${r.strategy.padEnd(16)}${r.summary}`);
        expect(usage).toMatch(/^ {2}auto {12}\(default\)/m);
    });
});
