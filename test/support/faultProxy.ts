// A TCP proxy in front of one service (Glance, through clouds.yaml image_endpoint_override) that breaks
// the upload the way networks do: `cut` closes the connection once it has carried `at` bytes towards the
// service, `flip` inverts the byte at offset `at` of that stream. Requests are small, so only the upload's
// connection reaches `at`; every other connection passes untouched.
import * as net from "net";

export interface FaultProxy {
    url: string;
    /** connections that hit the fault */
    faults: () => number;
    close: () => Promise<void>;
}

export function faultProxy(o: { targetPort: number; mode: "cut" | "flip"; at: number }): Promise<FaultProxy> {
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
        let seen = 0;
        client.on("data", (chunk: Buffer) => {
            const start = seen;
            seen += chunk.length;
            if (start <= o.at && o.at < seen) {
                faults++;
                if (o.mode === "cut") {
                    upstream.write(chunk.subarray(0, o.at - start), () => {
                        client.destroy();
                        upstream.destroy();
                    });
                    return;
                }
                chunk = Buffer.from(chunk);
                chunk[o.at - start]! ^= 0xff;
            }
            if (!upstream.write(chunk)) client.pause();
        });
        upstream.on("drain", () => client.resume());
        upstream.pipe(client);
        client.on("end", () => upstream.end());
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
