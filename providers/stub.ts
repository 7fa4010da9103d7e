// The only code Pulumi serializes into state for our resources (after SST's rpc.Provider): it knows
// the name of its step and nothing else. Each method loads today's implementation from
// providers/<step>.ts when it runs, so `destroy` and `refresh` run the current code rather than the
// code frozen into state, and no credential, client or schema is ever captured in `__provider`.
//
// Keep this file free of imports: everything the methods use is required inside them.
import type * as pulumi from "@pulumi/pulumi";

/** The contract of a step implementation (providers/<step>.ts exports it as `impl`). */
export interface StepImplementation {
    check(olds: Record<string, unknown>, news: Record<string, unknown>): Promise<pulumi.dynamic.CheckResult>;
    diff(id: string, olds: Record<string, unknown>, news: Record<string, unknown>): Promise<pulumi.dynamic.DiffResult>;
    create(inputs: Record<string, unknown>, env: StepEnvironment): Promise<pulumi.dynamic.CreateResult>;
    read(id: string, props: Record<string, unknown>, env: StepEnvironment): Promise<pulumi.dynamic.ReadResult>;
    update(id: string, olds: Record<string, unknown>, news: Record<string, unknown>, env: StepEnvironment): Promise<pulumi.dynamic.UpdateResult>;
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
 * Load providers/<step>.ts from the project this stack runs in. The engine starts the provider
 * host in the project directory; OPENSTACK_RECOVERY_HOME overrides that. The host is plain node,
 * so TypeScript is compiled on load with the project's typescript through ts-node (the project's,
 * or the copy vendored in @pulumi/pulumi, which is what `pulumi` itself falls back to).
 */
function loadStep(step: string): StepImplementation {
    const path = require("path");
    const fs = require("fs");
    let root: string | undefined = process.env.OPENSTACK_RECOVERY_HOME;
    for (let dir = process.cwd(); !root; dir = path.dirname(dir)) {
        const pkg = path.join(dir, "package.json");
        if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, "utf8")).name === "openstack-recovery") root = dir;
        else if (path.dirname(dir) === dir) throw new Error(`cannot find the openstack-recovery project above ${process.cwd()}: set OPENSTACK_RECOVERY_HOME`);
    }
    const file = path.join(root, "providers", `${step}.ts`);
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
    const mod = require(file);
    if (!mod.impl) throw new Error(`${file} does not export the implementation of step ${step}`);
    return mod.impl as StepImplementation;
}
