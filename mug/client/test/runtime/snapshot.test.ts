// Pyodide memory snapshots (src/runtime/snapshot.ts): the checks that decide whether a stored
// snapshot is used, and a guard on Pyodide's private snapshot API — the installed Pyodide must be the
// version the runtime knows, and making + restoring a snapshot must work as the worker uses it.
// (The browser side: tests/runtime/test_runtime_snapshot.py.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  SNAPSHOT_PYODIDE_VERSION,
  checkSnapshotApi,
  checksum,
  snapshotKey,
  usableSnapshot,
  type StoredSnapshot,
} from "../../src/runtime/snapshot";

// npm test runs in mug/client.
const pyodideDir = join(process.cwd(), "node_modules", "pyodide");

function stored(key: string, bytes: Uint8Array, sum = checksum(bytes.buffer as ArrayBuffer)): StoredSnapshot {
  return { key, bytes: bytes.buffer as ArrayBuffer, checksum: sum, made: 0 };
}

test("a stored snapshot is used only for its key and when intact", () => {
  const key = snapshotKey("0.29.5", "http://x/static/v/abc/vendor/pyodide/");
  const bytes = Uint8Array.from({ length: 1001 }, (_, i) => (i * 7) % 256);
  assert.deepEqual(usableSnapshot(null, key), { reason: "none stored" });
  const ok = usableSnapshot(stored(key, bytes), key);
  assert.ok("bytes" in ok && ok.bytes.length === 1001);
  const other = snapshotKey("0.29.5", "http://x/static/v/def/vendor/pyodide/");
  assert.deepEqual(usableSnapshot(stored(other, bytes), key), { reason: `stale (made for ${other})` });
  const sum = checksum(bytes.buffer as ArrayBuffer);
  const damaged = bytes.slice();
  damaged[500] = (damaged[500] as number) ^ 1;
  assert.deepEqual(usableSnapshot(stored(key, damaged, sum), key), { reason: "damaged (checksum mismatch)" });
  const tail = bytes.slice();
  tail[1000] = (tail[1000] as number) ^ 1; // the bytes after the last whole word count too
  assert.notEqual(checksum(tail.buffer as ArrayBuffer), sum);
});

test("the private snapshot API is used only with the Pyodide version it was written for", () => {
  assert.equal(checkSnapshotApi({ version: SNAPSHOT_PYODIDE_VERSION }), null);
  assert.match(checkSnapshotApi({ version: "0.30.0" }) ?? "", /only used with Pyodide 0\.29\.5/);
  assert.match(checkSnapshotApi({}) ?? "", /this is undefined/);
});

test("the installed Pyodide is that version and still has the snapshot API", () => {
  const pkg = JSON.parse(readFileSync(join(pyodideDir, "package.json"), "utf8")) as { version: string };
  assert.equal(
    pkg.version,
    SNAPSHOT_PYODIDE_VERSION,
    "Pyodide was upgraded: re-check its private memory-snapshot API and update src/runtime/snapshot.ts",
  );
  const types = readFileSync(join(pyodideDir, "pyodide.d.ts"), "utf8");
  for (const name of ["_makeSnapshot?: boolean", "_loadSnapshot?:", "makeMemorySnapshot("]) assert.ok(types.includes(name), name);
});

test("a snapshot made right after the start restores an interpreter that runs Python", async () => {
  type Py = { runPython(code: string): unknown; makeMemorySnapshot(): Uint8Array };
  const module = (await import(pathToFileURL(join(pyodideDir, "pyodide.mjs")).href)) as {
    loadPyodide(options: object): Promise<Py>;
  };
  const made = await module.loadPyodide({ indexURL: `${pyodideDir}/`, _makeSnapshot: true });
  made.runPython("import sys; sys.mug_marker = 'before'");
  const bytes = made.makeMemorySnapshot();
  made.runPython("sys.mug_marker = 'after'");
  const restored = await module.loadPyodide({ indexURL: `${pyodideDir}/`, _loadSnapshot: bytes });
  assert.equal(restored.runPython("import sys; sys.mug_marker"), "before");
  assert.equal(restored.runPython("import random; random.seed(); 6 * 7"), 42);
  const other = bytes.slice();
  other[16] = (other[16] as number) ^ 0xff; // the build id Pyodide writes into the header
  await assert.rejects(module.loadPyodide({ indexURL: `${pyodideDir}/`, _loadSnapshot: other }), /build id mismatch/);
});
