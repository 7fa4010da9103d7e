// One step's create then delete in a process of its own, for the transfer benchmark: the step's own peak
// RSS is this process's. Plain node on the compiled package (dist/, `npm run build:lib`), as an installed
// package's provider host runs it: no TypeScript compiler in memory to blur the figure.
//   node test/bench/step-run.js <step> '<inputs as JSON>'
// Prints one JSON line: { seconds (create), maxRssMiB, outputs }. Credentials: OS_CLOUD + clouds.yaml.
const path = require("path");

async function main() {
    const [step, inputs] = process.argv.slice(2);
    if (!step || !inputs) throw new Error("usage: step-run.js <step> <inputs JSON>");
    const { impl } = require(path.join(__dirname, "..", "..", "dist", "providers", `${step}.js`));
    const env = { config: () => undefined };
    const t0 = process.hrtime.bigint();
    const made = await impl.create(JSON.parse(inputs), env);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await impl.delete(made.id, made.outs || {}, env);
    // maxRSS is in KiB
    process.stdout.write(`${JSON.stringify({ seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024, outputs: made.outs })}\n`);
    process.exit(0);
}

main().catch((e) => {
    process.stderr.write(`${(e && e.stack) || String(e)}\n`);
    process.exit(1);
});
