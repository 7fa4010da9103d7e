// The backend's snapshot manager: every step is journalled as it begins and as it ends, and the checkpoint on
// disk is rebuilt and written after each entry, so a killed `pulumi up` leaves exactly what had finished plus
// the operations under way as `pending_operations` (pkg/engine/journal_snapshot.go: Begin records the intent,
// End records success or failure; pkg/backend/journal.go JournalReplayer rebuilds the snapshot from them).
// Rules mirrored:
// - a new snapshot starts from the base one, pending operations included (journal_snapshot.go Write: "Copy the
//   pending operations from the base snapshot"): only `pulumi refresh` clears them;
// - resources this operation produced come first, in the order they finished, then base resources it has not
//   replaced, deleted or re-recorded (JournalReplayer: new resources, then the snapshot's remaining ones);
// - a create-before-delete replacement marks the old resource `delete: true` until its delete step runs; a
//   delete-before-replace marks it `pendingReplacement: true` until the replacement exists.
import * as fs from "fs";
import * as path from "path";
import { type PendingOperation, type ResourceState, type StackState, writeState } from "./state";

export type OpType = PendingOperation["type"];

interface Entry {
    seq: number;
    kind: "begin" | "success" | "failure" | "same" | "mark";
    op?: OpType;
    urn: string;
}

export class Journal {
    private seq = 0;
    /** base resources still in the snapshot (by object identity); marks are applied to copies */
    private readonly base: ResourceState[];
    private readonly marks = new Map<ResourceState, Partial<ResourceState>>();
    private readonly removed = new Set<ResourceState>();
    private readonly news: ResourceState[] = [];
    private readonly inflight = new Map<number, PendingOperation>();
    private basePending: PendingOperation[];

    constructor(
        private readonly state: StackState,
        /** null for a preview: nothing is written */
        private readonly file: string | null,
        private readonly passphrase: string | undefined,
    ) {
        this.base = [...state.resources];
        this.basePending = [...state.pendingOperations];
    }

    /** Begin an operation: recorded as pending until it ends. Returns its id. */
    begin(op: OpType, resource: ResourceState): number {
        const id = ++this.seq;
        this.inflight.set(id, { type: op, resource });
        this.persist({ seq: id, kind: "begin", op, urn: resource.urn });
        return id;
    }

    /** End an operation: `result` is the resource to record (or undefined: nothing new), `retire` the base
     *  resource it supersedes or deletes. */
    end(id: number, ok: boolean, result: ResourceState | undefined, retire?: ResourceState): void {
        const op = this.inflight.get(id);
        this.inflight.delete(id);
        if (result) this.news.push(result);
        if (retire) this.retire(retire);
        this.persist({ seq: id, kind: ok ? "success" : "failure", op: op?.type, urn: op?.resource.urn ?? "" });
    }

    /** A same step: the resource is re-recorded with its new inputs (step.go SameStep.Apply). */
    same(result: ResourceState, old: ResourceState): void {
        this.news.push(result);
        this.retire(old);
        this.persist({ seq: ++this.seq, kind: "same", urn: result.urn });
    }

    /** Mark a resource (base or new) `delete` or `pendingReplacement`. */
    mark(r: ResourceState, fields: Partial<Pick<ResourceState, "delete" | "pendingReplacement">>): void {
        const i = this.news.indexOf(r);
        const b = this.base.includes(r) ? r : this.base.find((x) => x.urn === r.urn && x.id === r.id);
        if (i >= 0) this.news[i] = { ...r, ...fields };
        else if (b) this.marks.set(b, { ...this.marks.get(b), ...fields });
        this.persist({ seq: ++this.seq, kind: "mark", urn: r.urn });
    }

    /** Record a resource that was produced without an operation (a component, the root stack, a default provider). */
    record(r: ResourceState, old?: ResourceState): void {
        const i = this.news.findIndex((x) => x.urn === r.urn && !x.delete);
        if (i >= 0) this.news[i] = r;
        else this.news.push(r);
        if (old) this.retire(old);
        this.persist({ seq: ++this.seq, kind: "same", urn: r.urn });
    }

    /** Replace a resource where it stands (a refresh keeps the snapshot's order: step.go RefreshStep). */
    replace(old: ResourceState, fresh: ResourceState): void {
        const i = this.news.indexOf(old);
        if (i >= 0) this.news[i] = fresh;
        else this.marks.set(old, { ...fresh });
        this.persist({ seq: ++this.seq, kind: "same", urn: fresh.urn });
    }

    /** Remove a recorded new resource (a condemned replacement half that was deleted at the end). */
    drop(r: ResourceState): void {
        const i = this.news.indexOf(r);
        if (i >= 0) this.news.splice(i, 1);
        else this.retire(r);
        this.persist({ seq: ++this.seq, kind: "mark", urn: r.urn });
    }

    /** refresh --clear-pending-creates / --import-pending-creates rewrite the base's pending operations. */
    setBasePending(ops: PendingOperation[]): void {
        this.basePending = ops;
    }

    /** Write the snapshot as it stands (after a change of the base's pending operations). */
    flush(): void {
        this.persist({ seq: ++this.seq, kind: "mark", urn: "" });
    }

    /** Take `r` out of the snapshot: the base resource it is (or a copy of, by URN and id), or a new one. */
    private retire(r: ResourceState): void {
        const inBase = this.base.includes(r)
            ? r
            : this.base.find(
                  (b) => !this.removed.has(b) && b.urn === r.urn && b.id === r.id && (this.marks.get(b)?.delete ?? b.delete) === r.delete,
              );
        if (inBase) {
            this.removed.add(inBase);
            return;
        }
        let i = this.news.indexOf(r);
        if (i < 0) i = this.news.findIndex((n) => n.urn === r.urn && n.id === r.id && n.delete === r.delete);
        if (i >= 0) this.news.splice(i, 1);
    }

    /** The snapshot as it stands now. */
    snapshot(): StackState {
        const remaining = this.base
            .filter((r) => !this.removed.has(r))
            .map((r) => (this.marks.has(r) ? { ...r, ...this.marks.get(r) } : r));
        return {
            ...this.state,
            resources: [...this.news, ...remaining],
            pendingOperations: [...this.basePending, ...this.inflight.values()],
        };
    }

    /** The newest recorded state of a URN (new before base), for outputs shown after a run. */
    find(urn: string): ResourceState | undefined {
        return this.snapshot().resources.find((r) => r.urn === urn && !r.delete);
    }

    private persist(e: Entry): void {
        if (!this.file) return;
        fs.mkdirSync(path.dirname(this.file), { recursive: true });
        fs.appendFileSync(`${this.file}.journal.jsonl`, JSON.stringify({ ...e, time: new Date().toISOString() }) + "\n");
        writeState(this.file, this.snapshot(), this.passphrase);
    }
}
