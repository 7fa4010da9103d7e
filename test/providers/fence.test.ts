// Fencing under the engine's parallel steps (pkg/resource/deploy/step_executor.go): with two ports kept,
// two ReservedPorts stop the same broken server at once. Nova accepts os-stop only with no task under
// way (compute/api.py check_instance_state: vm_state active or error, task_state None) and answers 409
// otherwise; played here by a fake Nova whose power-off takes a while.
import { fenceServer, stopAndWait } from "../../providers/ops";
import { fakeCloudSession } from "../support/fakeCloud";

/** One server as Nova's API shows it; a task sets task_state and ends in `then` after `ms`. */
class FakeServer {
    vmState = "active";
    taskState: string | null = null;
    accepted = 0;
    refused: string[] = [];
    /** the second stop passed the API's check and lost the race in the database (as seen on the lab) */
    racesInDb = false;

    view() {
        const status = this.vmState === "stopped" ? "SHUTOFF" : this.vmState === "error" ? "ERROR" : "ACTIVE";
        return {
            server: {
                id: "s1",
                name: "web-1",
                status,
                "OS-EXT-STS:vm_state": this.vmState,
                "OS-EXT-STS:task_state": this.taskState,
                flavor: {},
            },
        };
    }

    task(name: string, ms: number, then: () => void): void {
        this.taskState = name;
        setTimeout(() => {
            then();
            this.taskState = null;
        }, ms).unref();
    }

    /** os-stop as nova-api answers it (common.raise_http_conflict_for_instance_invalid_state) */
    stop(): { status: number; body?: unknown } {
        const conflict = (attr: string, state: string) => {
            this.refused.push(`${attr} ${state}`);
            return { status: 409, body: { conflictingRequest: { message: `Cannot 'stop' instance s1 while it is in ${attr} ${state}` } } };
        };
        if (this.taskState && this.racesInDb) {
            // compute/api.py stop: instance.save(expected_task_state=[None]) raises UnexpectedTaskStateError,
            // which the os-stop handler does not map to a 409
            this.refused.push("500 UnexpectedTaskStateError");
            return {
                status: 500,
                body: {
                    computeFault: {
                        code: 500,
                        message:
                            "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.\n<class 'nova.exception.UnexpectedTaskStateError'>",
                    },
                },
            };
        }
        if (this.taskState) return conflict("task_state", this.taskState);
        if (this.vmState !== "active" && this.vmState !== "error") return conflict("vm_state", this.vmState);
        this.accepted++;
        this.task("powering-off", 700, () => (this.vmState = "stopped"));
        return { status: 202 };
    }
}

describe("fenceServer", () => {
    const { cloud, session } = fakeCloudSession();
    let server: FakeServer;
    beforeEach(() => {
        server = new FakeServer();
        cloud.routes = (req, body) => {
            if (req.url === "/compute/v2.1/servers/s1" && req.method === "GET") return { status: 200, body: server.view() };
            if (req.url === "/compute/v2.1/servers/s1/action" && "os-stop" in JSON.parse(body)) return server.stop();
            return { status: 404, body: { itemNotFound: { message: "no route" } } };
        };
    });

    it("two steps of one provider host fencing one server at once: one stop call, the second fence only sees it stopped", async () => {
        // the engine runs both ReservedPorts of web-1 at once in the one provider host: queued there,
        // the second never calls stop (Nova can accept a second stop that read the server before the
        // first ended: two stop actions, seen on the lab as `server event list` with two stops)
        const fence = () => fenceServer(session(), "s1", 30, () => undefined);
        await expect(Promise.all([fence(), fence()])).resolves.toEqual([true, true]);
        expect(server.accepted).toBe(1);
        expect(server.refused).toEqual([]);
        expect(server.view().server.status).toBe("SHUTOFF");
    });

    it("two fences from different processes at once: one stop, the other waits for it, both see it stopped", async () => {
        const fence = () => stopAndWait(session(), "s1", 30, () => undefined);
        await expect(Promise.all([fence(), fence()])).resolves.toEqual([true, true]);
        expect(server.accepted).toBe(1);
        expect(server.view().server.status).toBe("SHUTOFF");
        // both looked before either asked: the second stop was refused for the first one's task
        expect(server.refused).toEqual(["task_state powering-off"]);
    });

    it("a second stop that loses Nova's race in the database (HTTP 500 UnexpectedTaskStateError) waits for the first", async () => {
        server.racesInDb = true;
        const fence = () => stopAndWait(session(), "s1", 30, () => undefined);
        await expect(Promise.all([fence(), fence()])).resolves.toEqual([true, true]);
        expect(server.accepted).toBe(1);
        expect(server.refused).toEqual(["500 UnexpectedTaskStateError"]);
        expect(server.view().server.status).toBe("SHUTOFF");
    });

    it("a stop already under way is waited for, not asked again", async () => {
        server.task("powering-off", 700, () => (server.vmState = "stopped"));
        await expect(fenceServer(session(), "s1", 30, () => undefined)).resolves.toBe(true);
        expect(server.accepted).toBe(0);
        expect(server.refused).toEqual([]);
        expect(server.view().server.status).toBe("SHUTOFF");
    });

    it("another task under way (a reboot) is waited for, then the server is stopped", async () => {
        server.task("rebooting", 700, () => undefined);
        await expect(fenceServer(session(), "s1", 30, () => undefined)).resolves.toBe(true);
        expect(server.accepted).toBe(1);
        expect(server.view().server.status).toBe("SHUTOFF");
    });

    it("gives up at the timeout, naming the server and its state", async () => {
        server.task("rebooting", 60_000, () => undefined);
        await expect(fenceServer(session(), "s1", 1, () => undefined)).rejects.toThrow(
            /timed out after 1s waiting for server web-1 to stop \(last state: ACTIVE\/rebooting\)/,
        );
    });
});
