// The page's outbox: records made in the browser (steps, episodes, events of client-side games)
// are kept in IndexedDB with a sequence number, sent in batches, and dropped only when the server
// acknowledges it committed them. After a reconnect or a reload the rest is sent again; the
// server's writes are idempotent on (participant, source, seq), so nothing is lost and nothing
// doubles. `source` is a random id made once per browser storage: a participant who continues in
// another browser numbers from 0 again, and without it the server took those records for resends
// of the first browser's and dropped them.

import { RequestError } from "./connection";

export interface OutboxRecord {
  seq: number;
  kind: "step" | "episode" | "event"; // what the server takes from a page (mug/server/sessions/intake.py)
  payload: Record<string, unknown>;
}

/** Sends a batch from `source`; resolves with the seqs the server committed and those it refused for good. */
export type SendBatch = (
  source: string,
  records: OutboxRecord[],
) => Promise<{ committed: number[]; refused: number[] }>;

const DB_NAME = "mug-outbox";
const SEND_INTERVAL_MS = 250;
const BATCH_LIMIT = 400;
const BATCH_BYTES = 256 * 1024; // well under the server's 1 MB limit for one batch

export class Outbox {
  private readonly unsent: OutboxRecord[] = [];
  private nextSeq = 0;
  private sending: Promise<void> | null = null;
  private timer: number | null = null;
  private writes: Promise<void> = Promise.resolve();
  private pausedUntil = 0; // the server asked to wait (its quota for this participant)
  /** The source of records this page could not keep in IndexedDB: this page's alone (see `add`). */
  private readonly volatile = newSource();
  private volatileSeq = 0;
  /** Which source each unsent record is numbered under (the browser storage's, or `volatile`). */
  private readonly sourceOf = new WeakMap<OutboxRecord, string>();
  acked = 0;
  refused = 0;

  private constructor(
    private readonly participantId: string,
    private readonly db: IDBDatabase | null,
    private readonly send: SendBatch,
    private source: string,
  ) {}

  /** Opens the participant's outbox and loads what an earlier page left unsent. */
  static async open(participantId: string, send: SendBatch): Promise<Outbox> {
    let db: IDBDatabase | null = null;
    try {
      db = await openDb();
    } catch (err) {
      console.warn("mug: IndexedDB is not available; records are kept in memory only", err);
    }
    const box = new Outbox(participantId, db, send, newSource());
    if (db) {
      const [records, meta] = await Promise.all([
        request<OutboxRecord[]>(
          db.transaction("records").objectStore("records").index("participant").getAll(participantId),
        ),
        request<{ nextSeq: number; source?: string } | undefined>(
          db.transaction("meta").objectStore("meta").get(participantId),
        ),
      ]);
      records.sort((a, b) => a.seq - b.seq);
      box.unsent.push(...records.map(({ seq, kind, payload }) => ({ seq, kind, payload })));
      box.nextSeq = Math.max(meta?.nextSeq ?? 0, (records.at(-1)?.seq ?? -1) + 1);
      // Records numbered in this storage keep its source; a storage without one (new, or from an
      // older build) gets the fresh one, saved with the numbering before any record is sent.
      if (meta?.source) box.source = meta.source;
      else {
        const source = box.source;
        const nextSeq = box.nextSeq;
        box.writes = transaction(db, ["meta"], (tx) => {
          tx.objectStore("meta").put({ participant: participantId, nextSeq, source });
        }).catch((err) => console.warn("mug: could not persist the outbox's id", err));
      }
    }
    box.timer = window.setInterval(() => void box.flushSome(), SEND_INTERVAL_MS);
    return box;
  }

  get pending(): number {
    return this.unsent.length;
  }

  /** Keeps a record (persisted before it is ever sent) and sends it with the next batch. */
  add(kind: OutboxRecord["kind"], payload: Record<string, unknown>): void {
    const record: OutboxRecord = { seq: this.nextSeq++, kind, payload };
    this.unsent.push(record);
    this.sourceOf.set(record, this.source);
    const db = this.db;
    if (!db) return; // (no storage: this page's source is its own, so its numbers are never reused)
    const nextSeq = this.nextSeq;
    const source = this.source;
    // Sending waits for this write: a record the server sees is in IndexedDB, and so is the
    // numbering past it, so a later page of this browser never numbers another record the same.
    // A record that could not be kept (the page closing mid-write, storage full) is numbered anew
    // under this page's own source instead: its storage number may be used again by a later page.
    this.writes = this.writes.then(() =>
      transaction(db, ["records", "meta"], (tx) => {
        tx.objectStore("records").put({ ...record, participant: this.participantId });
        tx.objectStore("meta").put({ participant: this.participantId, nextSeq, source });
      }).catch((err) => {
        console.warn("mug: could not persist a record; it is sent from this page's memory", err);
        record.seq = this.volatileSeq++;
        this.sourceOf.set(record, this.volatile);
      }),
    );
  }

