// The only code Pulumi serializes into state for our resources (after SST's rpc.Provider): it knows
// the name of its step and nothing else. Each method loads today's implementation when it runs, so
// `destroy` and `refresh` run the current code rather than the code frozen into state, and no
// credential, client or schema is ever captured in `__provider`.
//
// Keep this file free of imports: everything the methods use is required inside them.
//
// THE STATE CONTRACT (README "Upgrades and the state contract"). Every stack's state holds this
// class and loadStep() below as they were when the resource was last written, and the provider
// host runs that frozen copy, not this file. So whatever any released loadStep looks for must stay
// where it looks, in every later version:
//  - the step names (`new StepProvider("<step>")`: incidentLock, volumeClone, helperAttachment,
//    diskRepair, reservedPort, replacementServer; leftoverSweep since 0.2, bootProof, imageUpload, ephemeralDiskCopy, diskFlatten and serverSnapshot after it) and, for each, a module exporting `impl` (a
//    StepImplementation) at
//      <root>/providers/<step>.ts        in a checkout (loaded through ts-node), and
//      <root>/dist/providers/<step>.js   in the installed package (compiled by `npm run build:lib`);
//  - <root> is a directory whose package.json is named "openstack-recovery". The loadStep of 0.1.0
//    (up to commit 5e4e6fb; test/providers/fixtures/provider-0.1.0.json) finds it only as
//    OPENSTACK_RECOVERY_HOME or by walking up from the provider host's cwd, and loads only
//    providers/<step>.ts; this one also finds the package installed in the program's node_modules
//    (require.resolve("openstack-recovery/package.json") from the cwd, so package.json must stay in
//    `exports`), and takes dist/providers/<step>.js when the root has no source.
// Renaming a step, moving providers/ or dist/providers/, or dropping `impl` breaks `destroy` of
// every stack made before; add a new step name instead, and keep the old file as a re-export.
import type * as pulumi from "@pulumi/pulumi";

/** The contract of a step implementation (providers/<step>.ts exports it as `impl`). */
export interface StepImplementation {
    check(olds: Record<string, unknown>, news: Record<string, unknown>): Promise<pulumi.dynamic.CheckResult>;
    diff(id: string, olds: Record<string, unknown>, news: Record<string, unknown>): Promise<pulumi.dynamic.DiffResult>;
    create(inputs: Record<string, unknown>, env: StepEnvironment): Promise<pulumi.dynamic.CreateResult>;
    read(id: string, props: Record<string, unknown>, env: StepEnvironment): Promise<pulumi.dynamic.ReadResult>;
    update(
        id: string,
        olds: Record<string, unknown>,
        news: Record<string, unknown>,
        env: StepEnvironment,
    ): Promise<pulumi.dynamic.UpdateResult>;
    delete(id: string, props: Record<string, unknown>, env: StepEnvironment): Promise<void>;
}

/** What a step gets at call time: stack config (credentials live there or in OS_* / clouds.yaml). */
export interface StepEnvironment {
    config: (key: string) => string | undefined;
}

export class StepProvider implements pulumi.dynamic.ResourceProvider {
    private config: (key: string) => string | undefined = () => undefined;

    constructor(private readonly step: string) {}

    /** The engine hands dynamic providers the whole stack config here (pulumi/pulumi#17229, #17697). */
    async configure(req: pulumi.dynamic.ConfigureRequest): Promise<void> {
        this.config = (key: string) => req.config.get(key);
    }

    async check(olds: Record<string, unknown>, news: Record<string, unknown>): Promise<pulumi.dynamic.CheckResult> {
        return loadStep(this.step).check(olds, news);
    }

    async diff(id: string, olds: Record<string, unknown>, news: Record<string, unknown>): Promise<pulumi.dynamic.DiffResult> {
        return loadStep(this.step).diff(id, olds, news);
    }

