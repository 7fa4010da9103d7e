#!/usr/bin/env node
// `npm run build:lib` (and `npm pack` through prepack): the library build into dist/.
//  - compiled JavaScript and .d.ts of index.ts, clients/, toolkit/, providers/, recipes/, stacks/ (tsconfig.build.json);
//  - the repair toolkit's scripts, which toolkit/index.ts reads at run time from beside
//    itself (driver.sh, driver/<job>.sh, actions/<name>.sh), copied beside the compiled module.
const { execFileSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const dist = path.join(root, "dist");
fs.rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve("typescript/bin/tsc", { paths: [root] }), "-p", path.join(root, "tsconfig.build.json")], {
    stdio: "inherit",
});

const from = path.join(root, "toolkit");
const to = path.join(dist, "toolkit");
fs.cpSync(from, to, {
    recursive: true,
    filter: (src) => fs.statSync(src).isDirectory() || src.endsWith(".sh") || path.basename(src) === "README.md",
});
// every driver part the compiled module inlines (its own list, so a new part cannot be left out)
const { DRIVER_PARTS } = require(path.join(to, "index.js"));
const missing = DRIVER_PARTS.filter((p) => !fs.existsSync(path.join(to, p)));
if (!DRIVER_PARTS.length || missing.length)
    throw new Error(`build-lib: ${to}: driver scripts missing: ${missing.join(", ") || "DRIVER_PARTS is empty"}`);
console.error(`build-lib: ${path.relative(root, dist)}/ ready`);