  /** Sends until nothing is pending or the server stops answering; resolves when done. */
  async flush(timeoutMs = 10_000): Promise<void> {
    const until = performance.now() + timeoutMs;
    while (this.unsent.length > 0 && performance.now() < until) {
      const before = this.unsent.length;
      // A send waits while the page is offline; stop waiting at the deadline (records stay queued).
      const left = until - performance.now();
      await Promise.race([this.flushSome(), new Promise((r) => setTimeout(r, left))]);
      if (this.unsent.length >= before) await new Promise((r) => setTimeout(r, SEND_INTERVAL_MS));
    }
  }

  /** One batch at a time; a failed batch stays pending and goes again later. */
  flushSome(): Promise<void> {
    if (this.sending || this.unsent.length === 0) return this.sending ?? Promise.resolve();
    if (performance.now() < this.pausedUntil) return Promise.resolve();
    this.sending = (async () => {
      await this.writes; // a record is in IndexedDB before the server may see it
      // A batch holds records of one source: the first unsent record's.
      const source = this.sourceOf.get(this.unsent[0]!) ?? this.source;
      const batch: OutboxRecord[] = [];
      let bytes = 0;
      for (const record of this.unsent) {
        if (batch.length >= BATCH_LIMIT) break;
        if ((this.sourceOf.get(record) ?? this.source) !== source) continue;
        bytes += JSON.stringify(record).length;
        if (batch.length > 0 && bytes > BATCH_BYTES) break;
        batch.push(record);
      }
      try {
        const reply = await this.send(source, batch);
        if (reply.refused.length) {
          // The server recorded why; resending would only be refused again.
          console.warn(`mug: the server refused records ${reply.refused.join(", ")}`);
          this.refused += reply.refused.length;
        }
        this.drop(source, new Set([...reply.committed, ...reply.refused]), reply.committed.length);
      } catch (err) {
        // offline or refused: keep everything and try again on the next tick, or when the server says
        const retry = err instanceof RequestError ? Number(err.reply?.retry_after_s ?? 0) : 0;
        if (retry > 0) this.pausedUntil = performance.now() + retry * 1000;
      }
    })().finally(() => {
      this.sending = null;
    });
    return this.sending;
  }

  private drop(source: string, done: Set<number>, committed: number): void {
    if (done.size === 0) return;
    for (let i = this.unsent.length - 1; i >= 0; i--) {
      const record = this.unsent[i]!;
      if ((this.sourceOf.get(record) ?? this.source) === source && done.has(record.seq)) this.unsent.splice(i, 1);
    }
    this.acked += committed;
    const db = this.db;
    if (!db || source === this.volatile) return;
    const participant = this.participantId;
    this.writes = this.writes.then(() =>
      transaction(db, ["records"], (tx) => {
        const store = tx.objectStore("records");
        for (const seq of done) store.delete([participant, seq]);
      }).catch((err) => console.warn("mug: could not drop acknowledged records", err)),
    );
  }

  close(): void {
    if (this.timer !== null) window.clearInterval(this.timer);
    this.timer = null;
  }
}

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(DB_NAME, 1);
    open.onupgradeneeded = () => {
      const db = open.result;
      const records = db.createObjectStore("records", { keyPath: ["participant", "seq"] });
      records.createIndex("participant", "participant");
      db.createObjectStore("meta", { keyPath: "participant" });
    };
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(open.error);
  });
}

function request<T>(req: IDBRequest): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result as T);
    req.onerror = () => reject(req.error);
  });
}

function transaction(db: IDBDatabase, stores: string[], work: (tx: IDBTransaction) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(stores, "readwrite");
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
    work(tx);
  });
}

/** A random id for the records this browser storage numbers (see the top of this file). */
function newSource(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
