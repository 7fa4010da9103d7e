// A TCP proxy in front of one service (Glance through clouds.yaml image_endpoint_override, an sshd) that
// breaks a transfer the way networks do: `cut` closes the connection once it has carried `at` bytes in one
// direction, `flip` inverts the byte at offset `at` of that stream. Requests are small, so only the big
// transfer's connection reaches `at`; every other connection passes untouched.
import * as net from "net";

export interface FaultProxy {
    url: string;
    /** connections that hit the fault */
    faults: () => number;
    close: () => Promise<void>;
}

/** `direction`: "up" (default) breaks what goes towards the service (an upload), "down" what comes back (a download). */
export function faultProxy(o: { targetPort: number; mode: "cut" | "flip"; at: number; direction?: "up" | "down" }): Promise<FaultProxy> {
    let faults = 0;
    const sockets = new Set<net.Socket>();
    const server = net.createServer((client) => {
        const upstream = net.connect(o.targetPort, "127.0.0.1");
        for (const s of [client, upstream]) {
            sockets.add(s);
            s.on("close", () => sockets.delete(s));
            s.on("error", () => {
                client.destroy();
                upstream.destroy();
            });
        }
        // the side whose bytes are broken, and where they go
        const [from, to] = o.direction === "down" ? [upstream, client] : [client, upstream];
        let seen = 0;
        from.on("data", (chunk: Buffer) => {
            const start = seen;
            seen += chunk.length;
            if (start <= o.at && o.at < seen) {
                faults++;
                if (o.mode === "cut") {
                    to.write(chunk.subarray(0, o.at - start), () => {
                        client.destroy();
                        upstream.destroy();
                    });
                    return;
                }
                chunk = Buffer.from(chunk);
                chunk[o.at - start]! ^= 0xff;
            }
            if (!to.write(chunk)) from.pause();
        });
        to.on("drain", () => from.resume());
        from.on("end", () => to.end());
        to.pipe(from); // the other direction passes untouched
    });
    return new Promise((resolve) =>
        server.listen(0, "127.0.0.1", () => {
            const port = (server.address() as net.AddressInfo).port;
            resolve({
                url: `http://127.0.0.1:${port}`,
                faults: () => faults,
                close: () =>
                    new Promise<void>((r) => {
                        for (const s of sockets) s.destroy();
                        server.close(() => r());
                    }),
            });
        }),
    );
}
