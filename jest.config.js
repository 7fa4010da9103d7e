// Three groups: `fast` needs nothing but this machine (real disks, a real sshd, the real
// dynamic-provider host); `lab` needs the lab cloud (`npm run lab:up`); `bench` are benchmarks.
// ts-jest, not swc: swc changes what Pulumi's closure serializer captures (see README).
const base = {
    testEnvironment: "node",
    transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json", isolatedModules: false }] },
    moduleFileExtensions: ["ts", "js", "json"],
};
/** @type {import('jest').Config} */
module.exports = {
    projects: [
        {
            ...base,
            displayName: "fast",
            testMatch: ["<rootDir>/test/**/*.test.ts"],
            testPathIgnorePatterns: ["/node_modules/", "<rootDir>/test/lab/", "<rootDir>/test/e2e/", "<rootDir>/test/bench/"],
        },
        { ...base, displayName: "lab", testMatch: ["<rootDir>/test/lab/**/*.test.ts", "<rootDir>/test/e2e/**/*.test.ts"] },
        { ...base, displayName: "bench", testMatch: ["<rootDir>/test/bench/**/*.bench.ts"] },
    ],
    testTimeout: 120000,
};