    async create(inputs: Record<string, unknown>): Promise<pulumi.dynamic.CreateResult> {
        try {
            return await loadStep(this.step).create(inputs, { config: this.config });
        } catch (e) {
            // A half-made resource is reported with its id so the engine records it (and destroy can
            // delete it); its properties must carry __provider or that delete could not find us.
            const err = e as { id?: string; properties?: Record<string, unknown> };
            if (err && err.id) err.properties = { ...err.properties, __provider: inputs.__provider };
            throw e;
        }
    }

    async read(id: string, props: Record<string, unknown>): Promise<pulumi.dynamic.ReadResult> {
        return loadStep(this.step).read(id, props, { config: this.config });
    }

    async update(id: string, olds: Record<string, unknown>, news: Record<string, unknown>): Promise<pulumi.dynamic.UpdateResult> {
        return loadStep(this.step).update(id, olds, news, { config: this.config });
    }

    async delete(id: string, props: Record<string, unknown>): Promise<void> {
        return loadStep(this.step).delete(id, props, { config: this.config });
    }
}

/**
 * Load the implementation of a step (frozen into state with the class above: see the contract at
 * the top). Where from, first found:
 *  1. OPENSTACK_RECOVERY_HOME, when set (a checkout or an installed package): there or nowhere;
 *  2. the package installed for the program: require.resolve from the provider host's cwd (the
 *     engine starts the host in the program's directory), i.e. the program's node_modules;
 *  3. a checkout of this repository around the cwd: the nearest directory above it whose
 *     package.json is named openstack-recovery.
 * In a root, providers/<step>.ts (a checkout: today's source, compiled on load with the project's
 * typescript through ts-node, the project's or the copy vendored in @pulumi/pulumi, which is what
 * `pulumi` itself falls back to) wins over dist/providers/<step>.js (the installed package, which
 * ships no .ts), so a stale build never shadows the source.
 */
function loadStep(step: string): StepImplementation {
    const path = require("path");
    const fs = require("fs");
    const named = (dir: string): boolean => {
        try {
            return JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")).name === "openstack-recovery";
        } catch {
            return false;
        }
    };
    const roots: string[] = [];
    if (process.env.OPENSTACK_RECOVERY_HOME) roots.push(path.resolve(process.env.OPENSTACK_RECOVERY_HOME));
    else {
        try {
            roots.push(path.dirname(require.resolve("openstack-recovery/package.json", { paths: [process.cwd()] })));
        } catch {
            // not installed for this program
        }
        for (let dir = process.cwd(); ; dir = path.dirname(dir)) {
            if (named(dir)) {
                roots.push(dir);
                break;
            }
            if (path.dirname(dir) === dir) break;
        }
    }
    const tried: string[] = [];
    for (const root of roots) {
        const source = path.join(root, "providers", `${step}.ts`);
        const compiled = path.join(root, "dist", "providers", `${step}.js`);
        let file: string;
        if (fs.existsSync(source)) {
            file = source;
            if (!require.extensions[".ts"]) {
                const from = { paths: [root] };
                let tsnode: string;
                try {
                    tsnode = require.resolve("ts-node", from);
                } catch {
                    tsnode = path.join(path.dirname(require.resolve("@pulumi/pulumi/package.json", from)), "vendor", "ts-node@7.0.1");
                }
                require(tsnode).register({
                    transpileOnly: true,
                    compiler: require.resolve("typescript", from),
                    skipProject: true,
                    compilerOptions: { module: "commonjs", target: "es2022", esModuleInterop: true, useDefineForClassFields: false },
                });
            }
        } else if (fs.existsSync(compiled)) file = compiled;
        else {
            tried.push(source, compiled);
            continue;
        }
        const mod = require(file);
        if (!mod.impl) throw new Error(`${file} does not export the implementation of step ${step}`);
        return mod.impl as StepImplementation;
    }
    throw new Error(
        `cannot find step ${step} of openstack-recovery from ${process.cwd()}` +
            (tried.length ? ` (looked for ${tried.join(", ")})` : "") +
            ": install openstack-recovery in the program's node_modules, or set OPENSTACK_RECOVERY_HOME to a checkout or an installed copy",
    );
}
