// The layers of ARCHITECTURE.md, read from the source as a newcomer would read the import graph:
// clients -> toolkit -> providers -> recipes -> stacks, each importing only from layers below it, and
// no runbook step importing another (they share providers/ops.ts, tags.ts, step.ts instead).
import * as fs from "fs";
import * as path from "path";

const ROOT = path.resolve(__dirname, "..", "..");
const LAYERS = ["clients", "toolkit", "providers", "recipes", "stacks"] as const;

function sources(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
        const p = path.join(dir, e.name);
        return e.isDirectory() ? sources(p) : p.endsWith(".ts") && !p.endsWith(".d.ts") ? [p] : [];
    });
}

/** Every relative module a file imports: import/export ... from, require(), import(), import type. */
export function importsOf(file: string): string[] {
    const text = fs.readFileSync(file, "utf8");
    const specs = [...text.matchAll(/(?:from\s+|require\(\s*|import\(\s*|import\s+)"(\.{1,2}\/[^"]*)"/g)].map((m) => m[1]!);
    return specs.map((s) => path.resolve(path.dirname(file), s));
}

const layerOf = (file: string): number => LAYERS.findIndex((l) => path.relative(ROOT, file).split(path.sep)[0] === l);
const isStep = (file: string) =>
    layerOf(file) === LAYERS.indexOf("providers") &&
    path.dirname(file) === path.join(ROOT, "providers") &&
    /^export const impl\b/m.test(fs.readFileSync(file, "utf8"));
const resolveTs = (spec: string) => [`${spec}.ts`, path.join(spec, "index.ts")].find((f) => fs.existsSync(f)) ?? spec;

/** Every import that runs up the layers, or from one step to another, as "from -> to". */
export function violations(files: string[]): string[] {
    const out: string[] = [];
    for (const file of files) {
        for (const spec of importsOf(file)) {
            const target = resolveTs(spec);
            const [from, to] = [layerOf(file), layerOf(target)];
            const rel = `${path.relative(ROOT, file)} -> ${path.relative(ROOT, target)}`;
            if (to > from) out.push(`${rel} (up: ${LAYERS[from]} imports ${LAYERS[to]})`);
            if (to < 0 && from >= 0) out.push(`${rel} (outside the layers)`);
            if (isStep(file) && isStep(target) && file !== target) out.push(`${rel} (a step imports another step)`);
        }
    }
    return out;
}

const all = () => LAYERS.flatMap((l) => sources(path.join(ROOT, l)));

describe("layers", () => {
    it("every source file is in one of the five layers", () => {
        expect(all().length).toBeGreaterThan(20);
        for (const f of all()) expect(layerOf(f)).toBeGreaterThanOrEqual(0);
    });

    it("no import runs up the layers, and no step imports another step", () => {
        expect(violations(all())).toEqual([]);
    });

    it("the check sees an import that runs up, in each form, and a step that imports a step", () => {
        const tmp = fs.mkdtempSync(path.join(ROOT, "providers", ".layers-"));
        try {
            const bad = path.join(tmp, "..", `${path.basename(tmp)}-bad.ts`);
            fs.writeFileSync(
                bad,
                [
                    'import { main } from "../stacks/program";',
                    'const r = require("../recipes/registry");',
                    'type T = typeof import("../recipes/recipe");',
                    'import { impl as other } from "./volumeClone";',
                    "export const impl = { r, main, other };",
                    "export type U = T;",
                ].join("\n"),
            );
            try {
                expect(violations([bad]).map((v) => v.replace(/^\S+ /, ""))).toEqual([
                    "-> stacks/program.ts (up: providers imports stacks)",
                    "-> recipes/registry.ts (up: providers imports recipes)",
                    "-> recipes/recipe.ts (up: providers imports recipes)",
                    "-> providers/volumeClone.ts (a step imports another step)",
                ]);
            } finally {
                fs.rmSync(bad);
            }
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });
});
