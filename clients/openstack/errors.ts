// Typed errors, after gophercloud's ErrResourceNotFound / ErrMultipleResourcesFound: each says what
// was asked, of which resource type, and carries the OpenStack request id so an operator can grep
// the service logs for it.

export class OpenStackError extends Error {
    constructor(message: string) {
        super(message);
        this.name = new.target.name;
    }
}

/** An HTTP error from an OpenStack API, with the request id the service assigned. */
export class ApiError extends OpenStackError {
    constructor(
        readonly service: string,
        readonly method: string,
        readonly url: string,
        readonly status: number,
        readonly requestId: string | undefined,
        readonly detail: string,
    ) {
        super(`${service} ${method} ${stripQuery(url)} -> HTTP ${status}: ${detail}${requestId ? ` (request id ${requestId})` : ""}`);
    }
}

export class NotFoundError extends ApiError {}
export class ConflictError extends ApiError {}

/** The caller named something that does not exist (a server name, a network, ...). */
export class ResourceNotFoundError extends OpenStackError {
    constructor(
        readonly resourceType: string,
        readonly nameOrId: string,
        hint = "",
    ) {
        super(`no ${resourceType} named or with id "${nameOrId}"${hint ? `: ${hint}` : ""}`);
    }
}

/** A name matched more than one resource; we refuse to pick one (gophercloud IDFromName does the same). */
export class AmbiguousNameError extends OpenStackError {
    constructor(
        readonly resourceType: string,
        readonly name: string,
        readonly ids: string[],
    ) {
        super(`${ids.length} ${resourceType}s are named "${name}" (${ids.join(", ")}): use the id instead`);
    }
}

export class WaitTimeoutError extends OpenStackError {
    constructor(
        readonly what: string,
        readonly seconds: number,
        readonly lastState: string,
    ) {
        super(`timed out after ${seconds}s waiting for ${what} (last state: ${lastState})`);
    }
}

/** A resource reached a state it cannot leave by itself (error, error_deleting, ERROR ...). */
export class BadStateError extends OpenStackError {
    constructor(
        readonly what: string,
        readonly state: string,
        readonly fault = "",
    ) {
        super(`${what} went to state ${state}${fault ? `: ${fault}` : ""}`);
    }
}

/** What to do while a cell is down: it is the cloud's to fix, and nothing here can tell its servers apart. */
export const CELL_DOWN_FIX =
    "wait until Nova reaches the cell again (check the cell's nova-conductor, database and message queue: `nova-manage cell_v2 list_cells`, `openstack compute service list`), then run again";

/**
 * Nova cannot reach the server's cell (2.69 and later answer status UNKNOWN without name, metadata,
 * addresses or volumes): whatever needs those must wait for the cell.
 */
export class CellDownError extends OpenStackError {
    constructor(readonly serverId: string) {
        super(
            `server ${serverId} is in a cell Nova cannot reach (status UNKNOWN, without its name, metadata, addresses or volumes): ${CELL_DOWN_FIX}`,
        );
    }
}

/** Credentials or endpoints are missing or wrong; the message says where we looked. */
export class AuthConfigError extends OpenStackError {}

/** A response did not have the shape we rely on. */
export class ResponseShapeError extends OpenStackError {
    constructor(
        readonly what: string,
        readonly issues: string,
        readonly requestId?: string,
    ) {
        super(`unexpected response for ${what}: ${issues}${requestId ? ` (request id ${requestId})` : ""}`);
    }
}

function stripQuery(url: string): string {
    const i = url.indexOf("?");
    return i < 0 ? url : url.slice(0, i);
}

/**
 * The call's result, or undefined when the resource is gone (HTTP 404): lookups answer "not there",
 * and deletes and detaches of something already gone succeed, so destroy can always finish.
 */
export async function unlessGone<T>(call: Promise<T>): Promise<T | undefined> {
    try {
        return await call;
    } catch (e) {
        if (e instanceof NotFoundError) return undefined;
        throw e;
    }
}
