// The recipe registry as the program and the README see it: every recipe's config section is in the
// README's table for it, keys do not clash between recipes in meaning, and the choice of recipe
// follows what discovery found (or what the config forces) with a reason an operator can read.
import * as fs from "fs";
import * as path from "path";
import type { ServerFacts } from "../../recipes/recipe";
import { RECIPES } from "../../recipes/registry";
import { chooseRecipe } from "../../stacks/discover";

const README = fs.readFileSync(path.join(__dirname, "..", "..", "README.md"), "utf8");

const facts = (volumeBacked: boolean): ServerFacts =>
    ({
        broken: { id: "s1", name: "web-9", image: volumeBacked ? "" : { id: "img-1" } },
        volumeBacked,
        rootVolume: volumeBacked ? { id: "v-root" } : undefined,
        dataVolumes: [],
        ports: [],
    }) as unknown as ServerFacts;

describe("the recipe registry", () => {
    it.each(RECIPES.map((r) => [r.strategy, r] as const))("the README documents every key of strategy %s", (strategy, recipe) => {
        const section = new RegExp(`#### strategy \`${strategy}\`[^\\n]*\\n([\\s\\S]*?)(?=\\n#{2,4} |$)`).exec(README)?.[1];
        expect(section).toBeDefined();
        for (const key of Object.keys(recipe.section.shape)) expect([key, section]).toEqual([key, expect.stringContaining(`| \`${key}`)]);
    });

    it("strategies are unique", () => {
        expect(new Set(RECIPES.map((r) => r.strategy)).size).toBe(RECIPES.length);
    });

    it("auto chooses the first recipe that fits, and says why", () => {
        expect(chooseRecipe("auto", facts(true))).toMatchObject({
            recipe: { strategy: "volume-backed" },
            why: "strategy auto chose volume-backed: web-9 boots from volume v-root",
        });
    });

    it("auto chooses ephemeral for a server booted from an image onto local disk, and says why", () => {
        expect(chooseRecipe("auto", facts(false))).toMatchObject({
            recipe: { strategy: "ephemeral" },
            why: "strategy auto chose ephemeral: web-9 boots from image img-1 onto its compute host's local disk",
        });
    });

    it("a forced recipe that does not fit is refused, with the fix", () => {
        expect(() => chooseRecipe("volume-backed", facts(false))).toThrow(/not volume-backed[\s\S]*fix: pulumi config set strategy auto/);
        expect(() => chooseRecipe("ephemeral", facts(true))).toThrow(
            /boots from volume v-root, not from a local disk[\s\S]*fix: pulumi config set strategy auto/,
        );
    });
});
