// Relative paths in the stack config and the credentials are relative to the directory of Pulumi.yaml.
// The CLI runs the program and the provider host with the program directory (stacks/, Pulumi.yaml
// `main`) as their working directory, which no operator expects a path to be relative to.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** The nearest directory at or above `cwd` that holds a Pulumi.yaml; `cwd` itself when there is none. */
export function projectRoot(cwd: string = process.cwd()): string {
    for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
        if (fs.existsSync(path.join(dir, "Pulumi.yaml")) || fs.existsSync(path.join(dir, "Pulumi.yml"))) return dir;
        if (path.dirname(dir) === dir) return path.resolve(cwd);
    }
}

/** An absolute path: `~/` is the home directory, a relative path is relative to the project root. */
export function fromProjectRoot(file: string, cwd?: string): string {
    if (file === "~" || file.startsWith("~/")) return path.join(os.homedir(), file.slice(1));
    return path.isAbsolute(file) ? file : path.join(projectRoot(cwd), file);
}
