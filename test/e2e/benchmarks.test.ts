// Every benchmark under test/bench/ runs, on a small size (the full sizes are `npm run bench`, outside the
// suite): each is started as `npm run bench` starts it, and must pass and print its table.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { REPO, requireLab } from "../support/lab";

jest.setTimeout(20 * 60_000);

const BENCHES = fs.readdirSync(path.join(REPO, "test", "bench")).filter((f) => f.endsWith(".bench.ts"));

describe("the benchmarks run on a small size", () => {
    beforeAll(() => requireLab());

    it("there is one for each transfer and for the inspection", () => {
        expect(BENCHES.sort()).toEqual(["inspect.bench.ts", "transfer.bench.ts"]);
    });

    it.each(BENCHES)("%s", (bench) => {
        const r = spawnSync("npx", ["jest", "--selectProjects", "bench", "--runInBand", path.join("test", "bench", bench)], {
            cwd: REPO,
            // 32 MiB transfers: the code paths of the full run, in seconds
            env: { ...process.env, BENCH_GIB: "0.03125" },
            encoding: "utf8",
            timeout: 15 * 60_000,
        });
        expect([r.status, r.stderr.slice(-2000)]).toEqual([0, expect.stringMatching(/Tests:\s+1 passed/)]);
        expect(r.stdout + r.stderr).toMatch(/\d+\.\d+x\b/); // its figures, with the ratio
    });
});
