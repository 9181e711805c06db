// Pyodide memory snapshots, kept in the browser's IndexedDB (docs/runtime.md, "Memory snapshot").
//
// A snapshot is the wasm memory of a freshly started interpreter (plus Pyodide's table of the JS
// objects Python refers to). Starting from one skips Python's own start-up: ~0.2 s instead of ~1.2 s.
// The worker makes one on a load without it and keeps it here; the next load of the same origin
// starts from it.
//
// UNDOCUMENTED API: `_makeSnapshot`, `_loadSnapshot` (loadPyodide options) and
// `pyodide.makeMemorySnapshot()` are private to Pyodide. They are used only because package.json pins
// Pyodide exactly (0.29.5); checkSnapshotApi() refuses any other version or a missing method, which
// makes the browser tests that expect a snapshot fail (tests/runtime/test_runtime_snapshot.py) instead
// of warm starts silently getting slow. Re-check the API when upgrading Pyodide.
//
// IndexedDB rather than Cache Storage: it exists in pages that are not a secure context too (a lab
// server reached over plain http on a LAN). One record per origin: a new snapshot replaces the old.

/** The Pyodide version whose private snapshot API this file was written against. */
export const SNAPSHOT_PYODIDE_VERSION = "0.29.5";
/** Bump when what goes into a snapshot changes (the loadPyodide options, when it is taken). */
export const SNAPSHOT_FORMAT = 1;

const DB_NAME = "mug-runtime";
const STORE = "snapshots";
const RECORD = "pyodide";

export interface StoredSnapshot {
  /** What the snapshot was made for (snapshotKey()); another key means it is stale. */
  key: string;
  bytes: ArrayBuffer;
  /** checksum(bytes) when stored: a record damaged since is not restored. */
  checksum: number;
  /** Wall-clock ms when made. */
  made: number;
}

/** What a snapshot must match: our format, Pyodide's version and where its files come from (the
 * URL names the client build when versioned). Pyodide itself also refuses another build's snapshot. */
export function snapshotKey(pyodideVersion: string, indexURL: string): string {
  return `format ${SNAPSHOT_FORMAT}; pyodide ${pyodideVersion}; ${indexURL}`;
}

/** Why the private snapshot API cannot be used with this Pyodide, or null if it can. */
export function checkSnapshotApi(module: { version?: unknown }): string | null {
  if (module.version !== SNAPSHOT_PYODIDE_VERSION) {
    return `memory snapshots are only used with Pyodide ${SNAPSHOT_PYODIDE_VERSION} (their API is private), this is ${String(module.version)}`;
  }
  return null;
}

/** A fast 32-bit FNV-1a-style hash of the bytes, word by word (~7 ms for 21 MB). */
export function checksum(bytes: ArrayBuffer): number {
  const words = new Uint32Array(bytes, 0, bytes.byteLength >>> 2);
  let h = 0x811c9dc5 ^ bytes.byteLength;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ (words[i] as number), 16777619);
  const tail = new Uint8Array(bytes, words.length * 4);
  for (const b of tail) h = Math.imul(h ^ b, 16777619);
  return h >>> 0;
}

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error("IndexedDB request failed"));
  });
}

function openDb(): Promise<IDBDatabase> {
  if (typeof indexedDB === "undefined") return Promise.reject(new Error("IndexedDB is not available"));
  const req = indexedDB.open(DB_NAME, 1);
  req.onupgradeneeded = () => req.result.createObjectStore(STORE);
  return request(req);
}

async function withStore<T>(mode: IDBTransactionMode, fn: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await openDb();
  try {
    const tx = db.transaction(STORE, mode);
    const result = await request(fn(tx.objectStore(STORE)));
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction failed"));
    });
    return result;
  } finally {
    db.close();
  }
}

/** The stored snapshot, or null. */
export async function readSnapshot(): Promise<StoredSnapshot | null> {
  const found = (await withStore("readonly", (s) => s.get(RECORD))) as StoredSnapshot | undefined;
  return found ?? null;
}

/** Store a record as is (replacing any other). */
export async function putSnapshot(record: StoredSnapshot): Promise<void> {
  await withStore("readwrite", (s) => s.put(record, RECORD));
}

/** Store a snapshot (replacing any other). */
export async function writeSnapshot(key: string, bytes: Uint8Array): Promise<void> {
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  const buffer = (whole ? bytes.buffer : bytes.slice().buffer) as ArrayBuffer;
  await putSnapshot({ key, bytes: buffer, checksum: checksum(buffer), made: Date.now() });
}

/** Forget the stored snapshot. */
export async function deleteSnapshot(): Promise<void> {
  await withStore("readwrite", (s) => s.delete(RECORD));
}

/** The stored snapshot's bytes if it was made for `key` and is intact; otherwise why not. */
export function usableSnapshot(stored: StoredSnapshot | null, key: string): { bytes: Uint8Array } | { reason: string } {
  if (!stored) return { reason: "none stored" };
  if (stored.key !== key) return { reason: `stale (made for ${stored.key})` };
  if (!(stored.bytes instanceof ArrayBuffer) || checksum(stored.bytes) !== stored.checksum) return { reason: "damaged (checksum mismatch)" };
  return { bytes: new Uint8Array(stored.bytes) };
}
