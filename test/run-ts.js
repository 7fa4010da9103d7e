#!/usr/bin/env node
// Run a TypeScript file of this project with plain node (no Pulumi CLI, no jest): registers the
// project's TypeScript through ts-node (the project's own, or the copy vendored in @pulumi/pulumi,
// as `pulumi` itself does). Usage: node test/run-ts.js <file.ts> [args...]
const path = require("path");
const root = path.resolve(__dirname, "..");
let tsnode;
try {
    tsnode = require.resolve("ts-node", { paths: [root] });
} catch {
    tsnode = path.join(path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [root] })), "vendor", "ts-node@7.0.1");
}
require(tsnode).register({
    transpileOnly: true,
    compiler: require.resolve("typescript", { paths: [root] }),
    skipProject: true,
    compilerOptions: { module: "commonjs", target: "es2022", esModuleInterop: true, useDefineForClassFields: false },
});
const file = path.resolve(process.argv[2]);
process.argv.splice(1, 2, file);
require(file);
