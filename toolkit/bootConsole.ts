// What a Linux serial console says when a boot is over: a login prompt (the disk boots) or systemd's
// emergency mode (it does not: most often an fstab line naming a disk that is not there). One place
// for the markers, read by the recovery's BootProof step (through Nova's console log) and by the
// toolkit's own boot proof (test/repairs/boot-proof.test.ts, qemu's serial console).

/** systemd's emergency or rescue shell, with and without a root password set */
export const EMERGENCY =
    /You are in emergency mode|Cannot open access to console, the root account is locked|Give root password for maintenance/;
/** systemd's own account of what failed on the way (a device it waited for, a mount, a unit that depends on it):
 *  the cause an operator looks for, often screens above the emergency-mode lines */
export const BOOT_FAILURE = /Timed out waiting for device|Dependency failed for|\[FAILED\]|Failed to (start|mount)/;
/** agetty's prompt: `<hostname> login: ` at the start of a line */
export const LOGIN = /^\S+ login: ?$/m;

/** Whether an operator's pattern compiles (config and step inputs refuse one that does not). */
export function isRegExp(p: string): boolean {
    try {
        new RegExp(p, "m");
        return true;
    } catch {
        return false;
    }
}

export type BootOutcome = "login" | "emergency" | "booting";

export interface ConsoleVerdict {
    outcome: BootOutcome;
    /** the console lines that show it: for emergency mode, systemd's failure lines first (the cause, as systemd
     *  printed it, up to `causes` of them), then the marker's line and the lines just before it */
    evidence: string[];
}

/** Console text as a terminal shows it: no carriage returns, no colour or cursor escapes. */
export function plainConsole(text: string): string {
    return (
        text
            // CSI sequences (colours, cursor moves) and the other two-character escapes
            .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, "")
            .replace(/\x1b[@-_]/g, "")
            .replace(/\r+\n/g, "\n")
            .replace(/\r/g, "\n")
    );
}

/**
 * Where the console says the boot ended. Emergency mode wins over a login prompt that came before
 * it (a reboot into emergency mode); `login` may be replaced by the operator's own pattern (a
 * graphical or custom prompt). `before` lines of context precede the marker's line.
 */
export function readConsole(text: string, o: { login?: RegExp; before?: number; causes?: number } = {}): ConsoleVerdict {
    const lines = plainConsole(text).split("\n");
    const login = o.login ?? LOGIN;
    const before = o.before ?? 8;
    const last = (re: RegExp): number => {
        for (let n = lines.length - 1; n >= 0; n--) if (re.test(lines[n]!)) return n;
        return -1;
    };
    const emergency = last(new RegExp(EMERGENCY.source));
    const prompt = last(new RegExp(login.source, login.flags.replace(/[gy]/g, "")));
    const around = (n: number) =>
        lines
            .slice(Math.max(0, n - before), n + 1)
            .map((l) => l.trimEnd())
            .filter((l) => l.trim() !== "");
    if (emergency >= 0 && emergency >= prompt) {
        const context = Math.max(0, emergency - before);
        const causes = lines
            .slice(0, context)
            .filter((l) => BOOT_FAILURE.test(l))
            .slice(-(o.causes ?? 6))
            .map((l) => l.trim());
        return { outcome: "emergency", evidence: [...causes, ...around(emergency)] };
    }
    if (prompt >= 0) return { outcome: "login", evidence: around(prompt) };
    return {
        outcome: "booting",
        evidence: lines
            .slice(-before)
            .map((l) => l.trimEnd())
            .filter((l) => l.trim() !== ""),
    };
}
