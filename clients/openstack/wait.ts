// Every wait polls with backoff, has a timeout, and says what it is waiting for while it waits, so a
// long clone is never a silent hang (ARCHITECTURE.md "The step contract").
import { BadStateError, WaitTimeoutError } from "./errors";

export interface WaitOptions<T> {
    /** "volume 1234 (clone of web-1 root) to become available" */
    what: string;
    poll: () => Promise<T>;
    /** the state to show in progress messages and errors */
    state: (t: T) => string;
    done: (t: T) => boolean;
    /** a state the resource cannot leave by itself: stop waiting and say why */
    failed?: (t: T) => string | undefined;
    timeoutSeconds: number;
    progress?: (message: string) => void;
    /** first poll interval; doubles up to maxIntervalMs */
    intervalMs?: number;
    maxIntervalMs?: number;
}

export async function waitFor<T>(o: WaitOptions<T>): Promise<T> {
    const start = Date.now();
    let interval = o.intervalMs ?? 500;
    let lastReport = start;
    let last = "(not polled yet)";
    for (;;) {
        const t = await o.poll();
        last = o.state(t);
        if (o.done(t)) {
            const took = (Date.now() - start) / 1000;
            if (took >= 5) o.progress?.(`${o.what}: ${last} after ${took.toFixed(0)}s`);
            return t;
        }
        const fault = o.failed?.(t);
        if (fault !== undefined) throw new BadStateError(o.what, last, fault);
        const elapsed = Date.now() - start;
        if (elapsed > o.timeoutSeconds * 1000) throw new WaitTimeoutError(o.what, o.timeoutSeconds, last);
        if (Date.now() - lastReport >= 10_000) {
            lastReport = Date.now();
            o.progress?.(`still waiting for ${o.what}: ${last} after ${(elapsed / 1000).toFixed(0)}s (timeout ${o.timeoutSeconds}s)`);
        }
        await new Promise((r) => setTimeout(r, interval));
        interval = Math.min(o.maxIntervalMs ?? 5000, interval * 2);
    }
}
